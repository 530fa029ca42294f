"""The restricted expression parser.

A hand-written tokenizer and recursive-descent parser that builds sympy nodes with
sympy's constructors directly.  User text never reaches ``eval``, ``exec`` or
``sympify``: anything outside the grammar below is an :class:`ExpressionError`
naming the position and the reason.

Grammar::

    candidate := expr [';' binding (',' binding)*]
    binding   := NAME '=' ['-'|'+'] NUMBER
    expr      := term (('+' | '-') term)*
    term      := unary (('*' | '/') unary)*
    unary     := ('-' | '+') unary | power
    power     := atom (('**' | '^') unary)?          # right-associative
    atom      := NUMBER | 'x' | 'pi' | PARAM | FUNC '(' expr (',' expr)* ')' | '(' expr ')'
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import sympy

from ..errors import ExpressionError
from .domain import dropped, power
from .functions import FUNCTIONS

__all__ = ["parse_text", "X", "param_symbol", "MAX_LENGTH", "MAX_DEPTH", "MAX_EXPONENT"]

MAX_LENGTH = 4000
MAX_DEPTH = 60
MAX_EXPONENT = 64
MAX_PARAMS = 64

#: the input variable; real so that sympy simplifies abs(x)**2 etc. correctly
X = sympy.Symbol("x", real=True)

_RESERVED = {"x", "pi"}
_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def _module_attributes() -> frozenset[str]:
    """Names of ``nn.Module`` / ``nn.ParameterDict`` attributes a parameter could take.

    Parameters live in an ``nn.ParameterDict`` (``params.<name>`` in state dicts,
    here and in exported files); one named ``forward``, ``to``, ``keys``, ``train``...
    cannot be registered there, or shadows what torch calls on every module.
    """
    from torch import nn

    names = set(dir(nn.Module())) | set(dir(nn.ParameterDict()))
    return frozenset(n for n in names if _NAME_RE.fullmatch(n))


_MODULE_ATTRIBUTES = _module_attributes()


def _name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a parameter, or ``None`` if it can."""
    if name in _RESERVED or name in FUNCTIONS:
        return f"{name!r} is reserved and cannot name a parameter"
    if name in _MODULE_ATTRIBUTES:
        return (f"parameter name {name!r} clashes with the torch nn.Module attribute {name!r}: "
                "modules and exported files could not hold it; choose another name")
    return None
