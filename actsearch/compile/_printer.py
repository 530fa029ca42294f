"""Sympy expression -> Triton expression text and the statements it needs.

:class:`TritonPrinter` is a :class:`~actsearch.symbolic.text.FunctionTablePrinter` (sympy's
``CodePrinter``): whitelisted functions print from the ``triton`` column of the
:mod:`actsearch.symbolic.functions` table, ``Pow`` through multiplications and
temporaries.  It emits only what it builds itself: float literals, variable
names from its own symbol table, temporaries ``_t<i>``, ``tl.*`` calls from the
interpreter-safe set (exp, log, sqrt, abs, sin, cos, sigmoid, erf, where,
maximum, minimum) and calls to the named helpers (:mod:`actsearch.symbolic.helpers`)
that the rows it printed declare and its powers use; it records their names
(:attr:`TritonPrinter.needs`), and :meth:`TritonPrinter.helpers` gives their
definitions with everything they need in turn.  Names users chose for
parameters never reach the generated source: parameters print as ``p_<i>``.

Nothing printed is ever duplicated: an integer power ``b**k`` squares named
temporaries (``tanh(tanh(x)**64)**64`` is a dozen short statements, not 64**2
copies of ``tanh(x)``), and a template using its argument twice gets a name.
With ``max_chars`` the printer stops with :class:`KernelTooLarge` as soon as the
text and statements printed pass that size.

Example:
    >>> import sympy
    >>> from actsearch.symbolic.parser import X
    >>> TritonPrinter({X: "x"}).doprint(sympy.exp(-X**2))
    'tl.exp(-(x * x))'
    >>> print(TritonPrinter({X: "x"}).doprint(sympy.tanh(X)**8, assign_to="y"))
    _t0 = _tanh(x)
    _t1 = (_t0 * _t0)
    _t2 = (_t1 * _t1)
    y = (_t2 * _t2)
"""

from __future__ import annotations

import math

import sympy

from actsearch.symbolic.text import FunctionTablePrinter
from actsearch.errors import CompileError
from actsearch.symbolic.helpers import collect

__all__ = ["TritonPrinter", "helpers", "real_abs", "KernelTooLarge"]

#: largest integer exponent expanded into multiplications
_MAX_INT_POW = 64


class KernelTooLarge(CompileError):
    """The generated kernel source would pass the size limit.

    Attributes:
        size: characters printed when generation stopped (at least ``limit``).
        limit: the limit.
    """

    def __init__(self, size: int, limit: int, text: str | None = None):
        self.size, self.limit = size, limit
        what = f"the Triton kernel for {text!r}" if text is not None else "the Triton kernel"
        super().__init__(f"{what} is too large: more than {limit:,} characters of source (stopped at {size:,})")


class real_abs(sympy.Function):
    """|z| for a real z.

    sympy differentiates ``Abs(f)`` through ``re``/``im`` when it cannot prove ``f``
    real (e.g. ``log(x)``); every value in a kernel is real, so the compiler swaps
    ``Abs`` for this node, whose derivative is ``sign``.
    """

    nargs = 1

    def fdiff(self, argindex=1):
        return sympy.sign(self.args[0])


def helpers(needs) -> str:
    """The definitions of the helpers named in ``needs`` and of those they need,
    transitively (:func:`actsearch.symbolic.helpers.collect`), dependencies first."""
    return "".join(f"\n\n{h.source}" for h in collect(needs))


class TritonPrinter(FunctionTablePrinter):
    """Prints sympy expressions as Triton expression text plus statements.

    Args:
        names: symbol -> variable name in the kernel; every symbol met must be here.
        max_chars: raise :class:`KernelTooLarge` past this many characters.
    """

    printmethod = "_triton_code"
    language = "Triton"
    form = "triton"
    where = "tl.where({0}, {1}, {2})"
    error = CompileError

    def __init__(self, names, max_chars: int | None = None):
        super().__init__(names, max_chars)
        #: the helpers called by what was printed so far (their own needs follow by themselves)
        self.needs: set[str] = set()

    def helpers(self) -> str:
        """The definitions of every helper the text printed so far calls."""
        return helpers(self.needs)

    def _print_table_function(self, expr, spec) -> str:
        text = super()._print_table_function(expr, spec)
        self.needs.update(spec.triton_needs)
        return text

    def _too_large(self, size: int) -> Exception:
        return KernelTooLarge(size, self.max_chars)

    def _print_number(self, value: float) -> str:
        if not math.isfinite(value):
            raise CompileError(f"constant {value} is not finite")
        return repr(float(value))

    def _print_Pow(self, expr):
        base, exp = expr.base, expr.exp
        if exp.is_Integer and abs(int(exp)) <= _MAX_INT_POW:
            k = int(exp)
            if k == 0:
                return "1.0"
            if abs(k) == 1:
                power = self._operand(self._print(base), self._precedence(base))
            else:
                power = self._int_power(self._bind(self._print(base)), abs(k))
            return power if k > 0 else f"(1.0 / {power})"
        if exp == sympy.S.Half:
            return f"tl.sqrt({self._print(base)})"
        if exp == -sympy.S.Half:
            return f"(1.0 / tl.sqrt({self._print(base)}))"
        if base == sympy.E:
            return f"tl.exp({self._print(exp)})"
        helper = "_pow_c" if exp.is_number else "_c_pow" if base.is_number else "_pow"
        self.needs.add(helper)
        return f"{helper}({self._print(base)}, {self._print(exp)})"

    def _int_power(self, name: str, k: int) -> str:
        """``name**k`` by binary powering, each square bound to a temporary."""
        if k == 1:
            return name
        half = self._bind(self._int_power(name, k // 2))
        square = f"({half} * {half})"
        return square if k % 2 == 0 else f"({self._bind(square)} * {name})"

    # -- nodes only the compiler introduces ------------------------------------------
    def _print_real_abs(self, expr):
        return f"tl.abs({self._print(expr.args[0])})"

    def _print_DiracDelta(self, expr):
        return "0.0"  # zero almost everywhere, as autograd sees it
