"""Math fragments in two spellings at once: Unicode (terminal, Markdown, HTML) and LaTeX.

Everything ``explain()`` writes is built from :class:`M` values, so the text and the LaTeX
forms of an explanation always say the same thing. Also here: number and array formatting,
and the two template tables that spell an op's forward expression (``W3·a2 + b3``) and its
local derivative (``1 − tanh²(u3)``).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

MINUS = "\u2212"

# Precedence of an expression's top operator: operands of tighter operators get parentheses.
ADD, MUL, NEG, POW, ATOM = 1, 2, 3, 4, 5


@dataclass(frozen=True)
class M:
    """A math fragment: ``u`` is the Unicode spelling, ``t`` the LaTeX one."""

    u: str
    t: str

    def __add__(self, other: M | str) -> M:
        o = other if isinstance(other, M) else lit(other)
        return M(self.u + o.u, self.t + o.t)

    def __radd__(self, other: str) -> M:
        return lit(other) + self

    def __str__(self) -> str:
        return self.u


def lit(u: str, t: str | None = None) -> M:
    """A literal fragment; the LaTeX spelling defaults to the Unicode one."""
    return M(u, u if t is None else t)


def cat(*parts: M | str) -> M:
    out = lit("")
    for p in parts:
        out = out + p
    return out


def join(parts: Sequence[M], sep: M | str) -> M:
    s = sep if isinstance(sep, M) else lit(sep)
    out: M | None = None
    for p in parts:
        out = p if out is None else out + s + p
    return out if out is not None else lit("")


def paren(m: M) -> M:
    return M(f"({m.u})", rf"\left({m.t}\right)")


DOT = M("·", r" \cdot ")
SPACED_DOT = M(" · ", r" \cdot ")
HADAMARD = M(" ⊙ ", r" \odot ")
PLUS = M(" + ", " + ")
SUB = M(f" {MINUS} ", " - ")
EQ = M(" = ", " = ")

# --------------------------------------------------------------------------- names

_GREEK = dict(zip(  # (in names and in text)
    "αβγδεζηθικλμνξπρστυφχψωΓΔΘΛΞΠΣΦΨΩ",
    r"\alpha \beta \gamma \delta \varepsilon \zeta \eta \theta \iota \kappa \lambda \mu \nu \xi "
    r"\pi \rho \sigma \tau \upsilon \varphi \chi \psi \omega \Gamma \Delta \Theta \Lambda \Xi "
    r"\Pi \Sigma \Phi \Psi \Omega".split()))
_TEX_SPECIAL = {"\\": r"\textbackslash{}", "_": r"\_", "&": r"\&", "%": r"\%", "$": r"\$",
                "#": r"\#", "{": r"\{", "}": r"\}", "^": r"\^{}", "~": r"\~{}"}
_SIMPLE_NAME = re.compile(r"([A-Za-z]|[α-ωΑ-Ω])(\d*)(′*)\Z")


def tex_escape(text: str) -> str:
    return "".join(_TEX_SPECIAL.get(c, c) for c in text)


def name(text: str) -> M:
    """A variable's name: ``W4`` is typeset W with subscript 4, ``fc1.weight`` upright."""
    m = _SIMPLE_NAME.match(text)
    if m:
        base, digits, primes = m.groups()
        t = _GREEK.get(base, base)
        if digits:
            t += f"_{{{digits}}}"
        return M(text, t + "'" * len(primes))
    parts = re.match(r"([A-Za-z]+)_?(\d+)\Z", text)
    if parts and len(parts.group(1)) > 1:
        return M(text, rf"\mathrm{{{parts.group(1)}}}_{{{parts.group(2)}}}")
    if re.fullmatch(r"[A-Za-z0-9_.:/ &%$#{}-]*", text):
        return M(text, rf"\mathrm{{{tex_escape(text)}}}")
    return M(text, text_to_tex(text))  # \, ^, ~ or other letters: text mode spells them


def is_atom_name(text: str) -> bool:
    return bool(re.match(r"[^\s+\-−·/^()⊙]+\Z", text))


# --------------------------------------------------------------------------- numbers

