"""Sympy expression -> Triton expression text.

:class:`TritonPrinter` has one ``_print_<Node>`` method per sympy node type the
candidates and their derivatives can contain.  It emits only what it builds itself:
float literals, variable names from its own symbol table, ``tl.*`` calls from the
interpreter-safe set (exp, log, sqrt, abs, sin, cos, sigmoid, erf, where, maximum,
minimum) and calls to the helper functions in :data:`HELPERS`.  Names users chose
for parameters never reach the generated source: parameters print as ``p_<i>``.

Example:
    >>> import sympy
    >>> from actsearch._parser import X
    >>> TritonPrinter({X: "x"}).doprint(sympy.exp(-X**2))
    'tl.exp((-(x * x)))'
"""

from __future__ import annotations

import math

import sympy

from actsearch.errors import CompileError

__all__ = ["TritonPrinter", "HELPERS", "real_abs"]

#: largest integer exponent expanded into multiplications
_MAX_INT_POW = 64


class real_abs(sympy.Function):
    """|z| for a real z.

    sympy differentiates ``Abs(f)`` through ``re``/``im`` when it cannot prove ``f``
    real (e.g. ``log(x)``); every value in a kernel is real, so the compiler swaps
    ``Abs`` for this node, whose derivative is ``sign``.
    """

    nargs = 1

    def fdiff(self, argindex=1):
        return sympy.sign(self.args[0])


#: @triton.jit helpers the printer may call.  They keep float32 accuracy where the
#: textbook formula would cancel (expm1, log1p, tanh near 0) or overflow.
HELPERS = '''
@triton.jit
def _expm1(z):
    # Kahan: (u - 1) * z / log(u) is accurate where exp(z) - 1 cancels
    u = tl.exp(z)
    um1 = u - 1.0
    safe = tl.where((u == 1.0) | (um1 == -1.0), 1.0, u)
    r = um1 * z / tl.log(safe)
    r = tl.where(u == 1.0, z, r)
    r = tl.where(um1 == -1.0, -1.0, r)
    return tl.where(z > 80.0, u - 1.0, r)


@triton.jit
def _log1p(t):
    # Goldberg: log(u) * t / (u - 1) with u = 1 + t rounded
    u = 1.0 + t
    d = u - 1.0
    safe = tl.where(d == 0.0, 1.0, d)
    r = tl.log(u) * (t / safe)
    r = tl.where(d == 0.0, t, r)
    return tl.where(u > 3.0e38, u, r)


@triton.jit
def _tanh(z):
    a = tl.abs(z)
    e = tl.exp(-2.0 * a)
    big = (1.0 - e) / (1.0 + e)
    z2 = z * z
    small = z * (1.0 + z2 * (-0.3333333333333333 + z2 * (0.13333333333333333 + z2 * (-0.05396825396825397
        + z2 * 0.021869488536155203))))
    r = tl.where(z < 0.0, -big, big)
    return tl.where(a < 0.125, small, r)


@triton.jit
def _softplus(z):
    return tl.maximum(z, 0.0) + _log1p(tl.exp(-tl.abs(z)))


@triton.jit
def _atan(z):
    # Cephes atanf: reduce |z| to [0, tan(pi/8)], odd polynomial there
    a = tl.abs(z)
    big = a > 2.414213562373095
    mid = (a > 0.4142135623730950) & (~big)
    safe = tl.where(a == 0.0, 1.0, a)
    t = tl.where(big, -1.0 / safe, tl.where(mid, (a - 1.0) / (a + 1.0), a))
    base = tl.where(big, 1.5707963267948966, tl.where(mid, 0.7853981633974483, 0.0))
    t2 = t * t
    poly = (((8.05374449538e-2 * t2 - 1.38776856032e-1) * t2 + 1.99777106478e-1) * t2 - 3.33329491539e-1) * t2 * t + t
    r = base + poly
    return tl.where(z < 0.0, -r, r)


@triton.jit
def _sinh(z):
    a = tl.abs(z)
    e = tl.exp(a)
    big = 0.5 * (e - 1.0 / e)
    big = tl.where(z < 0.0, -big, big)
    return tl.where(a < 1.0, 0.5 * (_expm1(z) - _expm1(-z)), big)


@triton.jit
def _cosh(z):
    e = tl.exp(tl.abs(z))
    return 0.5 * (e + 1.0 / e)


@triton.jit
def _asinh(z):
    a = tl.abs(z)
    a2 = a * a
    small = _log1p(a + a2 / (1.0 + tl.sqrt(1.0 + a2)))
    large = tl.log(a) + 0.6931471805599453
    r = tl.where(a > 1.0e10, large, small)
    return tl.where(z < 0.0, -r, r)


@triton.jit
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


@triton.jit
def _sign(z):
    return tl.where(z > 0.0, 1.0, tl.where(z < 0.0, -1.0, 0.0))


@triton.jit
def _heaviside(z, h0):
    return tl.where(z > 0.0, 1.0, tl.where(z < 0.0, 0.0, h0))
'''

