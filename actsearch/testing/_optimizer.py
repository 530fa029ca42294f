"""``check_optimizer``: does an optimiser keep the contract the search driver relies on?

The driver asks, trains, and tells the result of every candidate: the optimiser's
own proposals (repeats included: it is told the recorded result again), failed
ones, and candidates it never proposed (the references and the user's
candidates, trained first, possibly from outside its space).  It saves the
optimiser's state with every record and restores it on ``--resume``.  Checked,
with deterministic synthetic scores (every fourth a failure):

1. ``factory(space, seed=seed)`` builds an optimiser with ``ask``, ``tell``,
   ``state_dict`` and ``load_state_dict``;
2. ``ask()`` returns candidates inside ``space`` (``None`` only once it has nothing
   left to propose, and not before two proposals);
3. ``tell`` accepts ok and failed results, a repeat, and a candidate it never asked;
4. the same seed gives the same proposals for the same results;
5. ``state_dict()`` is JSON-serialisable, and a fresh optimiser that loads it
   proposes what the original proposes next, also with candidates asked but not yet
   told when the state was saved (told after the restore, as a resumed search does).

Example:
    >>> from actsearch.optimizers.random import RandomSearch
    >>> from actsearch.testing import check_optimizer
    >>> check_optimizer(RandomSearch)
"""

from __future__ import annotations

import actsearch
from actsearch.registry import preset
from actsearch.result import Result
from actsearch.symbolic.expr import Candidate

from ._common import Checker

__all__ = ["check_optimizer", "default_space", "synthetic_result"]


def default_space():
    """A small finite space: binary(unary(x), unary(x)) over a handful of operators."""
    return actsearch.space("grammar", unary="identity,relu,tanh,sigmoid,abs,square", binary="safe", shapes=1)


def synthetic_result(candidate, index: int = 0):
    """A deterministic :class:`~actsearch.result.Result` for ``candidate``: a score in
    [0, 1) read from its fingerprint, and a failure for every fourth ``index``."""
    base = dict(key=candidate.key, text=candidate.text, family=candidate.family, fingerprint=candidate.fingerprint())
    if index % 4 == 3:
        return Result(**base, status="error", message="synthetic failure")
    return Result(**base, score=int(base["fingerprint"][:8], 16) / 2**32)


def check_optimizer(factory, *, space=None, seed: int = 0, steps: int = 10) -> None:
    """Raise ``AssertionError`` naming the optimiser and the check that fails.

    Args:
        factory: an optimiser class, or any ``factory(space, seed=...)`` returning one.
        space: the space to search (default: :func:`default_space`).
        seed: the seed of the optimisers made.
        steps: ask/tell rounds before the state is saved.
    """
    space = default_space() if space is None else space
    label = getattr(factory, "name", "") or getattr(factory, "__name__", "") or repr(factory)
    chk = Checker(f"optimizer {label!r}")

    def make(s):
        opt = chk.call(f"factory(space, seed={s})", factory, space, seed=s)
        for method in ("ask", "tell", "state_dict", "load_state_dict"):
            chk.expect(callable(getattr(opt, method, None)), f"has no method {method}()")
        return opt

    first = make(seed)
    # a search tells the references first: candidates the optimiser never asked, maybe from elsewhere
    for i, name in enumerate(("relu", "silu")):
        ref = preset(name)
        chk.call(f"tell({ref.text!r}) of a candidate it never asked", first.tell, ref, synthetic_result(ref, i))
    asked = _run(chk, space, first, steps)
    chk.expect(len(asked) >= 2, f"ask() returned None after {len(asked)} proposal(s)")
    again = make(seed)
    for i, name in enumerate(("relu", "silu")):
        again.tell(preset(name), synthetic_result(preset(name), i))
    chk.expect([c.text for c in _run(chk, space, again, steps)] == [c.text for c in asked],
               f"seed {seed} gave other proposals the second time")
    if asked:  # the driver tells a repeat the result it recorded
        chk.call("tell() of a repeated candidate", first.tell, asked[0], synthetic_result(asked[0], 0))
    _check_round_trip(chk, space, first, make, seed)


def _run(chk: Checker, space, opt, steps: int, start: int = 0) -> list:
    asked = []
    for i in range(start, start + steps):
        c = chk.call("ask()", opt.ask)
        if c is None:
            break
        chk.expect(isinstance(c, Candidate), f"ask() returned a {type(c).__name__}, not a Candidate")
        chk.expect(bool(space.contains(c)), f"ask() returned {c.text!r}, outside the space")
        chk.call(f"tell({c.text!r})", opt.tell, c, synthetic_result(c, i))
        asked.append(c)
    return asked


def _check_round_trip(chk: Checker, space, opt, make, seed: int) -> None:
    pending = [c for c in (chk.call("ask()", opt.ask) for _ in range(2)) if c is not None]
    state = chk.json_safe(chk.call("state_dict()", opt.state_dict), "state_dict()")
    restored = make(seed)
    chk.call("load_state_dict(state_dict())", restored.load_state_dict, state)
    for i, c in enumerate(pending):  # in flight when the state was saved: told after the restore
        opt.tell(c, synthetic_result(c, i))
        chk.call(f"tell({c.text!r}) after load_state_dict", restored.tell, c, synthetic_result(c, i))
    for step in range(3):
        a, b = opt.ask(), chk.call("ask() after load_state_dict", restored.ask)
        chk.expect((a and a.text) == (b and b.text),
                   f"after load_state_dict, proposal {step + 1} is {b and b.text!r}, the original's {a and a.text!r}")
        if a is None:
            break
        opt.tell(a, synthetic_result(a, step))
        restored.tell(b, synthetic_result(b, step))