def fmt(v: Any, digits: int = 6) -> str:
    """A number with ``digits`` significant digits, Unicode minus (``−9.00067``)."""
    return _fmt_plain(v, digits).replace("-", MINUS)


def _fmt_plain(v: Any, digits: int) -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    if math.isnan(f):
        return "nan"
    if math.isinf(f):
        return "inf" if f > 0 else "-inf"
    if f == 0:
        return "0"
    return f"{f:.{digits}g}"


def num(v: Any, digits: int = 6) -> M:
    """A number as a fragment: ``1.2e-05`` is typeset 1.2 × 10⁻⁵ in LaTeX."""
    plain = _fmt_plain(v, digits)
    t = plain
    m = re.match(r"(-?[\d.]+)e([+-])0*(\d+)\Z", plain)
    if m:
        exp = ("-" if m.group(2) == "-" else "") + m.group(3)
        t = rf"{m.group(1)} \times 10^{{{exp}}}"
    elif plain in ("inf", "-inf", "nan"):
        t = {"inf": r"\infty", "-inf": r"-\infty", "nan": r"\mathrm{NaN}"}[plain]
    return M(plain.replace("-", MINUS), t)


def is_scalar(a: Any) -> bool:
    return a is not None and np.size(a) == 1


def scalar(a: Any) -> float:
    return float(np.asarray(a).reshape(-1)[0])


def shape_text(shape: Sequence[int]) -> str:
    """``(4×3)``; a scalar is ``()``."""
    return "(" + "×".join(str(s) for s in shape) + ")" if len(shape) else "()"


def entries(a: np.ndarray, digits: int, limit: int = 6) -> str:
    """``[1, 2, 3]`` (nested for matrices) when small; the first few entries otherwise."""
    if a.size <= limit:
        return _nested(a.tolist(), digits)
    flat = a.reshape(-1)[:4]
    return "[" + ", ".join(fmt(x, digits) for x in flat.tolist()) + ", …]"


def _nested(x: Any, digits: int) -> str:
    if isinstance(x, list):
        return "[" + ", ".join(_nested(v, digits) for v in x) + "]"
    return fmt(x, digits)


def summary(a: Any, digits: int = 6) -> str:
    """A short description of an array: its value if scalar, else shape, norm, range, entries."""
    if a is None:
        return "—"
    arr = np.asarray(a)
    if arr.ndim == 0:
        return fmt(arr.item(), digits)
    if arr.dtype.kind == "b":
        arr = arr.astype(np.int64)
    if arr.size == 0:
        return f"shape {shape_text(arr.shape)} (empty)"
    if arr.dtype.kind not in "biuf":
        return f"shape {shape_text(arr.shape)}"
    f = arr.astype(np.float64)
    d = min(digits, 4)
    parts = [f"shape {shape_text(arr.shape)}"]
    if arr.size <= 6:
        parts.append(entries(arr, digits))
    else:
        with np.errstate(all="ignore"):
            parts.append(f"‖·‖ {fmt(np.linalg.norm(f.reshape(-1)), d)}")
            parts.append(f"min {fmt(np.min(f), d)}")
            parts.append(f"max {fmt(np.max(f), d)}")
        parts.append(entries(arr, d))
    return ", ".join(parts)


def short(a: Any, digits: int = 6) -> str:
    """The shortest useful form: the number for a scalar, the entries for small arrays."""
    if a is None:
        return "—"
    arr = np.asarray(a)
    if arr.size == 1 and arr.ndim == 0:
        return fmt(arr.item(), digits)
    if arr.size <= 6 and arr.dtype.kind in "biuf":
        return entries(arr, digits)
    return summary(arr, digits)


def brief(a: Any, digits: int = 6) -> str:
    """Shorter than :func:`short`: large arrays as their shape and norm."""
    if a is None:
        return "—"
    arr = np.asarray(a)
    if arr.size <= 4 or arr.dtype.kind not in "biuf":
        return short(arr, digits)
    with np.errstate(all="ignore"):
        norm = np.linalg.norm(arr.astype(np.float64).reshape(-1))
    return f"{shape_text(arr.shape)}, ‖·‖ {fmt(norm, min(digits, 4))}"


