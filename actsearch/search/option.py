"""One declaration per search option: :func:`option`, the metadata of a
:class:`~actsearch.search.config.SearchConfig` field.

An option's declaration says everything the rest of actsearch derives from it: its
command-line flag and help (``actsearch search``), the type and range its values
must have (the same check for the command line, a settings file and the Python
API), whether a resumed search may change it, whether the store keeps it, and
whether a settings file may set it.  Adding an option is one field::

    colour: str = option("red", Text(choices=("red", "blue")), "the colour", may_change=True)

Values are checked by their :class:`Kind`: :class:`Whole`, :class:`Number`,
:class:`Text`, :class:`Switch`, :class:`Texts`, :class:`Table`, :class:`Formulas`,
:class:`SpaceName` and :class:`Objects`.  A bad value is an :class:`OptionError`
of one line naming the option, what it must be and what it was.

Example:
    >>> Whole(low=1).check(4, "budget")
    4
    >>> Whole(low=1).check(4.5, "budget")
    Traceback (most recent call last):
    actsearch.search.option.OptionError: budget must be a whole number, not 4.5
    >>> Whole(low=0).parse("-1", "seed")
    Traceback (most recent call last):
    actsearch.search.option.OptionError: seed must be 0 or more, not -1
    >>> Text(choices=("max", "min")).check("mni", "mode")
    Traceback (most recent call last):
    actsearch.search.option.OptionError: mode must be one of max, min, not 'mni'; did you mean 'min'?
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from actsearch.errors import ActsearchError
from actsearch.registry import did_you_mean

__all__ = ["Option", "option", "options_of", "OptionError", "Kind", "Whole", "Number", "Text", "Switch", "Texts",
           "Table", "Formulas", "SpaceName", "Objects", "shown", "check_search_name", "NAME_LENGTH"]


class OptionError(ActsearchError, ValueError):
    """A search option's value that is not what the option takes (one line)."""


