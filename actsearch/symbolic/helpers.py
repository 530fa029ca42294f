"""Named ``@triton.jit`` helpers that the function table's Triton templates call.

A :class:`TritonHelper` is one helper function: its name (what templates call),
its definition and the names of the helpers it calls itself (``needs``).  The
helper table holds the shared ones below (``_expm1``, ``_log1p`` and the ``_pow``
family the printer's powers use) and every helper a function row brings
(``FunctionSpec.triton_helpers``, registered and removed with the row).  A row
declares by name the helpers its template calls (``FunctionSpec.triton_needs``),
its own or any other row's; the Triton printer collects what it printed needs,
transitively, with :func:`collect`, so a kernel carries exactly the helpers it
calls, each once, dependencies first.

Example:
    >>> [h.name for h in collect(["_pow_c"])]
    ['_pow', '_pow_c']
    >>> register_helper(TritonHelper("_twice", "@triton.jit\\ndef _twice(z):\\n    return _expm1(z) * 2.0\\n",
    ...                              needs=("_expm1",)))
    >>> [h.name for h in collect(["_twice"])]
    ['_expm1', '_twice']
    >>> unregister_helper("_twice")
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["TritonHelper", "register_helper", "unregister_helper", "helper_names", "helper_table", "collect", "calls",
           "SHARED_HELPERS"]

_NAME = re.compile(r"_[A-Za-z0-9_]*")
#: a call of a helper in template or helper text: ``_name(``
_CALL = re.compile(r"(?<![A-Za-z0-9_.])(_[A-Za-z0-9_]*)\s*\(")


@dataclass(frozen=True)
class TritonHelper:
    """One ``@triton.jit`` helper.

    Attributes:
        name: the function's name, as templates call it (starts with ``_``).
        source: its definition (``@triton.jit`` then ``def <name>(...)``), using only
            interpreter-safe ``tl.*`` calls and the helpers in ``needs``.
        needs: the helpers it calls.
    """

    name: str
    source: str
    needs: tuple[str, ...] = ()

    def __post_init__(self):
        if not _NAME.fullmatch(self.name):
            raise ValueError(f"Triton helper name {self.name!r} must start with '_' and be an identifier")
        if not re.search(rf"^def {re.escape(self.name)}\(", self.source, re.MULTILINE):
            raise ValueError(f"Triton helper {self.name!r}: its source does not define {self.name}()")
        object.__setattr__(self, "needs", tuple(self.needs))
        undeclared = sorted(set(calls(self.source)) - set(self.needs) - {self.name})
        if undeclared:
            raise ValueError(f"Triton helper {self.name!r} calls {', '.join(undeclared)} without declaring "
                             "it in needs")


def calls(text: str) -> list[str]:
    """The helper names ``text`` calls (``_name(``), in order of first call."""
    return list(dict.fromkeys(_CALL.findall(text)))


_TABLE: dict[str, TritonHelper] = {}


def register_helper(helper: TritonHelper) -> None:
    """Add ``helper`` to the table.  Raises ``ValueError`` if another helper has its name."""
    known = _TABLE.get(helper.name)
    if known is not None and known != helper:
        raise ValueError(f"a different Triton helper named {helper.name!r} is already registered")
    _TABLE[helper.name] = helper


def unregister_helper(name: str) -> None:
    """Remove the helper named ``name``."""
    del _TABLE[name]


def helper_names() -> frozenset[str]:
    """Every registered helper's name."""
    return frozenset(_TABLE)


def helper_table() -> tuple[TritonHelper, ...]:
    """Every registered helper, by name."""
    return tuple(_TABLE[n] for n in sorted(_TABLE))


def collect(names) -> list[TritonHelper]:
    """The helpers named in ``names`` and every helper they need, transitively: each
    once, a helper after those it needs, otherwise by name (a stable order).

    Raises ``KeyError`` naming a helper that is not registered.
    """
    order: list[TritonHelper] = []
    done: set[str] = set()
    # depth-first with an explicit stack: (name, whether its needs are placed)
    stack = [(n, False) for n in sorted(set(names), reverse=True)]
    while stack:
        name, ready = stack.pop()
        if name in done:
            continue
        helper = _TABLE.get(name)
        if helper is None:
            raise KeyError(f"unknown Triton helper {name!r}")
        if ready:
            done.add(name)
            order.append(helper)
            continue
        stack.append((name, True))
        stack.extend((n, False) for n in sorted(helper.needs, reverse=True) if n not in done)
    return order


# -- the shared helpers: float32 accuracy where the textbook formula would cancel or overflow --
SHARED_HELPERS = (
    TritonHelper("_expm1", '''@triton.jit
def _expm1(z):
    # Kahan: (u - 1) * z / log(u) is accurate where exp(z) - 1 cancels
    u = tl.exp(z)
    um1 = u - 1.0
    safe = tl.where((u == 1.0) | (um1 == -1.0), 1.0, u)
    r = um1 * z / tl.log(safe)
    r = tl.where(u == 1.0, z, r)
    r = tl.where(um1 == -1.0, -1.0, r)
    return tl.where(z > 80.0, u - 1.0, r)
'''),
    TritonHelper("_log1p", '''@triton.jit
def _log1p(t):
    # Goldberg: log(u) * t / (u - 1) with u = 1 + t rounded
    u = 1.0 + t
    d = u - 1.0
    safe = tl.where(d == 0.0, 1.0, d)
    r = tl.log(u) * (t / safe)
    r = tl.where(d == 0.0, t, r)
    return tl.where(u > 3.0e38, u, r)
'''),
    TritonHelper("_pow", '''@triton.jit
def _pow(b, e):
    # torch.pow semantics for a run-time exponent: negative bases allowed for
    # integral exponents, NaN otherwise; 0 ** 0 = 1
    r = tl.exp(e * tl.log(tl.abs(b)))
    ei = e.to(tl.int32)
    integral = ei.to(tl.float32) == e
    odd = (ei % 2) != 0
    nan = (r - r) / (r - r)  # NaN without a float("nan") literal
    neg = tl.where(integral, tl.where(odd, -r, r), nan)
    r = tl.where(b < 0.0, neg, r)
    return tl.where(e == 0.0, 1.0, r)
'''),
    TritonHelper("_pow_c", '''@triton.jit
def _pow_c(b, e):
    # constant exponent: a float, made a tensor for _pow's .to()
    return _pow(b, tl.zeros_like(b) + e)
''', needs=("_pow",)),
    TritonHelper("_c_pow", '''@triton.jit
def _c_pow(b, e):
    # constant base
    return _pow(tl.zeros_like(e) + b, e)
''', needs=("_pow",)),
)

for _helper in SHARED_HELPERS:
    register_helper(_helper)
del _helper