_RELATIONS = {
    sympy.StrictGreaterThan: ">",
    sympy.GreaterThan: ">=",
    sympy.StrictLessThan: "<",
    sympy.LessThan: "<=",
    sympy.Equality: "==",
    sympy.Unequality: "!=",
}


def _literal(value: float) -> str:
    if not math.isfinite(value):
        raise CompileError(f"constant {value} is not finite")
    text = repr(float(value))
    return f"({text})" if value < 0 else text


class TritonPrinter:
    """Prints one sympy expression as Triton expression text.

    Args:
        names: symbol -> variable name in the kernel; every symbol met must be here.
    """

    def __init__(self, names: dict[sympy.Symbol, str]):
        self.names = dict(names)

    def doprint(self, node: sympy.Basic) -> str:
        if node is sympy.true:
            return "True"
        if node is sympy.false:
            return "False"
        if isinstance(node, sympy.Expr) and node.is_number:
            try:
                value = complex(node)
            except TypeError:
                value = None
            if value is not None:
                if value.imag != 0:
                    raise CompileError(f"constant {node} is not real")
                return _literal(value.real)
        for cls in type(node).__mro__:
            method = getattr(self, f"_print_{cls.__name__}", None)
            if method is not None:
                return method(node)
        raise CompileError(f"the triton backend cannot print {type(node).__name__}")

    # -- leaves and arithmetic -------------------------------------------------
    def _print_Symbol(self, node):
        name = self.names.get(node)
        if name is None:
            raise CompileError(f"unknown symbol {node} in a kernel expression")
        return name

    def _print_Add(self, node):
        return "(" + " + ".join(self.doprint(a) for a in node.args) + ")"

    def _print_Mul(self, node):
        num, den = [], []
        for factor in node.args:
            if factor.is_Pow and factor.exp.is_Integer and factor.exp < 0:
                den.append(factor.base ** (-factor.exp))
            elif factor.is_Rational and not factor.is_Integer:
                num.append(sympy.Integer(factor.p))
                den.append(sympy.Integer(factor.q))
            else:
                num.append(factor)
        if num and num[0] == -1:
            num = num[1:]
            sign = "-"
        else:
            sign = ""
        top = " * ".join(self.doprint(f) for f in num) if num else "1.0"
        text = top if not den else f"{top} / ({' * '.join(self.doprint(f) for f in den)})"
        return f"({sign}{text})"

    def _print_Pow(self, node):
        base, exp = node.base, node.exp
        if exp.is_Integer and abs(int(exp)) <= _MAX_INT_POW:
            k = int(exp)
            if k == 0:
                return "1.0"
            text = self._int_power(self.doprint(base), abs(k))
            return text if k > 0 else f"(1.0 / {text})"
        if exp == sympy.Rational(1, 2):
            return f"tl.sqrt({self.doprint(base)})"
        if exp == -sympy.Rational(1, 2):
            return f"(1.0 / tl.sqrt({self.doprint(base)}))"
        if base == sympy.E:
            return f"tl.exp({self.doprint(exp)})"
        return f"_pow({self.doprint(base)}, {self.doprint(exp)})"

    @staticmethod
    def _int_power(base: str, k: int) -> str:
        # binary powering keeps x**5 to three multiplications
        if k == 1:
            return base
        half = TritonPrinter._int_power(base, k // 2)
        sq = f"({half} * {half})"
        return sq if k % 2 == 0 else f"({sq} * {base})"

    # -- elementary functions --------------------------------------------------
    def _call(self, fn: str, node) -> str:
        return f"{fn}({', '.join(self.doprint(a) for a in node.args)})"

    def _print_exp(self, node):
        return self._call("tl.exp", node)

    def _print_log(self, node):
        return self._call("tl.log", node)

    def _print_sin(self, node):
        return self._call("tl.sin", node)

    def _print_cos(self, node):
        return self._call("tl.cos", node)

    def _print_erf(self, node):
        return self._call("tl.erf", node)

    def _print_Abs(self, node):
        return self._call("tl.abs", node)

    def _print_real_abs(self, node):
        return self._call("tl.abs", node)

    def _print_tanh(self, node):
        return self._call("_tanh", node)

    def _print_atan(self, node):
        return self._call("_atan", node)

    def _print_sinh(self, node):
        return self._call("_sinh", node)

    def _print_cosh(self, node):
        return self._call("_cosh", node)

    def _print_asinh(self, node):
        return self._call("_asinh", node)

    def _print_sign(self, node):
        return self._call("_sign", node)

    def _print_Heaviside(self, node):
        h0 = node.args[1] if len(node.args) > 1 else sympy.Rational(1, 2)
        return f"_heaviside({self.doprint(node.args[0])}, {self.doprint(h0)})"

    def _print_DiracDelta(self, node):
        return "0.0"  # zero almost everywhere, as autograd sees it

    def _print_Max(self, node):
        return self._fold("tl.maximum", node.args)

    def _print_Min(self, node):
        return self._fold("tl.minimum", node.args)

    def _fold(self, fn: str, args) -> str:
        out = self.doprint(args[0])
        for a in args[1:]:
            out = f"{fn}({out}, {self.doprint(a)}, propagate_nan=tl.PropagateNan.ALL)"
        return out

    # -- activation primitives (actsearch.functions) ---------------------------
    def _print_relu(self, node):
        z = self.doprint(node.args[0])
        return f"tl.where({z} < 0.0, 0.0, {z})"  # NaN stays NaN as in torch.relu

    def _print_sigmoid(self, node):
        return self._call("tl.sigmoid", node)

    def _print_silu(self, node):
        z = self.doprint(node.args[0])
        return f"({z} * tl.sigmoid({z}))"

    def _print_gelu(self, node):
        z = self.doprint(node.args[0])
        return f"(0.5 * {z} * (1.0 + tl.erf({z} * 0.7071067811865476)))"

    def _print_softplus(self, node):
        return self._call("_softplus", node)

    def _print_softsign(self, node):
        z = self.doprint(node.args[0])
        return f"({z} / (1.0 + tl.abs({z})))"

    def _print_elu(self, node):
        from actsearch.functions import ELU_ALPHA

        z = self.doprint(node.args[0])
        return f"tl.where({z} > 0.0, {z}, {_literal(ELU_ALPHA)} * _expm1({z}))"

    def _print_selu(self, node):
        from actsearch.functions import SELU_ALPHA, SELU_SCALE

        z = self.doprint(node.args[0])
        return f"({_literal(SELU_SCALE)} * tl.where({z} > 0.0, {z}, {_literal(SELU_ALPHA)} * _expm1({z})))"

    def _print_leaky_relu(self, node):
        from actsearch.functions import LEAKY_SLOPE

        z = self.doprint(node.args[0])
        return f"tl.where({z} > 0.0, {z}, {_literal(LEAKY_SLOPE)} * {z})"

    # -- conditions --------------------------------------------------------------
    def _print_Piecewise(self, node):
        *pieces, (last, cond) = node.args
        if cond is not sympy.true:
            raise CompileError("Piecewise without a default branch")
        out = self.doprint(last)
        for value, c in reversed(pieces):
            out = f"tl.where({self.doprint(c)}, {self.doprint(value)}, {out})"
        return out

    def _print_Relational(self, node):
        op = next((o for cls, o in _RELATIONS.items() if isinstance(node, cls)), None)
        if op is None:
            raise CompileError(f"unsupported condition {type(node).__name__}")
        return f"({self.doprint(node.lhs)} {op} {self.doprint(node.rhs)})"

    def _print_And(self, node):
        return "(" + " & ".join(self.doprint(a) for a in node.args) + ")"

    def _print_Or(self, node):
        return "(" + " | ".join(self.doprint(a) for a in node.args) + ")"

    def _print_Not(self, node):
        return f"(~{self.doprint(node.args[0])})"
