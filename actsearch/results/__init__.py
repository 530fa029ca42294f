"""What users read from a search, all from the store alone.

- :mod:`~actsearch.results.leaderboard`: ranked tables of a search's candidates
  and their failures (statistics in :mod:`~actsearch.results.statistics`, the
  printed forms in :mod:`~actsearch.results.tables`);
- :mod:`~actsearch.results.plots`: pictures of a candidate, its derivative and its
  learning curves;
- :mod:`~actsearch.results.report`: a self-contained HTML page of a search;
- :mod:`~actsearch.results.export`: a winner as a standalone ``.py`` module;
- :mod:`~actsearch.results.names`: what users type to name a candidate (a preset, a
  stored run ``SEARCH:NUMBER``, formula text) -> the candidate;
- :mod:`~actsearch.results.files`: files written whole or not at all.
"""
