"""Printing sympy expressions as text: canonical candidate text, and the code printers' base.

:class:`CanonicalPrinter` (sympy's ``StrPrinter``) writes what our parser reads
back; :class:`FunctionTablePrinter` (sympy's ``CodePrinter``) is the base of the printers
that write code, the exported torch source
(:class:`actsearch.symbolic.torch_source.TorchSourcePrinter`) and the Triton kernels
(:class:`actsearch.compile._printer.TritonPrinter`).  Both resolve whitelisted
functions from the :mod:`actsearch.symbolic.functions` table, so neither has a method per
function.

The base owns, once for every code printer: folding numeric sub-expressions to
literals, precedence (sympy's ``precedence``/``parenthesize``; ``Add`` and ``Mul``
are sympy's own), functions from the table with their templates (``max``/``min``
folded from a binary template), ``Piecewise`` as nested selects, relations and
``&``/``|``/``~``, and temporaries: an argument a template uses more than once is
bound to a name by a statement, so the text never grows faster than the tree.
A subclass gives the table column it prints (``form``), its select template
(``where``), number literals and ``Pow``.

Example:
    >>> import sympy
    >>> from actsearch.symbolic.parser import X
    >>> CanonicalPrinter().doprint(sympy.Abs(X) + sympy.atan(X))
    'abs(x) + arctan(x)'
"""

from __future__ import annotations

import functools
import re
from typing import Mapping

import sympy
from sympy.printing.codeprinter import CodePrinter, PrintMethodNotImplementedError
from sympy.printing.precedence import PRECEDENCE, precedence
from sympy.printing.str import StrPrinter

from ..errors import ExpressionError
from .domain import RealPow
from .functions import FunctionSpec, spec_for

__all__ = ["CanonicalPrinter", "FunctionTablePrinter", "canonical_text", "format_number", "ATOM", "enclosed"]


def format_number(value: float) -> str:
    """Shortest text that reads back as exactly ``value`` (Python's repr of a float)."""
    text = repr(float(value))
    return text


class CanonicalPrinter(StrPrinter):
    """sympy's str printer with the names our parser accepts (from the function table).

    Example:
        >>> import sympy
        >>> from actsearch.symbolic.parser import X
        >>> CanonicalPrinter().doprint(sympy.Max(X, 0) * sympy.exp(1))
        'exp(1)*max(0, x)'
    """

    def _print(self, expr, **kwargs):
        spec = spec_for(expr)
        if spec is not None and spec.public:
            return f"{spec.name}({', '.join(self._print(a) for a in expr.args)})"
        return super()._print(expr, **kwargs)

    def _print_Float(self, expr):
        return format_number(float(expr))

    def _print_Exp1(self, expr):
        return "exp(1)"

    def _print_Pi(self, expr):
        return "pi"


_PRINTER = CanonicalPrinter()


def canonical_text(expr: sympy.Expr, params: dict[str, float]) -> str:
    """``expr`` printed canonically, then ``; name=value, ...`` sorted by name."""
    body = _PRINTER.doprint(expr)
    if not params:
        return body
    bindings = ", ".join(f"{k}={format_number(params[k])}" for k in sorted(params))
    return f"{body}; {bindings}"


# -- the code printers' base ----------------------------------------------------------

#: text needing no parentheses and no temporary: a name or an unsigned number
ATOM = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|[0-9][0-9.]*(e[-+]?[0-9]+)?")
_FUNC = PRECEDENCE["Func"]


def enclosed(text: str) -> bool:
    """Whether ``text`` is one parenthesized group, e.g. ``(a + b)`` but not ``(a) + (b)``."""
    if not (text.startswith("(") and text.endswith(")")):
        return False
    depth = 0
    for ch in text[:-1]:
        depth += (ch == "(") - (ch == ")")
        if depth == 0:
            return False
    return True


