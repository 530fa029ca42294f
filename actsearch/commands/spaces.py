"""``actsearch spaces`` and ``actsearch sample``: what can be searched, and examples of it.

    actsearch spaces [--format text|json]
    actsearch sample --space NAME [-n N] [--seed S] [--format text|json] [--space-option KEY=VALUE ...]

Example:
    >>> parse_option("degrees=5,4"), parse_option("version=B")
    (('degrees', (5, 4)), ('version', 'B'))
"""

from __future__ import annotations

import argparse
import json
import re
import sys

from actsearch.errors import ActsearchError
from actsearch.registry import did_you_mean, preset, presets, space, space_class, spaces

__all__ = ["register", "parse_option", "run_spaces", "run_sample"]

_INT = re.compile(r"[+-]?\d+$")
_FLOAT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


class OptionError(ActsearchError, ValueError):
    """A ``--space-option`` that is not ``KEY=VALUE`` or names no option of the space."""


def _value(text: str):
    text = text.strip()
    if _INT.match(text):
        return int(text)
    if _FLOAT.match(text):
        return float(text)
    return text


def parse_option(text: str) -> tuple[str, object]:
    """``"degrees=5,4"`` -> ``("degrees", (5, 4))``; numbers become int/float, lists tuples."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or not raw.strip():
        raise OptionError(f"option {text!r} must look like KEY=VALUE (e.g. version=A)")
    if "," in raw:
        return key, tuple(_value(part) for part in raw.split(",") if part.strip())
    return key, _value(raw)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "spaces",
        help="list search spaces (with their options) and presets",
        description="List the search spaces with their options, and the named presets with their formulas.",
    )
    p.add_argument("--format", choices=("text", "json"), default="text", help="output format (default text)")
    p.set_defaults(func=run_spaces)

    s = subparsers.add_parser(
        "sample",
        help="print random candidates from a search space",
        description="Print N candidates drawn from a search space with a seeded generator "
        "(the same seed prints the same candidates).",
    )
    s.add_argument("--space", required=True, metavar="NAME", help="search space (see `actsearch spaces`)")
    s.add_argument("-n", type=int, default=5, help="how many candidates (default 5)")
    s.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    s.add_argument("--format", choices=("text", "json"), default="text", help="output format (default text)")
    s.add_argument(
        "--space-option", dest="option", action="append", default=[], metavar="KEY=VALUE",
        help="a space option, repeatable, e.g. --space-option version=B --space-option degrees=4,3 "
        "(as actsearch search takes it)",
    )
    # the name this option had before it was the same as search's: still accepted, not listed
    s.add_argument("--option", dest="option", action="append", help=argparse.SUPPRESS)
    s.set_defaults(func=run_sample)


def _space_class(name: str):
    return space_class(name)


def _summary(cls) -> str:
    return (cls.__doc__ or "").strip().splitlines()[0]


def run_spaces(args) -> int:
    listing = {
        "spaces": [
            {"name": n, "summary": _summary(_space_class(n)), "options": dict(getattr(_space_class(n), "option_help", {}))}
            for n in spaces()
        ],
        "presets": [
            {"name": n, "description": d, "text": preset(n).text} for n, d in presets().items()
        ],
    }
    if args.format == "json":
        print(json.dumps(listing, indent=2))
        return 0
    print("search spaces (actsearch sample --space NAME --space-option KEY=VALUE):")
    for entry in listing["spaces"]:
        print(f"  {entry['name']:<12} {entry['summary']}")
        for key, help_ in entry["options"].items():
            print(f"      {key:<10} {help_}")
    print()
    print("presets (actsearch.preset(NAME)):")
    for entry in listing["presets"]:
        print(f"  {entry['name']:<20} {entry['description']}")
        print(f"  {'':<20} {entry['text']}")
    return 0


def run_sample(args) -> int:
    import numpy as np


    if args.n < 0:
        raise OptionError(f"-n must be 0 or more, got {args.n}")
    options = dict(parse_option(o) for o in args.option)
    if args.space in spaces():
        known = getattr(_space_class(args.space), "option_help", {})
        unknown = sorted(o for o in set(options) - set(known) if "." not in o)
        if unknown:
            raise OptionError(
                f"space {args.space!r} has no option {unknown[0]!r}; its options are: {', '.join(known)}"
                f"{did_you_mean(unknown[0], known)}"
            )
    sp = space(args.space, **options)  # an unknown space name raises UnknownNameError here
    rng = np.random.default_rng(args.seed)
    # distinct functions, as a search would train them (it never trains one twice)
    candidates, seen = [], set()
    for _ in range(50 * args.n):
        if len(candidates) >= args.n:
            break
        c = sp.sample(rng)
        if c.fingerprint() not in seen:
            seen.add(c.fingerprint())
            candidates.append(c)
    if len(candidates) < args.n:
        print(f"actsearch sample: {args.space} gave {len(candidates)} distinct functions in {50 * args.n} draws "
              f"(asked for {args.n}); with these options it holds no more, or few",
              file=sys.stderr)
    if args.format == "json":
        rows = [
            {**c.to_dict(), "params": dict(c.params), "elementwise": c.elementwise} for c in candidates
        ]
        print(json.dumps(rows, indent=2))
    else:
        for c in candidates:
            print(c.text)
    return 0