def mshape(shape: Sequence[int], transpose: bool = False) -> str:
    """A shape as a matrix: a vector is a column ``(n×1)``; ``transpose`` swaps the last two."""
    s = list(shape) if len(shape) >= 2 else ([shape[0], 1] if len(shape) == 1 else [1, 1])
    if transpose:
        s[-1], s[-2] = s[-2], s[-1]
    return "(" + "×".join(str(x) for x in s) + ")"


_TEXT_TEX = {MINUS: "-", "…": r"\ldots{}", "′": "'", "∂": r"$\partial$", "ᵀ": r"$^{\top}$",
             "·": r"$\cdot$", "⊙": r"$\odot$", "‖": r"$\|$", "×": r"$\times$",
             "ₙ": r"$_n$", "√": r"$\surd$", "²": r"$^2$", "³": r"$^3$", "⁻": r"$^-$",
             "¹": r"$^1$", "ℒ": r"$\mathcal{L}$", "—": "---", "≤": r"$\le$", "∞": r"$\infty$",
             "≥": r"$\ge$"}


_SCRIPTS = {**{c: f"^{d}" for c, d in zip("⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻", "0123456789+-")},
            **{c: f"_{d}" for c, d in zip("₀₁₂₃₄₅₆₇₈₉₋ₙᵢⱼₖ", "0123456789-nijk")}}
_SYMBOLS = {"±": r"\pm", "½": r"\frac{1}{2}", "ℓ": r"\ell", "≠": r"\neq", "⟨": r"\langle",
            "⟩": r"\rangle", "→": r"\to", "≈": r"\approx", "∑": r"\sum", "∏": r"\prod",
            "∇": r"\nabla", "∈": r"\in", "⊗": r"\otimes", "∘": r"\circ", "⋯": r"\cdots"}
_ACCENTS = {"\u0302": r"\hat", "\u0304": r"\bar", "\u0305": r"\overline", "\u0303": r"\tilde",
            "\u0307": r"\dot", "\u0308": r"\ddot", "\u0301": r"\acute", "\u0300": r"\grave"}


def _char_tex(c: str) -> str:
    if c in _TEXT_TEX:
        return _TEXT_TEX[c]
    if ord(c) < 128:
        return tex_escape(c)
    for table in (_GREEK, _SYMBOLS):
        if c in table:
            return f"${table[c]}$"
    if c in _SCRIPTS:
        return f"${{}}{_SCRIPTS[c]}$"
    parts = unicodedata.normalize("NFD", c)  # Ā = A + a combining macron
    if len(parts) == 2 and parts[1] in _ACCENTS:
        return _accented(parts[0], parts[1])
    return "?"


def _accented(base: str, accent: str) -> str:
    return f"${_ACCENTS[accent]}{{{_char_tex(base).strip('$')}}}$"


def text_to_tex(text: str) -> str:
    """A plain Unicode note as LaTeX ``\\text{...}`` (math symbols in ``$...$``; letters with
    an accent, ``x̂`` or ``Ā``, as ``$\\hat{x}$``)."""
    out: list[str] = []
    k = 0
    while k < len(text):
        c, nxt = text[k], text[k + 1: k + 2]
        if nxt in _ACCENTS:  # a letter followed by a combining accent
            out.append(_accented(c, nxt))
            k += 2
            continue
        out.append(_char_tex(c))
        k += 1
    return r"\text{" + "".join(out) + "}"


# --------------------------------------------------------------------------- operands

@dataclass(frozen=True)
class Operand:
    """One argument of an op as it is written: its fragment, precedence, and whether it is a
    literal number (constants go first in a product: ``0.5·p``)."""

    m: M
    prec: int = ATOM
    const: bool = False
    value: Any = None


def wrap(a: Operand, prec: int) -> M:
    return a.m if a.prec >= prec else paren(a.m)


def wrap_right(a: Operand, prec: int) -> M:
    """A later operand: like :func:`wrap`, and a leading minus gets parentheses too
    (``x·(−y)``, ``x − (−y)``, ``−(−x)``, never ``x·−y``)."""
    return paren(a.m) if a.m.u.startswith(MINUS) else wrap(a, prec)


