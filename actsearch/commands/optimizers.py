"""``actsearch optimizers``: every optimiser and the options it takes.

    actsearch optimizers [--format text|json]

The options are read from each optimiser's signature and docstring
(:func:`~actsearch.optimizers.registry.optimizer_options`): what
``--optimizer-option KEY=VALUE`` accepts, with defaults.
"""

from __future__ import annotations

import inspect
import json
import re

__all__ = ["register", "run"]


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "optimizers",
        help="list the optimisers and their options",
        description="List every optimiser (actsearch search --optimizer NAME) with the options it takes "
        "(--optimizer-option KEY=VALUE), their defaults and what they do.",
    )
    p.add_argument("--format", choices=("text", "json"), default="text", help="output format (default text)")
    p.set_defaults(func=run)


def _plain(text: str) -> str:
    """Docstring markup as plain text: ``x`` and :func:`x` -> x."""
    return re.sub(r":\w+:`~?([^`]+)`", r"\1", text).replace("``", "")


def _default(value) -> str:
    if isinstance(value, (tuple, list)):
        return ",".join(map(str, value))
    return "-" if value is None else str(value)


def run(args) -> int:
    from actsearch.optimizers.registry import OPTIMIZERS, optimizer_options

    listing = []
    for name in OPTIMIZERS.names():
        doc = inspect.getdoc(OPTIMIZERS.load(name)) or ""
        options = [{"name": o.name, "default": _default(o.default), "help": _plain(o.help)}
                   for o in optimizer_options(name)]
        listing.append({"name": name, "summary": _plain(doc.splitlines()[0] if doc else ""), "options": options})
    if args.format == "json":
        print(json.dumps(listing, indent=2))
        return 0
    print("optimizers (actsearch search --optimizer NAME --optimizer-option KEY=VALUE):")
    for entry in listing:
        print(f"  {entry['name']:<12} {entry['summary']}")
        if not entry["options"]:
            print(f"      {'(no options)'}")
        width = max((len(o["name"]) + len(o["default"]) + 1 for o in entry["options"]), default=0)
        for o in entry["options"]:
            print(f"      {(o['name'] + '=' + o['default']):<{width}}  {o['help']}")
    return 0