def shown(value: Any) -> str:
    """A value as a message shows it: TOML's words for booleans, a table or list by kind."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, (list, tuple)):
        return "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class Kind:
    """What values an option takes: :meth:`check` a Python value (a settings file's,
    the API's), :meth:`parse` a command-line word.  ``what`` names the kind in errors."""

    what = "a value"

    def check(self, value: Any, label: str) -> Any:
        """``value`` (normalised, e.g. a list as a tuple), or :class:`OptionError`."""
        return value

    def convert(self, text: str, label: str) -> Any:
        """The command-line word ``text`` as a value of this kind (not yet checked)."""
        return text

    def parse(self, text: str, label: str) -> Any:
        """The value of the command-line word ``text``, checked."""
        return self.check(self.convert(text, label), label)

    def to_stored(self, value: Any) -> Any:
        """``value`` as the store keeps it (plain JSON)."""
        return value

    def same(self, a: Any, b: Any) -> bool:
        """Whether two values are the same setting (a resumed search compares them so)."""
        return self.to_stored(a) == self.to_stored(b)

    def _refuse(self, value: Any, label: str, what: str | None = None) -> OptionError:
        return OptionError(f"{label} must be {what or self.what}, not {shown(value)}")


@dataclass(frozen=True)
class Whole(Kind):
    """A whole number (``true`` is not one), at least ``low``; ``rule`` words the range."""

    low: int | None = None
    rule: str | None = None
    what = "a whole number"

    def check(self, value, label):
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._refuse(value, label)
        if self.low is not None and value < self.low:
            raise self._refuse(value, label, self.rule or (f"at least {self.low}" if self.low else "0 or more"))
        return value

    def convert(self, text, label):
        word = text.strip()
        if not re.fullmatch(r"[+-]?\d+", word):
            raise self._refuse(text, label)
        return int(word)


@dataclass(frozen=True)
class Number(Kind):
    """A finite number, above ``above`` or at least ``low``; ``extra`` checks the rest."""

    above: float | None = None
    low: float | None = None
    rule: str | None = None
    extra: Callable[[float], bool] | None = None
    what = "a number"

    def check(self, value, label):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self._refuse(value, label)
        if ((self.above is not None and not value > self.above) or (self.low is not None and value < self.low)
                or (self.extra is not None and not self.extra(value))):
            rule = self.rule or (f"above {self.above:g}" if self.above is not None else f"at least {self.low:g}")
            raise self._refuse(value, label, rule)
        return value

    def convert(self, text, label):
        try:
            number = float(text)
        except ValueError:
            raise self._refuse(text, label) from None
        return int(number) if number.is_integer() and "." not in text and "e" not in text.lower() else number


@dataclass(frozen=True)
class Text(Kind):
    """One line of text: one of ``choices`` (a tuple, or a function returning one),
    checked by ``rule`` (a function raising :class:`~actsearch.ActsearchError`)."""

    choices: tuple[str, ...] | Callable[[], Iterable[str]] | None = None
    rule: Callable[[str], Any] | None = None
    what = "text"

    def check(self, value, label):
        if not isinstance(value, str):
            raise self._refuse(value, label)
        if "\n" in value or "\r" in value or "\0" in value:
            raise OptionError(f"{label} must be one line of text, not {shown(value)}")
        if self.choices is not None:
            choices = tuple(self.choices() if callable(self.choices) else self.choices)
            if value not in choices:
                raise OptionError(f"{label} must be one of {', '.join(choices)}, not {value!r}"
                                  f"{did_you_mean(value, choices)}")
        if self.rule is not None:
            self.rule(value)
        return value


@dataclass(frozen=True)
class Switch(Kind):
    """``true`` or ``false``."""

    what = "true or false"

    def check(self, value, label):
        if not isinstance(value, bool):
            raise self._refuse(value, label)
        return value


@dataclass(frozen=True)
class Texts(Kind):
    """A list of one-line texts, each checked as ``item``; a tuple with ``as_tuple``."""

    item: Text = Text()
    as_tuple: bool = False
    what = "a list of texts"

    def check(self, value, label):
        if not isinstance(value, (list, tuple)):
            raise self._refuse(value, label)
        out = [self.item.check(v, f"each of {label}") if isinstance(v, str) else _bad_item(self, v, label)
               for v in value]
        return tuple(out) if self.as_tuple else out

    def to_stored(self, value):
        return list(value or ())


def _bad_item(kind: Kind, value: Any, label: str):
    raise OptionError(f"{label} must be {kind.what}; one of them is {shown(value)}")


@dataclass(frozen=True)
class Objects(Kind):
    """A list of Python objects (Python API only; checked where they are used)."""

    what = "a list"

    def check(self, value, label):
        if not isinstance(value, (list, tuple)):
            raise self._refuse(value, label)
        return list(value)


@dataclass(frozen=True)
class Formulas(Objects):
    """A list of formulas: texts, or :class:`~actsearch.Candidate` objects (Python API)."""

    what = 'a list of formulas (e.g. ["x*tanh(x)"])'

    def check(self, value, label):
        out = super().check(value, label)
        for v in out:
            if not (isinstance(v, str) or hasattr(v, "fingerprint")):
                _bad_item(self, v, label)
        return out

    def to_stored(self, value):
        return [v if isinstance(v, str) else v.text for v in value or ()]


_SCALARS = (str, int, float, bool)


@dataclass(frozen=True)
class Table(Kind):
    """``KEY = VALUE`` pairs: a TOML table, repeated ``KEY=VALUE`` words on the command
    line; values are texts, numbers, booleans or flat lists of them."""

    what = "a table of KEY = VALUE"

    def check(self, value, label):
        if not isinstance(value, dict):
            raise OptionError(f"{label} must be a table ([{label}] in a settings file, KEY=VALUE on the command "
                              f"line), not {shown(value)}")
        for key, item in value.items():
            flat = isinstance(item, (list, tuple)) and all(isinstance(v, _SCALARS) for v in item)
            if not isinstance(key, str) or not (isinstance(item, _SCALARS) or flat):
                raise OptionError(f"{label}: {key} must be text, a number, true/false or a list of them, "
                                  f"not {shown(item)}")
        return dict(value)

    def convert(self, text, label):
        key, sep, value = text.partition("=")
        if not sep or not key:
            raise OptionError(f"{label} {text!r} is not KEY=VALUE")
        return {key: value}

    def to_stored(self, value):
        return dict(value or {})

    def same(self, a, b):  # "0.01" on the command line is the 0.01 of a settings file
        return {k: str(v) for k, v in (a or {}).items()} == {k: str(v) for k, v in (b or {}).items()}


@dataclass(frozen=True)
class SpaceName(Text):
    """A search space's name, or a space object (Python API)."""

    def check(self, value, label):
        if not isinstance(value, str) and hasattr(value, "sample"):
            return value
        return super().check(value, label)

    def to_stored(self, value):
        return value if isinstance(value, str) or value is None else getattr(value, "name", str(value))


#: how the command line gives an option: one word, several words, a repeated flag, a
#: repeated ``KEY=VALUE`` flag (merged into a table), a flag alone (``true``), a flag
#: that turns the option off (``false``)
CLI_FORMS = ("value", "words", "repeat", "pairs", "on", "off")


@dataclass(frozen=True)
class Option:
    """The declaration of one search option (see the module docstring).

    Args:
        kind: the values it takes.
        help: the command line's help (``{name}`` fields are filled by the command).
        flags: its command-line flags (default ``--field-name``); ``()``: Python API
            and settings files only.
        hidden: flags accepted but not listed (old names).
        form: how the command line gives it (:data:`CLI_FORMS`).
        metavar: the value's name in the help.
        may_change: a resumed search may take a new value (where and how long it
            runs, not what it measures).
        listed: named among the options that may change, in that refusal.
        stored: the store keeps it with the search.
        in_files: a settings file may set it.
        always_in_file: ``actsearch config`` writes it even at its default value.
        label: what error messages call it (default: the field's name).
        nullable: ``None`` is a value it takes (besides a ``None`` default).
    """

    kind: Kind
    help: str = ""
    flags: tuple[str, ...] | None = None
    hidden: tuple[str, ...] = ()
    form: str = "value"
    metavar: str | None = None
    may_change: bool = False
    listed: bool = True
    stored: bool = True
    in_files: bool = True
    always_in_file: bool = False
    label: str | None = None
    nullable: bool = False

    def __post_init__(self):
        if self.form not in CLI_FORMS:
            raise ValueError(f"unknown command-line form {self.form!r}")


def option(default: Any = None, kind: Kind | None = None, help: str = "", *,  # noqa: A002 - argparse's word
           factory: Callable[[], Any] | None = None, **declaration: Any):
    """A dataclass field declaring a search option (``factory`` for a mutable default)."""
    meta = {"option": Option(kind=kind or Kind(), help=help, **declaration)}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


@dataclass(frozen=True)
class Declared:
    """One option of a config class: its field's name and default, and its declaration."""

    name: str
    default: Any
    option: Option

    @property
    def label(self) -> str:
        return self.option.label or self.name

    @property
    def flags(self) -> tuple[str, ...]:
        return ("--" + self.name.replace("_", "-"),) if self.option.flags is None else self.option.flags

    def check(self, value: Any) -> Any:
        """``value`` checked by the option's kind (``None`` passes where it is the default)."""
        if value is None and (self.default is None or self.option.nullable):
            return None
        return self.option.kind.check(value, self.label)


def options_of(config_class) -> dict[str, Declared]:
    """Field name -> :class:`Declared`, for every declared option of a dataclass, in order."""
    out = {}
    for f in dataclasses.fields(config_class):
        declared = f.metadata.get("option")
        if declared is None:
            continue
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
        out[f.name] = Declared(f.name, default, declared)
    return out


#: the longest search name: it becomes a folder name and part of every trial's id
NAME_LENGTH = 100
_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")


def check_search_name(name: str) -> str:
    """``name`` if it is a safe search name: letters, digits, ``-``, ``_`` and ``.`` (not
    first), at most :data:`NAME_LENGTH` characters.  It names a folder (``..`` would
    leave the results folder) and is the ``SEARCH`` of every ``SEARCH:NUMBER`` id.

    Example:
        >>> check_search_name("digits-grammar-random-1")
        'digits-grammar-random-1'
        >>> check_search_name("a:b")
        Traceback (most recent call last):
        actsearch.search.option.OptionError: search name 'a:b' is not allowed: use letters, digits, '-', '_' and '.' (not first), at most 100 characters
    """
    if not (isinstance(name, str) and len(name) <= NAME_LENGTH and _NAME.fullmatch(name)):
        raise OptionError(f"search name {shown(name)} is not allowed: use letters, digits, '-', '_' and '.' "
                          f"(not first), at most {NAME_LENGTH} characters")
    return name
