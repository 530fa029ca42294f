"""``check_space``: does a search space keep the contract optimisers and searches rely on?

Checked on a few seeds:

1. it has a ``name`` and the methods ``sample``, ``mutate``, ``crossover``,
   ``contains``; ``sample`` returns :class:`~actsearch.Candidate` s labelled with
   the space's name that it ``contains``, and that come back equal, and still
   contained, from their canonical text (what the store keeps);
2. ``mutate`` and ``crossover`` stay inside the space, also when a parent comes
   from elsewhere (a reference such as relu, which a search tells every optimiser
   about), and a mutation changes something;
3. the same seed gives the same candidates; other seeds give others;
4. every candidate's eager module keeps the input's shape and gives gradients,
   finite ones on a standard normal input unless ``finite=False``;
5. a ``finite`` space enumerates distinct members of itself.

Example:
    >>> import actsearch
    >>> from actsearch.testing import check_space
    >>> check_space(actsearch.space("polynomial", kind="polyrelu"))
"""

from __future__ import annotations

import itertools

import numpy as np
import torch

from actsearch.registry import preset
from actsearch.symbolic.expr import Candidate, parse

from ._common import Checker

__all__ = ["check_space"]


def check_space(space, *, seeds=(0, 1), n: int = 4, finite: bool = True, enumerate_limit: int = 64) -> None:
    """Raise ``AssertionError`` naming the space and the check that fails.

    Args:
        space: a search space instance (e.g. ``actsearch.space("rational")``).
        seeds: the seeds of the generators the checks draw with.
        n: candidates sampled per seed (each also mutated and crossed).
        finite: expect finite outputs and gradients (``False`` for spaces whose
            candidates may have poles, e.g. a grammar with ``div``).
        enumerate_limit: members of a finite space checked (its enumeration may be long).
    """
    name = getattr(space, "name", "")
    chk = Checker(f"search space {name or type(space).__name__!r}")
    chk.expect(isinstance(name, str) and bool(name), f"has no name (got {name!r})")
    for method in ("sample", "mutate", "crossover", "contains"):
        chk.expect(callable(getattr(space, method, None)), f"has no method {method}()")

    drawn = {seed: _draw(chk, space, seed, n) for seed in seeds}
    for seed, groups in drawn.items():
        for what, candidates in zip(("sample", "mutate", "crossover"), groups):
            for c in candidates:
                chk.expect(isinstance(c, Candidate), f"{what}() returned a {type(c).__name__}, not a Candidate")
                _check_member(chk, space, c, f"{what}() (seed {seed})")
        again = _draw(chk, space, seed, n)
        chk.expect(_texts(again) == _texts(groups), f"seed {seed} gave other candidates the second time")
        samples, mutants, _ = groups
        chk.expect(any(m != c for m, c in zip(mutants, samples)),
                   f"mutate() returned its parent unchanged for all {n} samples of seed {seed}")
    if len(seeds) > 1:
        firsts = {tuple(_texts(groups)[0]) for groups in drawn.values()}
        chk.expect(len(firsts) > 1, f"seeds {list(seeds)} all sampled the same candidates")
    _check_foreign_parents(chk, space, seeds[0])
    for c in itertools.chain.from_iterable(drawn[seeds[0]]):
        _check_module(chk, c, finite)
    if getattr(space, "finite", False):
        _check_enumerate(chk, space, enumerate_limit)


def _draw(chk: Checker, space, seed: int, n: int):
    rng = np.random.default_rng(seed)
    samples = [chk.call("sample()", space.sample, rng) for _ in range(n)]
    mutants = [chk.call(f"mutate({c.text!r})", space.mutate, c, rng) for c in samples]
    children = [chk.call(f"crossover({a.text!r}, {b.text!r})", space.crossover, a, b, rng)
                for a, b in zip(samples, samples[::-1])]
    return samples, mutants, children


def _texts(groups) -> list[list[str]]:
    return [[c.text for c in group] for group in groups]


def _check_member(chk: Checker, space, c, what: str) -> None:
    families = set(getattr(space, "names", ()) or (space.name,))  # a union's candidates carry their family's name
    chk.expect(c.family in families,
               f"{what} gave {c.text!r} of family {c.family!r}, not {' or '.join(sorted(families))!r}")
    chk.expect(bool(space.contains(c)), f"{what} gave {c.text!r}, which contains() rejects")
    back = chk.call(f"parse({c.text!r})", parse, c.text, family=c.family)
    chk.expect(back == c and dict(back.params) == dict(c.params), f"{c.text!r} does not parse back to itself")
    chk.expect(bool(space.contains(back)), f"{c.text!r} parsed back from its text is no longer contained")


def _check_foreign_parents(chk: Checker, space, seed: int) -> None:
    relu = preset("relu")
    if space.contains(relu):
        return
    rng = np.random.default_rng(seed)
    member = space.sample(rng)
    for what, child in (("mutate(relu)", chk.call("mutate(relu)", space.mutate, relu, rng)),
                        ("crossover(relu, member)", chk.call("crossover(relu, ...)", space.crossover, relu, member, rng)),
                        ("crossover(member, relu)", chk.call("crossover(..., relu)", space.crossover, member, relu, rng))):
        chk.expect(bool(space.contains(child)), f"{what} gave {child.text!r}, outside the space")


def _check_module(chk: Checker, c, finite: bool) -> None:
    m = chk.call(f"{c.text!r}.module()", c.module, torch.float64)
    x = torch.randn(4, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(0), requires_grad=True)
    y = chk.call(f"the module of {c.text!r}", m, x)
    chk.expect(tuple(y.shape) == (4, 16), f"the module of {c.text!r} turned shape (4, 16) into {tuple(y.shape)}")
    y.square().mean().backward()
    missing = [k for k, p in m.named_parameters() if p.grad is None]
    chk.expect(x.grad is not None and not missing, f"{c.text!r}: no gradient for the input or {missing}")
    if finite:
        grads = [x.grad] + [p.grad for p in m.parameters()]
        chk.expect(bool(torch.isfinite(y).all()) and all(bool(torch.isfinite(g).all()) for g in grads),
                   f"{c.text!r} gives non-finite outputs or gradients on a standard normal input "
                   "(pass finite=False if that is by design)")


def _check_enumerate(chk: Checker, space, limit: int) -> None:
    members = list(itertools.islice(chk.call("enumerate()", space.enumerate), limit))
    chk.expect(bool(members), "is finite but enumerate() yields nothing")
    fingerprints = [c.fingerprint() for c in members]
    chk.expect(len(set(fingerprints)) == len(members), "enumerate() yields the same function twice")
    for c in members:
        chk.expect(bool(space.contains(c)), f"enumerate() yields {c.text!r}, which contains() rejects")
