"""One module per ``actsearch`` subcommand; see :mod:`actsearch.cli`."""


def parse_options(items: list[str], flag: str = "--task-option") -> dict[str, str]:
    """``["KEY=VALUE", ...]`` -> ``{KEY: VALUE}``; a malformed item is a one-line error."""
    from actsearch.errors import ActsearchError

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ActsearchError(f"{flag} {item!r} is not KEY=VALUE")
        out[key] = value
    return out