_NUMBER_RE = re.compile(r"(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_OPERATORS = ("**", "+", "-", "*", "/", "^", "(", ")", ",", ";", "=")


def param_symbol(name: str) -> sympy.Symbol:
    """The sympy symbol for a learnable parameter (real, like ``x``)."""
    return sympy.Symbol(name, real=True)


@dataclass(frozen=True)
class _Token:
    kind: str  # "num", "name", "op", "end"
    text: str
    pos: int


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        m = _NUMBER_RE.match(text, i)
        if m and (ch.isdigit() or ch == "."):
            tokens.append(_Token("num", m.group(0), i))
            i = m.end()
            continue
        m = _NAME_RE.match(text, i)
        if m:
            tokens.append(_Token("name", m.group(0), i))
            i = m.end()
            continue
        for op in _OPERATORS:
            if text.startswith(op, i):
                tokens.append(_Token("op", op, i))
                i += len(op)
                break
        else:
            if ch == "_":
                reason = "names may not start with '_'"
            else:
                reason = f"unexpected character {ch!r}"
            raise ExpressionError(reason, text, i)
    tokens.append(_Token("end", "", n))
    return tokens


def _number(tok: _Token, text: str) -> sympy.Expr:
    if "." in tok.text or "e" in tok.text.lower():
        value = float(tok.text)
        if not math.isfinite(value):
            raise ExpressionError(f"number {tok.text} is out of range", text, tok.pos)
        return sympy.Float(value)
    if len(tok.text) > 15:
        raise ExpressionError(f"integer {tok.text[:20]}... is too large", text, tok.pos)
    return sympy.Integer(int(tok.text))


class _Parser:
    def __init__(self, text: str, params: dict[str, float] | None):
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0
        self.depth = 0
        self.declared: dict[str, float] = dict(params or {})
        self.used: set[str] = set()
        self.bound_in_text: set[str] = set()

    # -- token helpers -------------------------------------------------------
    @property
    def tok(self) -> _Token:
        return self.tokens[self.i]

    def error(self, reason: str, tok: _Token | None = None) -> ExpressionError:
        tok = tok or self.tok
        return ExpressionError(reason, self.text, tok.pos)

    def accept(self, *ops: str) -> _Token | None:
        if self.tok.kind == "op" and self.tok.text in ops:
            tok = self.tok
            self.i += 1
            return tok
        return None

    def expect(self, op: str, context: str) -> _Token:
        tok = self.accept(op)
        if tok is None:
            found = "end of input" if self.tok.kind == "end" else repr(self.tok.text)
            raise self.error(f"expected {op!r} {context}, found {found}")
        return tok

    def enter(self, tok: _Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"expression nested more than {MAX_DEPTH} levels deep", tok)

    # -- grammar -------------------------------------------------------------
    def candidate(self) -> tuple[sympy.Expr, dict[str, float]]:
        if not self.text.strip():
            raise ExpressionError("empty expression", self.text, 0)
        expr_start = self.i
        # Bindings come after ';' but must be known before names are resolved,
        # so read them first and come back.
        semi = next((k for k, t in enumerate(self.tokens) if t.kind == "op" and t.text == ";"), None)
        if semi is not None:
            self.i = semi + 1
            self.bindings()
            end_tok = self.tok
            if end_tok.kind != "end":
                raise self.error(f"unexpected {end_tok.text!r} after the parameter list")
            self.tokens[semi] = _Token("end", "", self.tokens[semi].pos)
            self.i = expr_start
        expr = self.expr()
        if self.tok.kind != "end":
            if self.tok.text == ")":
                raise self.error("unbalanced parenthesis: ')' without '('")
            raise self.error(f"unexpected {self.tok.text!r}")
        if expr.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
            raise ExpressionError("expression has an infinite or undefined value (e.g. log(0))", self.text, 0)
        if not expr.has(X):
            raise ExpressionError("expression does not depend on x", self.text, 0)
        unused = sorted(set(self.declared) - self.used)
        if unused:
            raise ExpressionError(
                f"parameter {unused[0]!r} is declared but not used", self.text, len(self.text)
            )
        return expr, {k: self.declared[k] for k in sorted(self.used)}

    def bindings(self) -> None:
        while True:
            tok = self.tok
            if tok.kind != "name":
                raise self.error("expected a parameter name after ';' or ','")
            self.i += 1
            self.check_param_name(tok)
            self.expect("=", f"after parameter {tok.text!r}")
            sign = -1.0 if self.accept("-") else 1.0
            if sign > 0:
                self.accept("+")
            num = self.tok
            if num.kind != "num":
                raise self.error(f"expected a number as the value of {tok.text!r}")
            self.i += 1
            if tok.text in self.bound_in_text:
                raise self.error(f"parameter {tok.text!r} given twice", tok)
            # a value in the text overrides one passed in ``params``
            self.bound_in_text.add(tok.text)
            self.declared[tok.text] = sign * float(_number(num, self.text))
            if not self.accept(","):
                return

    def check_param_name(self, tok: _Token) -> None:
        problem = _name_problem(tok.text)
        if problem:
            raise self.error(problem, tok)

    def kept(self, result: sympy.Expr, operands, tok: _Token, product: bool = False) -> sympy.Expr:
        """``result``, unless sympy dropped from ``operands`` a term undefined for some x
        (:func:`~actsearch.symbolic.domain.dropped`): then the canonical form would be
        another function, and the formula is refused."""
        gone = dropped(operands, result, product)
        if gone:
            raise self.error(f"simplifying cancels {gone}: the simplified function would differ from the written "
                             "one; write the formula without that term", tok)
        return result

    def expr(self) -> sympy.Expr:
        out = self.term()
        while True:
            tok = self.tok
            if self.accept("+"):
                rhs = self.term()
                out = self.kept(out + rhs, (out, rhs), tok)
            elif self.accept("-"):
                rhs = self.term()
                out = self.kept(out - rhs, (out, rhs), tok)
            else:
                return out

    def term(self) -> sympy.Expr:
        out = self.unary()
        while True:
            tok = self.tok
            if self.accept("*"):
                rhs = self.unary()
                out = self.kept(out * rhs, (out, rhs), tok, product=True)
            elif self.accept("/"):
                rhs = self.unary()
                if rhs.is_zero:
                    raise self.error("division by zero", tok)
                out = self.kept(out / rhs, (out, 1 / rhs), tok, product=True)  # 1/rhs: the division it makes
            else:
                return out

    def unary(self) -> sympy.Expr:
        tok = self.tok
        if self.accept("-"):
            self.enter(tok)
            out = -self.unary()
            self.depth -= 1
            return out
        if self.accept("+"):
            self.enter(tok)
            out = self.unary()
            self.depth -= 1
            return out
        return self.power()

    def power(self) -> sympy.Expr:
        base = self.atom()
        tok = self.accept("**", "^")
        if tok is None:
            return base
        self.enter(tok)
        exponent = self.unary()
        self.depth -= 1
        if exponent.is_Number:
            if abs(float(exponent)) > MAX_EXPONENT:
                raise self.error(f"exponent {exponent} is larger than {MAX_EXPONENT}", tok)
            if base.is_zero and float(exponent) <= 0:
                raise self.error("zero raised to a non-positive power", tok)
        elif base.is_Number and abs(float(base)) > 1e6:
            raise self.error("a large number raised to a symbolic power", tok)
        if base.is_Number and exponent.is_Number:
            value = float(base) ** float(exponent) if float(base) >= 0 else None
            if value is not None and not math.isfinite(value):
                raise self.error("number out of range", tok)
        if exponent.is_zero:  # z**0 is 1 even where z is NaN (IEEE, torch and sympy alike)
            return sympy.S.One
        return self.kept(power(base, exponent), (base, exponent), tok)

    def atom(self) -> sympy.Expr:
        tok = self.tok
        if tok.kind == "num":
            self.i += 1
            return _number(tok, self.text)
        if tok.kind == "name":
            self.i += 1
            if self.tok.kind == "op" and self.tok.text == "(":
                return self.call(tok)
            if tok.text == "x":
                return X
            if tok.text == "pi":
                return sympy.pi
            if tok.text in FUNCTIONS:
                raise self.error(f"function {tok.text!r} needs arguments in parentheses", tok)
            if tok.text in self.declared:
                self.used.add(tok.text)
                return param_symbol(tok.text)
            raise self.error(
                f"unknown name {tok.text!r} (use x, a declared parameter such as "
                f"'... ; {tok.text}=1.0', or a function call)",
                tok,
            )
        if tok.kind == "op" and tok.text == "(":
            self.i += 1
            self.enter(tok)
            out = self.expr()
            if self.tok.kind == "end":
                raise self.error("unbalanced parenthesis: '(' is never closed", tok)
            self.expect(")", "to close the parenthesis")
            self.depth -= 1
            return out
        if tok.kind == "end":
            raise self.error("unexpected end of expression")
        if tok.text == ")":
            raise self.error("unbalanced parenthesis: ')' without '('")
        raise self.error(f"unexpected {tok.text!r}")

    def call(self, name_tok: _Token) -> sympy.Expr:
        spec = FUNCTIONS.get(name_tok.text)
        if spec is None:
            raise self.error(f"unknown function {name_tok.text!r}", name_tok)
        open_tok = self.expect("(", f"after {name_tok.text}")
        self.enter(open_tok)
        if self.tok.kind == "op" and self.tok.text == ")":
            raise self.error(f"{name_tok.text}() needs an argument")
        args = [self.expr()]
        while self.accept(","):
            args.append(self.expr())
        if self.tok.kind == "end":
            raise self.error("unbalanced parenthesis: '(' is never closed", open_tok)
        self.expect(")", f"to close {name_tok.text}(")
        self.depth -= 1
        if spec.arity == -1 and len(args) < 2:
            raise self.error(f"{name_tok.text} takes two or more arguments", name_tok)
        if spec.arity > 0 and len(args) != spec.arity:
            raise self.error(
                f"{name_tok.text} takes {spec.arity} argument(s), got {len(args)}", name_tok
            )
        return self.kept(spec.sympy_fn(*args), args, name_tok)


def parse_text(text: str, params: dict[str, float] | None = None) -> tuple[sympy.Expr, dict[str, float]]:
    """Parse ``text`` into a sympy expression in :data:`X` and its parameters."""
    if not isinstance(text, str):
        raise ExpressionError(f"expected a string, got {type(text).__name__}", "", 0)
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"expression longer than {MAX_LENGTH} characters", text[:40] + "...", 0)
    if params:
        for name, value in params.items():
            if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
                raise ExpressionError(f"invalid parameter name {name!r}", text, 0)
            problem = _name_problem(name)
            if problem:
                raise ExpressionError(problem, text, 0)
            if not isinstance(value, (int, float)) or not math.isfinite(float(value)):
                raise ExpressionError(f"parameter {name!r} needs a finite number, got {value!r}", text, 0)
    if params and len(params) > MAX_PARAMS:
        raise ExpressionError(f"more than {MAX_PARAMS} parameters", text, 0)
    parser = _Parser(text, {k: float(v) for k, v in (params or {}).items()})
    try:
        return parser.candidate()
    except RecursionError:
        raise ExpressionError("expression too deeply nested", text, 0) from None
    except ExpressionError:
        raise
    except (ValueError, TypeError, ArithmeticError) as exc:  # sympy refusing a construction
        raise ExpressionError(f"cannot build the expression: {exc}", text, 0) from None
