"""What the conformance checks share: one-line failures that name what was checked."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["Checker"]


class Checker:
    """``expect(ok, what)`` raises ``AssertionError("<where>: <what>")``, one line."""

    def __init__(self, where: str):
        self.where = where

    def expect(self, ok: bool, what: str) -> None:
        if not ok:
            raise AssertionError(f"{self.where}: {what}".replace("\n", " "))

    def call(self, what: str, fn, *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)``; an exception is a failed check naming ``what``."""
        try:
            return fn(*args, **kwargs)
        except AssertionError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure of the plug-in is the finding
            raise AssertionError(f"{self.where}: {what} raised {type(exc).__name__}: {exc}".replace("\n", " ")) \
                from exc

    def json_safe(self, value: Any, what: str) -> Any:
        """``value`` through ``json.dumps``/``loads`` (what the store does with it)."""
        try:
            return json.loads(json.dumps(value))
        except (TypeError, ValueError) as exc:
            raise AssertionError(f"{self.where}: {what} is not JSON-serialisable: {exc}") from exc