def number_operand(v: Any, digits: int) -> Operand:
    f = float(np.asarray(v).reshape(-1)[0]) if np.size(v) == 1 else None
    m = num(v, digits)
    return Operand(m, ADD if f is not None and f < 0 else ATOM, True, v)


_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


def _const_value(a: Operand) -> float | None:
    if not a.const or a.value is None or np.size(a.value) != 1:
        return None
    return float(np.asarray(a.value).reshape(-1)[0])


def power(base: Operand, exponent: Operand | float) -> tuple[M, int]:
    """``x²``, ``(z − y)³``, ``x^2.5``, ``x^y``."""
    b = wrap(base, ATOM)
    e = exponent if isinstance(exponent, Operand) else number_operand(exponent, 6)
    k = _const_value(e)
    if k is not None and math.isfinite(k) and k == int(k) and (2 <= abs(k) <= 99 or k == -1):
        ki = int(k)  # type: ignore[arg-type]
        return M(b.u + str(ki).translate(_SUPERSCRIPT), f"{{{b.t}}}^{{{ki}}}"), POW
    return M(f"{b.u}^{wrap(e, ATOM).u}", f"{{{b.t}}}^{{{e.m.t}}}"), POW


def times(c: Any, a: Operand, digits: int = 6) -> M:
    """``2x`` (a number before a simple name), else ``2·(z − y)``."""
    cm = num(c, digits)
    if a.prec >= ATOM and not a.const and is_atom_name(a.m.u):
        return M(cm.u + a.m.u, cm.t + " " + a.m.t)
    return cm + DOT + wrap_right(a, MUL if not a.const else ATOM)


_FUNC_TEX = {"sin": r"\sin", "cos": r"\cos", "tan": r"\tan", "sinh": r"\sinh",
             "cosh": r"\cosh", "tanh": r"\tanh", "exp": r"\exp", "log": r"\ln",
             "sigmoid": r"\sigma", "asin": r"\arcsin", "acos": r"\arccos",
             "atan": r"\arctan", "sign": r"\operatorname{sign}"}
_FUNC_U = {"sigmoid": "σ", "log": "ln"}


def func(fname: str, *args: M) -> M:
    u = _FUNC_U.get(fname, fname)
    t = _FUNC_TEX.get(fname, rf"\operatorname{{{tex_escape(fname)}}}")
    return M(f"{u}(" + ", ".join(a.u for a in args) + ")",
             t + r"\left(" + ", ".join(a.t for a in args) + r"\right)")


def func_sq(fname: str, arg: M) -> M:
    """``tanh²(x)``."""
    u = _FUNC_U.get(fname, fname)
    t = _FUNC_TEX.get(fname, rf"\operatorname{{{fname}}}")
    return M(f"{u}²({arg.u})", f"{t}^{{2}}\\left({arg.t}\\right)")


# --------------------------------------------------------------------------- forward spelling

def _short_params(params: dict) -> str:
    if not params:
        return ""
    text = ", ".join(f"{k}={v!r}" for k, v in params.items())
    return "" if len(text) > 24 else text


