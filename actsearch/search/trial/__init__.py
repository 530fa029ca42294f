"""What runs a trial, free of Ray: the typed messages that cross the trial boundary
(:mod:`~actsearch.search.trial.messages`), :func:`~actsearch.search.trial.evaluate.evaluate`
(one candidate trained on its seeds) and the supervisor that runs it in a child process
it can kill (:mod:`~actsearch.search.trial.supervisor`).  ``tests/test_layering.py``
checks that nothing here imports Ray or :mod:`actsearch.search.ray`.
"""
