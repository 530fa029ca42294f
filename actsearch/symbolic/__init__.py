"""The symbolic core: candidates as sympy expressions, and everything that reads the function table.

- :mod:`~actsearch.symbolic.expr`: :class:`~actsearch.symbolic.expr.Candidate`,
  :func:`~actsearch.symbolic.expr.parse` and the probe inputs of fingerprints;
- :mod:`~actsearch.symbolic.parser`: the restricted parser (no ``eval``, no ``sympify``
  of user text);
- :mod:`~actsearch.symbolic.functions`: the function table, one row per function;
- :mod:`~actsearch.symbolic.text`: canonical text and the base printer of the table;
- :mod:`~actsearch.symbolic.torch_eval`, :mod:`~actsearch.symbolic.torch_source`: an
  expression as a torch closure, and as torch source for exported modules;
- :mod:`~actsearch.symbolic.module`: :class:`~actsearch.symbolic.module.CandidateModule`,
  the eager ``nn.Module`` every kernel is checked against.

Nothing here imports the compiler, the store, the search or the tasks
(``tests/test_layering.py`` checks it).
"""