def forward_expr(op: str, args: list[Operand], params: dict,
                 shapes: list[tuple] | None = None) -> tuple[M, int]:
    """How the output of ``op`` is written in terms of its operands."""
    a = args[0] if args else Operand(lit("?"))
    b = args[1] if len(args) > 1 else None
    if op == "add" and b is not None:
        return wrap(a, ADD) + PLUS + wrap_right(b, ADD), ADD
    if op == "sub" and b is not None:
        return wrap(a, ADD) + SUB + wrap_right(b, MUL), ADD
    if op == "mul" and b is not None:
        if b.const and not a.const:
            a, b = b, a
        both_tensors = shapes is not None and len(shapes) > 1 and all(
            math.prod(s) > 1 for s in shapes[:2])
        # (⊙ for an elementwise product of two tensors; · is the matrix or scalar product)
        return wrap(a, MUL) + (HADAMARD if both_tensors else DOT) + wrap_right(b, MUL), MUL
    if op == "matmul" and b is not None:
        return wrap(a, MUL) + DOT + wrap_right(b, NEG), MUL
    if op == "linear" and b is not None:
        w = wrap(b, ATOM)
        prod = wrap(a, MUL) + DOT + M(w.u + "ᵀ", f"{{{w.t}}}^{{\\top}}")
        if len(args) > 2:
            return prod + PLUS + wrap(args[2], ADD), ADD
        return prod, MUL
    if op == "div" and b is not None:
        return M(f"{wrap(a, MUL).u}/{wrap(b, POW).u}",
                 rf"\frac{{{a.m.t}}}{{{b.m.t}}}"), MUL
    if op == "neg":
        return M(MINUS, "-") + wrap_right(a, NEG), NEG
    if op == "pow" and b is not None:
        return power(a, b)
    if op == "square":
        return power(a, 2.0)
    if op == "sqrt":
        return M(f"√{wrap(a, ATOM).u}", rf"\sqrt{{{a.m.t}}}"), POW  # (√x)³, not √x³
    if op == "exp":
        return M(f"exp({a.m.u})", rf"e^{{{a.m.t}}}"), ATOM
    if op == "reciprocal":
        return M(f"1/{wrap(a, POW).u}", rf"\frac{{1}}{{{a.m.t}}}"), MUL
    if op == "abs":
        return M(f"|{a.m.u}|", rf"\left|{a.m.t}\right|"), ATOM
    if op == "permute" and shapes and len(shapes[0]) == 2:
        w = wrap(a, ATOM)
        return M(w.u + "ᵀ", f"{{{w.t}}}^{{\\top}}"), ATOM
    if op == "sum" and shapes is not None:
        dim = params.get("dim")
        if dim is None or len(tuple(dim)) == len(shapes[0]):
            w = wrap(a, POW)
            return M(f"Σ{w.u}", rf"\sum {w.t}"), MUL
    extra = _short_params(params) if op not in ("sum", "mean", "amax", "amin") else ""
    ms = [x.m for x in args] + ([lit(extra, text_to_tex(extra))] if extra else [])
    return func(op, *ms), ATOM


# --------------------------------------------------------------------------- local derivatives

LocalRule = Callable[[int, list[Operand], dict], "tuple[M, int] | None"]


def _one(i: int, args: list[Operand], params: dict) -> tuple[M, int]:
    return lit("1"), ATOM


def _neg_one(i: int, args: list[Operand], params: dict) -> tuple[M, int]:
    return lit(MINUS + "1", "-1"), ADD


def _a(args: list[Operand]) -> Operand:
    return args[0]


def _pow_local(i: int, args: list[Operand], params: dict) -> tuple[M, int] | None:
    x, y = args[0], args[1]
    if i == 0:
        k = _const_value(y)
        if k is not None:
            if k == 2:
                return times(2, x), MUL
            if k == 1:
                return lit("1"), ATOM
            pm, _ = power(x, k - 1)
            return num(k) + DOT + pm, MUL
        pm, _ = power(x, Operand(wrap(y, ATOM) + SUB + lit("1"), ADD))
        return wrap(y, MUL) + DOT + pm, MUL
    pm, _ = power(x, y)
    return pm + DOT + func("log", x.m), MUL


def _unary(build: Callable[[Operand], tuple[M, int]]) -> LocalRule:
    return lambda i, args, params: build(args[0])


_ONE_MINUS = M(f"1 {MINUS} ", "1 - ")