@functools.lru_cache(maxsize=None)
def _slot_uses(template: str, i: int) -> tuple[int, bool]:
    """(how often ``{i}`` occurs in ``template``, whether any occurrence is an
    operand rather than a whole call argument, i.e. needs parentheses)."""
    slot = "{%d}" % i
    uses, operand = 0, False
    for m in re.finditer(re.escape(slot), template):
        uses += 1
        before = template[: m.start()].rstrip()[-1:]
        after = template[m.end():].lstrip()[:1]
        operand = operand or before not in ("(", ",") or after not in (")", ",")
    return uses, operand


class FunctionTablePrinter(CodePrinter):
    """Base of the code printers (see the module docstring).

    Args:
        names: symbol -> the variable holding it; every symbol met must be here.
        max_chars: stop with :meth:`_too_large` once the printed text and its
            statements exceed this many characters (``None``: no limit).

    Attributes:
        used: the table rows printed so far, in order of first use (their helpers
            must be in scope of the printed code).
    """

    printmethod = "_actsearch_code"
    language = "Python"
    #: the FunctionSpec attribute holding this printer's template
    form = "source"
    #: this printer's elementwise select: condition, value, otherwise
    where = "where({0}, {1}, {2})"
    #: the exception for what cannot be printed
    error: type[Exception] = ExpressionError
    _default_settings = {**CodePrinter._default_settings, "strict": True}

    def __init__(self, names: Mapping[sympy.Symbol, str], max_chars: int | None = None):
        super().__init__()
        self.names = dict(names)
        self.max_chars = max_chars
        self.size = 0
        self.used: dict[str, FunctionSpec] = {}
        self._statements: list[str] = []
        self._temps = 0

    # -- entry points --------------------------------------------------------------
    def print_statements(self, expr: sympy.Basic) -> tuple[list[str], str]:
        """(statements binding temporaries, in order; the expression over them)."""
        self._statements = []
        try:
            text = self._print(expr)
        except PrintMethodNotImplementedError:
            raise self._fail(f"cannot print {type(expr).__name__} as {self.language}") from None
        self.account(len(text))
        return self._statements, text

    def doprint(self, expr, assign_to=None) -> str:
        """The statements, then the expression (as ``assign_to = ...`` when given)."""
        statements, text = self.print_statements(expr)
        return "\n".join([*statements, text if assign_to is None else f"{assign_to} = {text}"])

    def account(self, chars: int) -> None:
        """Count ``chars`` more characters of output against ``max_chars``."""
        self.size += chars
        self._check_size(0)

    # -- hooks for subclasses -------------------------------------------------------
    def _print_number(self, value: float) -> str:
        raise NotImplementedError

    def _function_arg(self, arg: sympy.Expr) -> tuple[str, float]:
        """(text, precedence) of an argument of a table function or select."""
        return self._print(arg), self._precedence(arg)

    def _too_large(self, size: int) -> Exception:
        return self._fail(f"printed code exceeds {self.max_chars} characters")

    def _fail(self, reason: str, expr=None) -> Exception:
        if issubclass(self.error, ExpressionError):
            return self.error(reason, str(expr) if expr is not None else "", 0)
        return self.error(reason)

    # -- dispatch ---------------------------------------------------------------------
    def _print(self, expr, **kwargs) -> str:
        if isinstance(expr, sympy.Expr) and expr.is_number:
            text = self._print_number(self._constant(expr))
        else:
            spec = spec_for(expr)
            text = self._print_table_function(expr, spec) if spec is not None else super()._print(expr, **kwargs)
        self._check_size(len(text))
        return text

    def _check_size(self, pending: int) -> None:
        if self.max_chars is not None and self.size + pending > self.max_chars:
            raise self._too_large(self.size + pending)

    def _constant(self, expr: sympy.Expr) -> float:
        from .torch_eval import constant_value

        try:
            return constant_value(expr)
        except ExpressionError as exc:
            raise self._fail(exc.reason, expr) from None

    def _precedence(self, expr) -> float:
        if isinstance(expr, sympy.Expr) and expr.is_number:
            return PRECEDENCE["Add"] if self._constant(expr) < 0 else PRECEDENCE["Atom"]
        return precedence(expr)

    def parenthesize(self, item, level, strict=False):
        prec = self._precedence(item)
        text = self._print(item)
        return f"({text})" if prec < level or (not strict and prec <= level) else text

    def _print_not_supported(self, expr):
        raise self._fail(f"cannot print {type(expr).__name__} as {self.language}", expr)

    _print_Basic = _print_Expr = _print_Function = _print_not_supported

    def emptyPrinter(self, expr):
        return self._print_not_supported(expr)

    # -- statements -------------------------------------------------------------------
    def _bind(self, text: str) -> str:
        """A name holding ``text``: ``text`` itself when it is one, else a temporary."""
        if ATOM.fullmatch(text):
            return text
        name = f"_t{self._temps}"
        self._temps += 1
        statement = f"{name} = {text}"
        self._statements.append(statement)
        self.account(len(statement))
        return name

    @staticmethod
    def _operand(text: str, prec: float) -> str:
        """``text`` (of precedence ``prec``) safe as an operand of any operator."""
        return text if prec >= _FUNC or ATOM.fullmatch(text) or enclosed(text) else f"({text})"

    def _apply(self, template: str, items: list[tuple[str, float]]) -> str:
        """``template`` with argument texts: an argument used more than once is
        bound to a temporary, one used as an operand is parenthesized."""
        texts = []
        for i, (text, prec) in enumerate(items):
            uses, operand = _slot_uses(template, i)
            if uses > 1:
                text = self._bind(text)
            elif operand:
                text = self._operand(text, prec)
            elif enclosed(text):
                text = text[1:-1]  # a whole call argument needs no parentheses of its own
            texts.append(text)
        return template.format(*texts)

    # -- leaves -----------------------------------------------------------------------
    def _print_Symbol(self, expr):
        name = self.names.get(expr)
        if name is None:
            raise self._fail(f"unknown symbol {expr.name!r} in the expression", expr)
        return name

    def _print_BooleanTrue(self, expr):
        return "True"

    def _print_BooleanFalse(self, expr):
        return "False"

    # -- functions from the table ---------------------------------------------------
    def _print_table_function(self, expr, spec: FunctionSpec) -> str:
        template = getattr(spec, self.form)
        args = expr.args
        if template is None or (spec.arity > 0 and len(args) != spec.arity):
            return self._print_not_supported(expr)
        self.used.setdefault(spec.name, spec)
        items = [self._function_arg(a) for a in args]
        if spec.arity != -1:
            return self._apply(template, items)
        out = items[0]  # max(a, b, c) = max(max(a, b), c)
        for item in items[1:]:
            out = (self._apply(template, [out, item]), _FUNC)
        return out[0]

    def _print_RealPow(self, expr: RealPow):
        # a power sympy may not simplify (symbolic/domain.py) prints as any power does
        return self._print_Pow(sympy.Pow(*expr.args, evaluate=False))

    # -- selects and conditions -------------------------------------------------------
    def _print_Piecewise(self, expr):
        *pieces, (last, cond) = expr.args
        if cond is not sympy.true:
            raise self._fail("Piecewise without a default branch", expr)
        out = self._function_arg(last)
        for value, c in reversed(pieces):
            out = (self._apply(self.where, [(self._print(c), _FUNC), self._function_arg(value), out]), _FUNC)
        return out[0]

    def _print_Relational(self, expr):
        if expr.rel_op not in ("<", "<=", ">", ">=", "==", "!="):
            return self._print_not_supported(expr)
        prec = PRECEDENCE["Relational"]
        return f"{self.parenthesize(expr.lhs, prec)} {expr.rel_op} {self.parenthesize(expr.rhs, prec)}"

    def _print_And(self, expr):
        return self.stringify(expr.args, " & ", PRECEDENCE["BitwiseAnd"])

    def _print_Or(self, expr):
        return self.stringify(expr.args, " | ", PRECEDENCE["BitwiseOr"])

    def _print_Not(self, expr):
        return "~" + self.parenthesize(expr.args[0], PRECEDENCE["Not"])