LOCAL_RULES: dict[str, LocalRule] = {
    "add": _one,
    "sub": lambda i, args, params: _one(i, args, params) if i == 0 else _neg_one(i, args, params),
    "neg": _neg_one,
    "identity": _one,
    "clone": _one,
    "mul": lambda i, args, params: (args[1 - i].m, args[1 - i].prec),
    "div": lambda i, args, params: (
        (M(f"1/{wrap(args[1], POW).u}", rf"\frac{{1}}{{{args[1].m.t}}}"), MUL) if i == 0 else
        (M(f"{MINUS}{wrap(args[0], MUL).u}/{wrap(args[1], ATOM).u}²",
           rf"-\frac{{{args[0].m.t}}}{{{{{args[1].m.t}}}^{{2}}}}"), NEG)),
    "pow": _pow_local,
    "square": _unary(lambda x: (times(2, x), MUL)),
    "exp": _unary(lambda x: (M(f"exp({x.m.u})", rf"e^{{{x.m.t}}}"), ATOM)),
    "expm1": _unary(lambda x: (M(f"exp({x.m.u})", rf"e^{{{x.m.t}}}"), ATOM)),
    "exp2": _unary(lambda x: (M(f"2^{wrap(x, ATOM).u}·ln 2", rf"2^{{{x.m.t}}} \ln 2"), MUL)),
    "log": _unary(lambda x: (M(f"1/{wrap(x, POW).u}", rf"\frac{{1}}{{{x.m.t}}}"), MUL)),
    "log2": _unary(lambda x: (M(f"1/({wrap(x, MUL).u}·ln 2)", rf"\frac{{1}}{{{x.m.t} \ln 2}}"),
                              MUL)),
    "log1p": _unary(lambda x: (M(f"1/(1 + {x.m.u})", rf"\frac{{1}}{{1 + {x.m.t}}}"), MUL)),
    "sqrt": _unary(lambda x: (M(f"1/(2√{wrap(x, ATOM).u})", rf"\frac{{1}}{{2\sqrt{{{x.m.t}}}}}"),
                              MUL)),
    "reciprocal": _unary(lambda x: (M(f"{MINUS}1/{wrap(x, ATOM).u}²",
                                      rf"-\frac{{1}}{{{{{x.m.t}}}^{{2}}}}"), NEG)),
    "abs": _unary(lambda x: (func("sign", x.m), ATOM)),
    "sin": _unary(lambda x: (func("cos", x.m), ATOM)),
    "cos": _unary(lambda x: (M(MINUS, "-") + func("sin", x.m), NEG)),
    "tan": _unary(lambda x: (M("1 + ", "1 + ") + func_sq("tan", x.m), ADD)),
    "sinh": _unary(lambda x: (func("cosh", x.m), ATOM)),
    "cosh": _unary(lambda x: (func("sinh", x.m), ATOM)),
    "tanh": _unary(lambda x: (_ONE_MINUS + func_sq("tanh", x.m), ADD)),
    "atan": _unary(lambda x: (M(f"1/(1 + {wrap(x, ATOM).u}²)",
                                rf"\frac{{1}}{{1 + {{{x.m.t}}}^{{2}}}}"), MUL)),
    "asin": _unary(lambda x: (M(f"1/√(1 {MINUS} {wrap(x, ATOM).u}²)",
                                rf"\frac{{1}}{{\sqrt{{1 - {{{x.m.t}}}^{{2}}}}}}"), MUL)),
    "acos": _unary(lambda x: (M(f"{MINUS}1/√(1 {MINUS} {wrap(x, ATOM).u}²)",
                                rf"-\frac{{1}}{{\sqrt{{1 - {{{x.m.t}}}^{{2}}}}}}"), NEG)),
    "sigmoid": _unary(lambda x: (func("sigmoid", x.m) + DOT + paren(_ONE_MINUS + func(
        "sigmoid", x.m)), MUL)),
    "relu": _unary(lambda x: (M(f"[{x.m.u} > 0]", rf"[{x.m.t} > 0]"), ATOM)),
}


def local_expr(op: str, i: int, args: list[Operand], params: dict) -> tuple[M, int] | None:
    """The local derivative ∂out/∂(input i) written with the operands, or None if the op
    has no template (then the op table's formula is shown instead)."""
    rule = LOCAL_RULES.get(op)
    if rule is None:
        return None
    try:
        return rule(i, args, params)
    except (IndexError, TypeError, ValueError):
        return None


def is_trivial_local(op: str, i: int) -> int | None:
    """1 or −1 when the local derivative is that constant (then the chain rule just passes the
    upstream gradient on), else None."""
    if op in ("add", "identity", "clone") or (op == "sub" and i == 0):
        return 1
    if op == "neg" or (op == "sub" and i == 1):
        return -1
    return None


def has_function(m: M) -> bool:
    """Does the fragment contain a function application (``cos(2.25)``)? A substituted form
    with one says more than its value; ``2·1.5`` does not."""
    return bool(re.search(r"[A-Za-zσ√]", m.u.replace("e" + MINUS, "").replace("e+", "")))
