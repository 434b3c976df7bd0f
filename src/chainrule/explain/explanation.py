"""``cr.explain``: the chain rule on a real graph, step by step, as a person writes it.

>>> import chainrule as cr
>>> x = cr.tensor(1.5, dtype=cr.float64, requires_grad=True, name="x")
>>> e = cr.explain(cr.sin(x ** 2))
>>> print(e.gradients["x"].round(6))
-1.884521
>>> "dz/dx = cos(2.25)·3 = −1.88452" in str(e)
True
"""

from __future__ import annotations

import html as _html
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from ._math import (
    ATOM,
    DOT,
    EQ,
    HADAMARD,
    MINUS,
    MUL,
    PLUS,
    SPACED_DOT,
    M,
    Operand,
    brief,
    cat,
    has_function,
    is_atom_name,
    is_trivial_local,
    join,
    lit,
    local_expr,
    mshape,
    num,
    paren,
    shape_text,
    short,
    summary,
    text_to_tex,
    wrap,
)
from .naming import (
    all_scalar,
    assign_names,
    derivative,
    forward_subst,
    full_expr,
    mark_relevant,
    operand,
)
from .trace import (
    Graph,
    Item,
    Step,
    capture,
    elementwise,
    local_value,
    resolve_wrt,
    run_walk,
    seed_for,
)

if TYPE_CHECKING:
    from ..tensor import Tensor

__all__ = ["Explanation", "explain"]

MAX_PATHS = 12
MAX_PATH_STEPS = 8  # longer paths are not written out term by term


# --------------------------------------------------------------------------- document model

@dataclass
class Line:
    """``lhs rel rhs[0] = rhs[1] = ...  note``; a line without ``lhs`` is plain text."""

    lhs: M | None
    rhs: list[M] = field(default_factory=list)
    rel: str = "="
    note: M | str = ""
    text: str = ""

    def unicode(self) -> str:
        if self.lhs is None:
            return self.text
        parts = [self.lhs.u]
        if self.rhs:
            parts.append(f" {self.rel} " + " = ".join(r.u for r in self.rhs))
        note = self.note.u if isinstance(self.note, M) else self.note
        return "".join(parts) + (f"   ({note})" if note else "")

    def latex(self) -> str:
        if self.lhs is None:
            return r"\intertext{" + text_to_tex(self.text)[6:-1] + "}"
        rel = r"\mathrel{+}=" if self.rel == "+=" else "="
        body = self.lhs.t + (" &" + rel + " " + " = ".join(r.t for r in self.rhs)
                             if self.rhs else " &")
        if self.note:
            note = (self.note.t if isinstance(self.note, M) else text_to_tex(self.note))
            body += r" \quad " + (r"\left(" + note + r"\right)" if isinstance(self.note, M)
                                  else note)
        return body


@dataclass
class Block:
    title: M | None = None
    scope: tuple[str, ...] = ()
    lines: list[Line] = field(default_factory=list)
    item: str | None = None  # the node id this block is about

    def add(self, line: Line | None) -> None:
        if line is not None:
            self.lines.append(line)


@dataclass
class Section:
    title: str
    blocks: list[Block] = field(default_factory=list)
    table: list[tuple[M, M]] | None = None  # the summary: (name = value, gradient = value)


def _dedupe(rhs: list[M]) -> list[M]:
    out: list[M] = []
    for r in rhs:
        if not out or out[-1].u != r.u:
            out.append(r)
    return out


def _neg_paren(m: M) -> M:
    """A number as a later factor of a product: ``0.5 · (−18.0013)``."""
    return paren(m) if m.u.startswith(MINUS) else m


_MEAN_LOSSES = ("cross_entropy", "soft_cross_entropy")


def _op_formula(it: Item, i: int) -> str:
    """The op's derivative formula for input ``i``; a loss whose formula is written for the
    sum over the samples says what its ``reduction='mean'`` divides by (PyTorch's
    denominator: the number of samples, or Σ_n w[t_n] with class weights or ignored targets),
    since ∂ℒ/∂x is divided by it too."""
    node = it.node
    if node is None:
        return ""
    f = node.op.formula_for(i)
    if not f or it.op not in _MEAN_LOSSES or it.params.get("reduction", "mean") != "mean":
        return f
    x = it.inputs[0] if it.inputs else None
    t = it.inputs[1] if len(it.inputs) > 1 else None
    if x is None or x.value is None:
        return f
    shape = np.shape(x.value)
    denom: str = str(_sample_count(shape))
    if it.op == "cross_entropy" and t is not None and t.value is not None:
        target = np.asarray(t.value)
        if np.shape(target) == shape[:-1] and target.dtype.kind in "iu":
            valid = target != it.params.get("ignore_index", -100)
            w = it.params.get("weight")
            if w is not None or not valid.all():
                wv = np.ones(shape[-1]) if w is None else np.asarray(
                    w if isinstance(w, np.ndarray) else getattr(w, "data", w), dtype=np.float64)
                total = float((wv[np.where(valid, target, 0)] * valid).sum())
                if not total:  # every target ignored: ℒ is NaN (0/0), the gradient 0
                    return f + "; reduction='mean' divides by N = 0 here (every target is " \
                               "ignored): ℒ is NaN and the gradient 0"
                denom = f"Σ_n w[t_n] = {num(total, 6).u}"
    # (ℒ and the gradients of every input: this note ends the formula of each one)
    return f if denom == "1" else f + f"; reduction='mean' divides ℒ and its gradients by " \
                                      f"N = {denom}"


def _sample_count(shape: tuple) -> int:
    """The samples of class-last logits of ``shape`` (..., C): what a mean divides by."""
    return int(np.prod(shape[:-1])) if len(shape) > 1 else 1


def _ce_rule(n: Item, xs: list[Item], up: M | None) -> M | None:
    """``(softmax(u2) − onehot(c2))/3``: cross-entropy's gradient for its logits in the plain
    case (class indices, none ignored, no class weights, no smoothing, a scalar loss)."""
    p = n.params
    if (len(xs) < 2 or n.inputs[1] is not xs[1] or n.inputs[0] is not xs[0]
            or p.get("weight") is not None or p.get("label_smoothing")
            or p.get("reduction", "mean") not in ("mean", "sum")):
        return None
    x, t = xs
    if x.value is None or t.value is None:
        return None
    shape, target = np.shape(x.value), np.asarray(t.value)
    if (len(shape) < 1 or target.dtype.kind not in "iu" or target.shape != shape[:-1]
            or (target == p.get("ignore_index", -100)).any()):
        return None
    xm = x.m
    tm = t.m if t.prec >= ATOM else paren(t.m)
    body = M(f"softmax({xm.u}) {MINUS} onehot({tm.u})",
             rf"\operatorname{{softmax}}({xm.t}) - \operatorname{{onehot}}({tm.t})")
    nsamples = _sample_count(shape)
    if p.get("reduction", "mean") == "mean" and nsamples != 1:
        body = M(f"({body.u})/{nsamples}", rf"\frac{{{body.t}}}{{{nsamples}}}")
    if up is None:
        return body
    u = up if is_atom_name(up.u) else paren(up)
    return u + SPACED_DOT + (body if "/" in body.u else paren(body))


# --------------------------------------------------------------------------- explain()

def explain(output: Tensor, wrt: Any = None, gradient: Any = None, digits: int = 6, *,
            layers: bool | None = None) -> Explanation:
    """Show the chain rule at work on the recorded graph of ``output``, step by step.

    Parameters
    ----------
    output : Tensor
        The value to differentiate: a scalar, or any tensor together with ``gradient``.
    wrt : Tensor, list of Tensors, Module or its ``parameters()``/``named_parameters()``
        What to differentiate with respect to; by default every leaf that requires grad.
    gradient : array-like, optional
        ``∂L/∂output`` for a non-scalar output (the vector in the vector-Jacobian product).
    digits : int
        Significant digits of the numbers shown (the arrays keep full precision).
    layers : bool, optional
        Recognise linear layers ``u = W·a + b`` and their activations (δ notation); by
        default they are recognised where present.

    Returns
    -------
    Explanation
        Printable (``str``), and also ``to_markdown()``, ``to_latex()``, ``to_dict()``,
        ``to_json()``, ``to_html(path)`` (the animated page), with the gradients in
        ``.gradients``.

    The graph is not consumed (the walk retains it) and no ``.grad`` is written. Tensor hooks
    are not run: the explanation shows the chain rule itself.

    >>> import chainrule as cr
    >>> w = cr.tensor(3.0, requires_grad=True, name="w")
    >>> e = cr.explain((w * 2.0) ** 2)
    >>> float(e.gradients["w"])  # d/dw (2w)² = 8w
    24.0
    """
    if isinstance(digits, bool) or not isinstance(digits, (int, np.integer)) or digits < 1:
        raise ValueError(f"explain: digits must be an integer of at least 1, got {digits!r}")
    g = capture(output, walk=True, who="explain")
    seed = seed_for(output, gradient, "explain")
    run_walk(g, output, seed)
    targets = resolve_wrt(g, wrt)
    leaves = [it for it in g.items if it.kind == "leaf"]
    scalar = all_scalar(g)
    notation = "d" if scalar and len(leaves) == 1 and g.root is not None else "∂"
    assign_names(g, targets, layers=layers, digits=int(digits), notation=notation)
    if notation == "d" and g.layered:
        notation = "∂"
        assign_names(g, targets, layers=layers, digits=int(digits), notation=notation)
    mark_relevant(g, targets)
    return Explanation(g, targets, int(digits), notation, gradient is not None)


# --------------------------------------------------------------------------- Explanation

class Explanation:
    """The chain rule on one recorded graph, from the output down to each ``wrt`` tensor.

    ``str(e)`` is Unicode math for a terminal; ``e.to_markdown()``, ``e.to_latex()``,
    ``e.to_dict()``/``e.to_json()``, ``e.to_html(path)`` (the animated page) and the Jupyter
    hooks ``_repr_markdown_``/``_repr_html_`` show the same content. ``e.gradients`` maps each
    ``wrt`` name to its gradient (a NumPy array), ``e.value`` is the output's value.
    """

    def __init__(self, graph: Graph, wrt: list[Item], digits: int, notation: str,
                 given_gradient: bool = False) -> None:
        self.graph = graph
        self.wrt = wrt
        self.digits = digits
        self.notation = notation
        self._given = given_gradient
        self.title: str | None = None  # shown above the explanation (the examples set it)
        root = graph.root
        assert root is not None
        self.output = root.name
        self.value = root.value
        self.gradients: dict[str, np.ndarray] = {}
        for it in wrt:
            gr = it.grad if it.grad is not None else np.zeros_like(
                np.asarray(it.value, dtype=np.float64))
            self.gradients[it.name] = np.asarray(gr)
        self._steps_of: dict[str, list[Step]] = {}
        for s in graph.steps:
            self._steps_of.setdefault(s.node.id, []).append(s)
        self._scalar = all_scalar(graph)
        self.sections = [self._forward(), self._backward(), self._results(), self._summary()]

    # ------------------------------------------------------------------ helpers
    def _n(self, v: Any) -> M:
        return num(v, self.digits)

    def _brief(self, a: Any) -> M:
        if a is not None and np.size(a) == 1:
            return self._n(np.asarray(a).reshape(-1)[0])
        b = brief(a, self.digits)
        return M(b, text_to_tex(b))

    def _val(self, it: Item) -> list[M]:
        return [self._n(it.value)] if it.scalar else []

    def _note(self, a: Any) -> str:
        return "" if a is None or np.size(a) == 1 else summary(a, self.digits)

    def grad(self, key: Any) -> np.ndarray | None:
        """The gradient of a ``wrt`` tensor (by name or by the tensor itself)."""
        for it in self.wrt:
            if key is it.tensor or (isinstance(key, str) and key == it.name):
                return self.gradients[it.name]
        if isinstance(key, str):
            for it in self.graph.items:
                if it.name == key:
                    return it.grad
        return None

    def _d(self, num_it: Item, den_it: Item) -> M:
        if self.notation == "d":
            return derivative(num_it, den_it, "d", "d")
        return derivative(num_it, den_it)

    def _local_name(self, s: Step) -> M:
        """φ3′(u3) for an activation, else ∂out/∂in."""
        n, x = s.node, s.target
        if n.role == "activation" and n.layer is not None:
            arg = x.m if x.prec >= ATOM else paren(x.m)
            return M(f"φ{n.layer}′({arg.u})", rf"\varphi_{{{n.layer}}}'({arg.t})")
        return self._d(n, x)

    def _seed_is_one(self) -> bool:
        seed = self.graph.seed
        return seed is not None and seed.size == 1 and float(seed.reshape(-1)[0]) == 1.0

    def _upstream_sym(self, n: Item) -> M | None:
        """The symbol of ∂L/∂(n's output); None when it is the seed 1."""
        if n.is_root and self._seed_is_one():
            return None
        return n.gsym

    def _is_scalar_step(self, s: Step) -> bool:
        return s.upstream.size == 1 and s.contribution.size == 1

    # ------------------------------------------------------------------ symbols of a step
    def _operands(self, it: Item) -> list[Operand]:
        return [operand(x) for x in it.inputs if x is not None]

    def _value_operands(self, it: Item) -> list[Operand]:
        from ._math import number_operand

        return [number_operand(x.value, self.digits) for x in it.inputs if x is not None]

    def _input_pos(self, s: Step) -> int:
        """Index of the step's input among the item's array inputs (templates skip Nones)."""
        return sum(1 for x in s.node.inputs[: s.i] if x is not None)

    def _local_template(self, s: Step, values: bool = False) -> tuple[M, int] | None:
        n = s.node
        if not elementwise(n):
            return None
        args = self._value_operands(n) if values else self._operands(n)
        return local_expr(n.op, self._input_pos(s), args, n.params)

    def rule(self, s: Step) -> M:
        """The chain rule of a step, in symbols: ``∂L/∂a3 · φ3′(u3)``, ``δ4·a3``, ``Wᵀ·δ``."""
        if "rule" in s.cache:
            return s.cache["rule"]
        n = s.node
        head = n if n.role == "affine" else n.head if n.role in ("inner", "weight_t") else None
        if head is not None:
            r = self._affine_rule(head, s)
        else:
            r = self._generic_rule(s)
        s.cache["rule"] = r
        return r

    def _generic_rule(self, s: Step) -> M:
        n = s.node
        up = self._upstream_sym(n)
        upm = up if up is not None else lit("1")
        i = self._input_pos(s)
        scal = self._is_scalar_step(s)
        if elementwise(n):
            triv = is_trivial_local(n.op, i) if n.role != "activation" else None
            if triv == 1:
                return upm
            if triv == -1:
                return M(MINUS, "-") + (upm if up is None or is_atom_name(upm.u) else paren(upm))
            loc = self._local_name(s)
            if n.op == "mul" and n.role != "activation":
                tmpl = self._local_template(s)
                if tmpl is not None:
                    loc = wrap(Operand(tmpl[0], tmpl[1]), ATOM if not scal else MUL)
            if up is None:
                return loc
            return up + (SPACED_DOT if scal else HADAMARD) + loc
        op = n.op
        xs = [x for x in n.inputs if x is not None]
        if op == "matmul" and len(xs) == 2:
            return self._matmul_rule(up or lit("1"), xs[0], xs[1], i)
        if op == "sum":
            return upm
        if op == "mean":
            count = max(1, int(np.prod(xs[0].shape)) // max(1, int(np.prod(n.shape))))
            return M(f"{upm.u}/{count}", rf"\frac{{{upm.t}}}{{{count}}}")
        if op == "permute" and len(n.shape) == 2:
            w = upm if is_atom_name(upm.u) else paren(upm)
            return M(w.u + "ᵀ", f"{{{w.t}}}^{{\\top}}")
        if op in ("reshape", "identity", "clone", "cast"):
            return upm
        if op == "cross_entropy":
            ce = _ce_rule(n, xs, up)
            if ce is not None:
                return ce
        if scal and local_value(s) is not None:  # numbers: the plain chain rule (custom ops)
            loc = self._local_name(s)
            return loc if up is None else up + SPACED_DOT + loc
        return M(f"vjp_{op}({upm.u})", rf"\operatorname{{vjp}}_{{\mathrm{{{op}}}}}({upm.t})")

    def _matmul_rule(self, up: M, a: Item, b: Item, i: int) -> M:
        grad = _matmul_grad(("A", len(a.shape)), ("B", len(b.shape)), wrt_right=i == 1)
        symbols = {"A": wrap(Operand(a.m, a.prec), ATOM), "B": wrap(Operand(b.m, b.prec), ATOM),
                   DELTA: up if is_atom_name(up.u) else paren(up)}
        return _product_math(grad, symbols)

    def _affine_rule(self, head: Item, s: Step) -> M:
        """Rules of a linear layer u = W·a + b (or a·Wᵀ + b), by which part the step reaches."""
        parts = head.parts
        delta = head.gsym
        x = s.target
        W, a = parts["W"], parts["a"]
        if x is parts.get("b"):
            if np.size(s.contribution) == np.size(s.upstream):  # (a (1, n) bias of (n,)
                return delta  # units holds δ itself: nothing is summed)
            if _bias_sum(head) == "axes":  # shared by the units too: not a sum over samples
                return M(f"Σ {delta.u}", rf"\sum {delta.t}")
            return M(f"Σₙ {delta.u}", rf"\sum_n {delta.t}")
        am = a.m if a.prec >= ATOM else paren(a.m)
        if x is parts.get("wt"):  # to Wᵀ, the right operand of a·Wᵀ
            return _product_math(_weight_t_grad(len(a.shape)), {"a": am, DELTA: delta})
        wrt_W = x is W
        if not wrt_W and x is not a:
            return delta  # inside the layer (to W·a): δ passes on
        form = _form(head)
        if form == "W·a (scalar)":  # numbers, or an elementwise product
            times = DOT if s.upstream.size == 1 else HADAMARD
            return cat(delta, times, am) if wrt_W else cat(W.m, times, delta)
        return _product_math(_layer_grad(form, len(a.shape), wrt_W, len(W.shape)),
                             {"W": W.m, "a": am, DELTA: delta})

    def _product_text(self, s: Step, local: np.ndarray | None) -> M | None:
        """``−9.00067 · 0.00134095`` for a scalar step."""
        if not self._is_scalar_step(s):
            return None
        n = s.node
        head = n if n.role == "affine" else n.head if n.role in ("inner", "weight_t") else None
        if head is not None:
            x = s.target
            if x is not head.parts["W"] and x is not head.parts["a"]:
                return None  # the bias (δ itself), or a step inside the layer
            other = head.parts["a"] if x is head.parts["W"] else head.parts["W"]
            d = self._n(s.upstream)
            o = self._n(other.value) if other.scalar else None
            if o is None:
                return None
            return cat(d, SPACED_DOT, _neg_paren(o)) if x is head.parts["W"] else cat(
                o, SPACED_DOT, _neg_paren(d))
        i = self._input_pos(s)
        if elementwise(n) and is_trivial_local(n.op, i) and n.role != "activation":
            return None
        if local is None or np.size(local) != 1:
            return None
        if n.is_root and self._seed_is_one():
            return None
        return cat(self._n(s.upstream), SPACED_DOT, _neg_paren(self._n(local)))

    # ------------------------------------------------------------------ forward
    def _forward(self) -> Section:
        sec = Section("Forward pass")
        g = self.graph
        inputs = Block(lit("inputs"))
        for it in g.items:
            if it.kind == "op" or (it.kind == "constant" and not it.name):
                continue
            kind = "requires grad" if it.kind == "leaf" else "constant"
            note = kind if it.scalar else f"{kind}; {summary(it.value, self.digits)}"
            inputs.add(Line(it.m, self._val(it), note=note))
        if inputs.lines:
            sec.blocks.append(inputs)
        block: Block | None = None
        for it in g.ops:
            if it.inline:
                continue
            if block is None or block.scope != it.scope:
                block = Block(lit("/".join(it.scope)) if it.scope else None, it.scope)
                sec.blocks.append(block)
            block.add(self._forward_line(it))
        return sec

    def _forward_line(self, it: Item) -> Line:
        assert it.expr is not None
        rhs = [] if it.inline else [it.expr]
        if it.scalar and it.value is not None:
            subst = forward_subst(it, self.digits)
            if subst is not None and it.op not in ("identity", "clone"):
                rhs.append(subst)
            rhs.append(self._n(it.value))
        note = "" if it.scalar else summary(it.value, self.digits)
        return Line(it.m, _dedupe(rhs), note=note)

    def forward_text(self, it: Item) -> str:
        return self._forward_line(it).unicode()

    # ------------------------------------------------------------------ backward
    def _backward(self) -> Section:
        g = self.graph
        root = g.root
        assert root is not None
        d, r = ("d" if self.notation == "d" else "∂"), root.name
        sec = Section(f"Backward pass (each step: {d}{r}/{d}in = {d}{r}/{d}out · {d}out/{d}in)")
        seed = Block()
        if self._seed_is_one():
            seed.add(Line(root.gsym, [self._n(1)], note="the seed"))
        else:
            seed.add(Line(root.gsym, self._val(root) and [self._n(g.seed)],
                          note="the seed: the given gradient"
                          + ("" if g.seed is None or g.seed.size == 1
                             else "; " + summary(g.seed, self.digits))))
        sec.blocks.append(seed)
        for it in g.visits:
            if it.role in ("inner", "weight_t") and it.head is not None:
                continue
            b = self._node_block(it)
            if b is not None:
                sec.blocks.append(b)
        return sec

    def _steps(self, it: Item) -> list[Step]:
        steps = list(self._steps_of.get(it.id, []))
        if it.role == "affine":
            for key in ("inner", "wt"):
                part = it.parts.get(key)
                if part is not None:
                    steps += self._steps_of.get(part.id, [])
        return steps

    def _head_line(self, it: Item) -> Line | None:
        """The gradient arriving at ``it``: with several consumers, the sum of one term each."""
        if it.is_root:
            return None
        terms = _ordered(it.terms)
        if len(terms) > 1:
            rhs = [join([self._term(t) for t in terms], PLUS)]
            if it.scalar:
                vals = [self._n(t.contribution) for t in terms]
                rhs.append(join([vals[0]] + [_neg_paren(v) for v in vals[1:]], PLUS))
                rhs.append(self._n(it.grad))
            return Line(it.gsym, rhs, note=self._note(it.grad))
        if it.grad is None:
            return None
        return Line(it.gsym, [self._n(it.grad)] if it.scalar else [],
                    note=self._note(it.grad))

    def _term(self, s: Step) -> M:
        r = self.rule(s)
        return r if r.u.count(" ") == 0 or len(s.target.terms) < 2 else paren(r)

    def _node_block(self, it: Item) -> Block | None:
        steps = [s for s in self._steps(it) if s.target.relevant]
        if not steps:
            return None
        assert it.expr is not None
        title = it.m if it.inline else cat(it.m, EQ, it.expr)
        block = Block(title, it.scope, item=it.id)
        block.add(self._head_line(it))
        if it.role == "affine":
            self._affine_body(it, steps, block)
            return block
        formulas: set[str] = set()
        for s in steps:
            f = _op_formula(it, s.i)
            if f and f not in formulas:
                formulas.add(f)
                # (some formulas name their op already: "reshape: ∂y/∂x is the identity")
                block.add(Line(None, text=f if f.startswith(f"{it.op}:") else f"{it.op}: {f}"))
            block.add(self._local_line(s))
            block.add(self._chain_line(s))
        return block

    def _local_line(self, s: Step) -> Line | None:
        n = s.node
        if not elementwise(n):
            return None
        i = self._input_pos(s)
        if is_trivial_local(n.op, i) is not None and n.role != "activation":
            return None
        if n.op == "mul" and n.role != "activation":
            return None
        lhs = self._local_name(s)
        tmpl = self._local_template(s)
        lv = local_value(s)
        if self._is_scalar_step(s) and lv is not None and np.size(lv) == 1:
            value = self._n(lv)
            subst = self._local_template(s, values=True)
            if n.role == "activation":
                rhs = [subst[0]] if subst is not None and has_function(subst[0]) else []
                return Line(lhs, _dedupe(rhs + [value]))
            rhs = []
            if tmpl is not None:
                rhs.append(tmpl[0])
                if subst is not None and has_function(subst[0]):
                    rhs.append(subst[0])
            return Line(lhs, _dedupe(rhs + [value]))
        rhs = [tmpl[0]] if tmpl is not None else []
        return Line(lhs, rhs, note=self._note(lv) if lv is not None else "")

    def _chain_line(self, s: Step) -> Line | None:
        n, x = s.node, s.target
        if n.is_root and self._seed_is_one() and elementwise(n) and \
                self._local_line(s) is not None and len(x.terms) == 1:
            return None  # ∂L/∂x is the local derivative itself, shown just above
        rel = "+=" if len(x.terms) > 1 else "="
        rhs = [self.rule(s)]
        recurrence = self._recurrence(s)
        if recurrence is not None:
            rhs.append(recurrence)
        scal = self._is_scalar_step(s)
        if scal:
            prod = self._product_text(s, local_value(s))
            if prod is not None:
                rhs.append(prod)
            rhs.append(self._n(s.contribution))
        note = "" if scal else summary(s.contribution, self.digits)
        if not scal and s.contribution.shape != s.upstream.shape and elementwise(n):
            note += f"; summed over the broadcast axes to shape {shape_text(x.shape)}"
        shapes = self._shapes_note(s)
        if shapes:
            note = f"{shapes}; {note}" if note else shapes
        rhs = [r for r in rhs if r.u != x.gsym.u]  # never "dz/dx = dz/dx = 0.16"
        return Line(x.gsym, _dedupe(rhs), rel=rel, note=note)

    def _recurrence(self, s: Step) -> M | None:
        """δ3 = ∂L/∂a3 ⊙ φ3′(u3) = (W4ᵀ·δ4) ⊙ φ3′(u3): the upstream spelled by the layer above."""
        n = s.node
        if n.role != "activation" or len(n.terms) != 1:
            return None
        t = n.terms[0]
        if t.node.role not in ("affine", "inner") or n.is_root:
            return None
        up = self.rule(t)
        joiner = SPACED_DOT if self._is_scalar_step(s) else HADAMARD
        return cat(paren(up) if " " in up.u or "·" in up.u else up, joiner, self._local_name(s))

    def _shapes_note(self, s: Step) -> str:
        """``shapes (4×3) = (4×1)·(1×3)`` for the matrix steps of a linear layer or a matmul
        (a vector is a column)."""
        n = s.node
        if s.contribution.size == 1:
            return ""
        head = n if n.role == "affine" else n.head if n.role in ("inner", "weight_t") else None
        if head is not None:
            return self._layer_shapes_note(head, s)
        if n.op != "matmul":
            return ""
        xs = [y for y in n.inputs if y is not None]
        if len(xs) != 2 or min(len(xs[0].shape), len(xs[1].shape)) < 1:
            return ""
        A, B = xs
        wrt_B = self._input_pos(s) != 0
        grad = _matmul_grad(("A", len(A.shape)), ("B", len(B.shape)), wrt_right=wrt_B)
        if grad.dot:
            return ""  # a number times a vector
        d = _delta_shape(np.shape(s.upstream), len(A.shape), len(B.shape))
        return _shapes_text(grad, {"A": A.shape, "B": B.shape, DELTA: d},
                            B.shape if wrt_B else A.shape)

    def _layer_shapes_note(self, head: Item, s: Step) -> str:
        """The shapes note of a linear layer's step to W, Wᵀ or a (none to b or inside)."""
        x = s.target
        W, a = head.parts["W"], head.parts["a"]
        form = _form(head)
        wt = x is head.parts.get("wt")
        if form == "W·a (scalar)" or (x is not W and x is not a and not wt):
            return ""
        d = _delta_shape(_product_shape(head), len(W.shape), len(a.shape))
        grad = (_weight_t_grad(len(a.shape)) if wt
                else _layer_grad(form, len(a.shape), x is W, len(W.shape)))
        return _shapes_text(grad, {"W": W.shape, "a": a.shape, DELTA: d}, x.shape)

    def _affine_body(self, head: Item, steps: list[Step], block: Block) -> None:
        parts = head.parts
        form = _form(head)
        if form == "W·a (scalar)":
            rule = self._unit_rule(head)
        else:
            dW, da = (_product_math(_layer_grad(form, len(parts["a"].shape), wrt_W,
                                                len(parts["W"].shape)), _LETTERS).u
                      for wrt_W in (True, False))
            db = {"": "δ", "batch": "Σₙ δ (over the batch)",
                  "axes": "Σ δ (over the axes b is broadcast along)"}[_bias_sum(head)]
            rule = (f"linear layer u = {form} + b, δ = ∂L/∂u: ∂L/∂W = {dW}, ∂L/∂a = {da}, "
                    f"∂L/∂b = {db}")
        if "b" not in parts:
            rule = rule.replace(" + b", "").rsplit(", ∂L/∂b", 1)[0]
        if self.notation != "d":
            rule = rule.replace("∂L", "∂" + (self.graph.root.name if self.graph.root else "L"))
        block.add(Line(None, text=rule))
        order = [parts.get("b"), parts["W"], parts["a"]]
        for target in order:
            if target is None:
                continue
            for s in steps:
                if s.target is target:
                    block.add(self._chain_line(s))

    @staticmethod
    def _unit_rule(head: Item) -> str:
        """The rules of u = W·a + b with W·a a product of numbers, or an elementwise product
        (each part then summed over the axes where it is broadcast, as its steps say)."""
        if head.scalar:
            return "linear unit u = W·a + b, δ = ∂L/∂u: ∂L/∂W = δ·a, ∂L/∂a = W·δ, ∂L/∂b = δ"
        rule = ("linear unit u = W·a + b (elementwise), δ = ∂L/∂u: ∂L/∂W = δ ⊙ a, "
                "∂L/∂a = W ⊙ δ, ∂L/∂b = δ")
        if any(p.shape != head.shape for k, p in head.parts.items() if k in ("W", "a", "b")):
            rule += ", each summed over the axes it is broadcast along"
        return rule

    # ------------------------------------------------------------------ results
    def _paths(self, it: Item) -> list[list[Step]] | None:
        """Every path from the output down to ``it``, as the list of its steps (bottom first);
        None when there are too many."""
        out: list[list[Step]] = []

        def up(x: Item, path: list[Step]) -> bool:
            if x.is_root:
                out.append(path)
                return len(out) <= MAX_PATHS
            if len(path) >= MAX_PATH_STEPS:  # too long to write out (and deep graphs would
                return False                 # exhaust the recursion)
            for s in _ordered(x.terms):
                if not up(s.node, path + [s]):
                    return False
            return True

        return out if up(it, []) else None

    def _path_line(self, it: Item, path: list[Step]) -> tuple[M, M, float]:
        """(∂L/∂u·∂u/∂x, cos(2.25)·3, value) for one path."""
        syms: list[M] = []
        atoms: list[M] = []
        value = 1.0 if self.graph.seed is None else float(self.graph.seed.reshape(-1)[0])
        if not self._seed_is_one():
            atoms.append(self._n(value))
        for s in reversed(path):
            syms.append(self._local_name(s))
            lv = local_value(s)
            f = float(np.asarray(lv).reshape(-1)[0]) if lv is not None else float("nan")
            value *= f
            if f == 1.0:
                continue
            subst = self._local_template(s, values=True)
            if subst is not None and has_function(subst[0]) and subst[1] >= ATOM:
                atoms.append(subst[0])
            else:
                atoms.append(self._n(f) if not atoms else _neg_paren(self._n(f)))
        if not atoms:
            atoms.append(self._n(1))
        return join(syms, SPACED_DOT), join(atoms, DOT), value

    def _results(self) -> Section:
        sec = Section("Gradients")
        block = Block()
        root = self.graph.root
        assert root is not None
        for it in self.wrt:
            if it.grad is None or not it.relevant:
                block.add(Line(it.gsym, [self._n(0)],
                               note=f"{it.name} does not affect {root.name}"))
                continue
            if it.is_root:
                block.add(Line(it.gsym, [self._n(1)] if it.scalar else [],
                               note=self._note(it.grad)))
                continue
            paths = self._paths(it) if self._scalar and not self.graph.layered else None
            if paths:
                lines = [self._path_line(it, p) for p in paths]
                if len(lines) == 1:
                    sym, atoms, _ = lines[0]
                    block.add(Line(it.gsym, _dedupe([atoms, self._n(it.grad)]),
                                   note=sym if sym.u != it.gsym.u else ""))
                else:
                    block.add(Line(it.gsym, [join([s for s, _, _ in lines], PLUS)],
                                   note=f"one term per path: {len(lines)} paths"))
                    vals = [self._n(v) for _, _, v in lines]
                    block.add(Line(it.gsym, [join([vals[0]] + [_neg_paren(v) for v in vals[1:]],
                                                  PLUS), self._n(it.grad)]))
                continue
            if len(it.terms) > 1:
                terms = _ordered(it.terms)
                rhs = [join([self._term(t) for t in terms], PLUS)]
                if it.scalar:
                    vals = [self._n(t.contribution) for t in terms]
                    rhs.append(join([vals[0]] + [_neg_paren(v) for v in vals[1:]], PLUS))
                    rhs.append(self._n(it.grad))
                block.add(Line(it.gsym, rhs, note=self._note(it.grad)))
                continue
            rule = self.rule(it.terms[0]) if it.terms else None
            if it.scalar:
                block.add(Line(it.gsym, [self._n(it.grad)], note=rule or ""))
            else:
                block.add(Line(it.gsym, [rule] if rule is not None else [],
                               note=summary(it.grad, self.digits)))
        sec.blocks.append(block)
        return sec

    def _summary(self) -> Section:
        sec = Section("Summary (value, gradient)")
        rows: list[tuple[M, M]] = []
        for it in self.graph.items:
            if it.inline or (it.kind == "constant" and not it.name):
                continue
            left = cat(it.m, EQ, self._brief(it.value))
            if it.kind == "constant":
                right = lit("")
            else:
                right = cat(it.gsym, EQ, self._brief(it.grad)) if (
                    it.grad is not None) else cat(it.gsym, EQ, self._n(0))
            rows.append((left, right))
        sec.table = rows
        return sec

    # ------------------------------------------------------------------ rendering
    def _header(self) -> str:
        root = self.graph.root
        assert root is not None
        names = ", ".join(it.name for it in self.wrt) or "(nothing)"
        d = "d" if self.notation == "d" else "∂"
        what = f"{d}{root.name}/{d}({names})" if len(self.wrt) != 1 else \
            f"{d}{root.name}/{d}{self.wrt[0].name}"
        full = full_expr(root) if root.kind == "op" else None
        shown = full if full is not None else root.expr
        expr = f" of {root.name} = {shown.u}" if shown is not None else ""
        seed = "" if not self._given else "; seed: the given gradient"
        return f"The chain rule for {what}{expr}{seed}"

    def _lines(self) -> Iterator[tuple[int, str, Any]]:
        """(level, kind, payload) for every piece of the document."""
        if self.title:
            yield 0, "title", self.title
        yield 0, "title", self._header()
        for sec in self.sections:
            yield 0, "section", sec.title
            if sec.table is not None:
                yield 1, "table", sec.table
            for b in sec.blocks:
                if b.title is not None:
                    tag = f"[{'/'.join(b.scope)}] " if b.scope and b.item else ""
                    yield 1, "block", (tag, b.title)
                for ln in b.lines:
                    yield 2 if b.title is not None else 1, "line", ln

    def __str__(self) -> str:
        out: list[str] = []
        for level, kind, p in self._lines():
            ind = "  " * level
            if kind == "title":
                out.append(p)
            elif kind == "section":
                out.append("")
                out.append(p)
            elif kind == "block":
                tag, title = p
                out.append(f"{ind}{tag}{title.u}")
            elif kind == "line":
                out.append(ind + p.unicode())
            elif kind == "table":
                width = max((len(a.u) for a, _ in p), default=0)
                for a, b in p:
                    out.append((ind + a.u.ljust(width) + "   " + b.u).rstrip())
        return "\n".join(out) + "\n"

    to_text = __str__

    def __repr__(self) -> str:
        return f"<Explanation of {self._header()[len('The chain rule for '):]}>"

    def to_markdown(self) -> str:
        """The explanation as Markdown (Unicode math in the text)."""
        out: list[str] = []
        for _level, kind, p in self._lines():
            if kind == "title":
                out.append(f"### {_md(p)}")
            elif kind == "section":
                out.append("")
                out.append(f"**{_md(p)}**")
                out.append("")
            elif kind == "block":
                tag, title = p
                out.append(f"- *{_md(tag)}{_md(title.u)}*")
            elif kind == "line":
                out.append(("  - " if _level >= 2 else "- ") + _md(p.unicode()))
            elif kind == "table":
                out.append("| value | gradient |")
                out.append("|---|---|")
                for a, b in p:
                    out.append(f"| {_md(a.u, table=True)} | {_md(b.u, table=True)} |")
        return "\n".join(out) + "\n"

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    def to_latex(self) -> str:
        """The explanation as LaTeX (amsmath ``align*`` environments)."""
        out: list[str] = []
        in_align = False

        def close() -> None:
            nonlocal in_align
            if in_align:
                if out[-1].endswith(r" \\"):
                    out[-1] = out[-1][:-3]
                out.append(r"\end{align*}")
                in_align = False

        def open_() -> None:
            nonlocal in_align
            if not in_align:
                out.append(r"\begin{align*}")
                in_align = True

        for _level, kind, p in self._lines():
            if kind == "title":
                out.append(r"\paragraph{" + text_to_tex(p)[6:-1] + "}")
            elif kind == "section":
                close()
                out.append(r"\subsubsection*{" + text_to_tex(p)[6:-1] + "}")
            elif kind == "block":
                tag, title = p
                open_()
                label = (text_to_tex(tag)[6:-1] + " ") if tag else ""
                plain = re.fullmatch(r"[A-Za-z0-9_/ .-]+", title.u)  # a scope's name: text
                body = text_to_tex(title.u)[6:-1] if plain else "$" + title.t + "$"
                out.append(r"\intertext{" + label + body + "}")
            elif kind == "line":
                open_()
                out.append(p.latex() + ("" if p.lhs is None else r" \\"))
            elif kind == "table":
                open_()
                for a, b in p:
                    out.append(a.t + r" &\quad " + b.t + r" \\")
        close()
        return "\n".join(out) + "\n"

    def _repr_html_(self) -> str:
        esc = _html.escape
        out = ['<div class="chainrule-explanation" style="font-family:sans-serif">']
        open_list = False
        for level, kind, p in self._lines():
            if kind in ("title", "section", "table") and open_list:
                out.append("</ul>")
                open_list = False
            if kind == "title":
                out.append(f"<h4>{esc(p)}</h4>")
            elif kind == "section":
                out.append(f"<p><b>{esc(p)}</b></p>")
            elif kind in ("block", "line"):
                if not open_list:
                    out.append('<ul style="list-style:none;padding-left:1em">')
                    open_list = True
                pad = "" if level < 2 else ' style="padding-left:1.5em"'
                if kind == "block":
                    tag, title = p
                    out.append(f"<li><i>{esc(tag + title.u)}</i></li>")
                else:
                    out.append(f"<li{pad}><code>{esc(p.unicode())}</code></li>")
            elif kind == "table":
                out.append("<table><tr><th>value</th><th>gradient</th></tr>")
                for a, b in p:
                    out.append(f"<tr><td><code>{esc(a.u)}</code></td>"
                               f"<td><code>{esc(b.u)}</code></td></tr>")
                out.append("</table>")
        if open_list:
            out.append("</ul>")
        out.append("</div>")
        return "\n".join(out)

    # ------------------------------------------------------------------ data
    def to_dict(self) -> dict[str, Any]:
        """Everything as plain Python data (arrays as nested lists, non-finite as strings)."""
        g = self.graph
        root = g.root
        assert root is not None
        nodes: list[dict[str, Any]] = []
        for it in g.items:
            nodes.append({
                "id": it.id, "name": it.name, "kind": it.kind, "op": it.op or None,
                "expression": it.expr.u if it.expr is not None else None,
                "scope": "/".join(it.scope) or None, "shape": list(it.shape),
                "value": _plain(it.value), "grad": _plain(it.grad),
                "grad_symbol": it.gsym.u, "layer": it.layer, "role": it.role,
                "inputs": [x.id if x is not None else None for x in it.inputs],
            })
        steps: list[dict[str, Any]] = []
        for s in g.steps:
            op = s.node.node.op if s.node.node is not None else None
            line = self._chain_line(s)
            steps.append({
                "index": s.index, "node": s.node.id, "input_index": s.i,
                "target": s.target.id, "op": s.node.op,
                "formula": _op_formula(s.node, s.i) if op is not None else "",
                "rule": self.rule(s).u, "upstream": _plain(s.upstream),
                "local": _plain(local_value(s)), "contribution": _plain(s.contribution),
                "text": line.unicode() if line is not None else "",
            })
        sections = []
        for sec in self.sections:
            blocks = []
            for b in sec.blocks:
                blocks.append({"title": b.title.u if b.title is not None else None,
                               "scope": "/".join(b.scope) or None,
                               "lines": [ln.unicode() for ln in b.lines],
                               "latex": [ln.latex() for ln in b.lines]})
            entry: dict[str, Any] = {"title": sec.title, "blocks": blocks}
            if sec.table is not None:
                entry["table"] = [[a.u, b.u] for a, b in sec.table]
            sections.append(entry)
        gradients = {}
        for it in self.wrt:
            gradients[it.name] = {
                "id": it.id, "symbol": it.gsym.u, "value": _plain(self.gradients[it.name]),
                "terms": [{"via": s.node.name, "rule": self.rule(s).u,
                           "value": _plain(s.contribution)} for s in it.terms],
            }
        return {
            "title": self._header(), "output": root.name, "value": _plain(root.value),
            "seed": _plain(g.seed), "digits": self.digits, "notation": self.notation,
            "layered": g.layered, "wrt": [it.name for it in self.wrt], "nodes": nodes,
            "steps": steps, "gradients": gradients, "sections": sections,
            "text": str(self),
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False, allow_nan=False)

    def trace(self, title: str | None = None) -> dict[str, Any]:
        """The trace (see ``chainrule.explain.html``) of this graph: forward steps in
        topological order, then one backward step per step of the walk."""
        g = self.graph
        root = g.root
        assert root is not None
        d = self.digits
        nodes: list[dict[str, Any]] = []
        edges: list[dict[str, Any]] = []
        steps: list[dict[str, Any]] = []
        for it in g.items:
            op = it.node.op if it.node is not None else None
            kind = "output" if it.is_root else ("op" if it.kind == "op" else it.kind)
            nodes.append({
                "id": it.id, "label": it.name or it.m.u, "kind": kind,
                "op": it.op or None,
                "formula": "; ".join(f for f in op.formulas if f) if op is not None else None,
                "shape": list(it.shape), "value": short(it.value, d),
                "grad": short(it.grad, d) if it.grad is not None and it.kind != "constant"
                else None,
                "value_full": _full(it.value), "grad_full": _full(it.grad),
            })
            for pos, x in enumerate(it.inputs):
                if x is not None:
                    edges.append({"source": x.id, "target": it.id, "input_index": pos})
        for it in g.ops:
            line = self._forward_line(it)
            steps.append({"phase": "forward", "node": it.id, "text": line.unicode(),
                          "value": short(it.value, d)})
        seed = g.seed
        steps.append({"phase": "backward", "node": root.id,
                      "text": f"{root.gsym.u} = {short(seed, d)} (the seed)", "upstream": None,
                      "local": None, "grad": short(seed, d), "edge": None, "target": None})
        for s in g.steps:
            line = self._chain_line(s) or Line(s.target.gsym, [self.rule(s)])
            lv = local_value(s)
            op = s.node.node.op if s.node.node is not None else None
            local = short(lv, d) if lv is not None else (
                _op_formula(s.node, s.i) if op is not None else "")
            text = line.unicode()
            if s.contribution.size == 1 and short(s.contribution, d) not in text:
                text += f" = {short(s.contribution, d)}"
            steps.append({"phase": "backward", "node": s.node.id, "text": text,
                          "upstream": short(s.upstream, d), "local": local,
                          "grad": short(s.contribution, d), "edge": [s.target.id, s.node.id],
                          "target": s.target.id})
        return {"title": title or self._header(), "nodes": nodes, "edges": edges,
                "steps": steps}

    def to_html(self, path: str | Path, title: str | None = None) -> Path:
        """Write the animated backward pass of this graph: one self-contained HTML file."""
        from .html import write_html

        return write_html(self.trace(title), path)


def _ordered(steps: list[Step]) -> list[Step]:
    """Terms of a sum in the order their consumers were computed (the walk meets them in
    reverse)."""
    return sorted(steps, key=lambda s: (s.node.order, s.i))


def _form(head: Item) -> str:
    """How a linear layer is written: "W·a", "a·W", "a·Wᵀ" (PyTorch's linear), or
    "W·a (scalar)" (a product of numbers or an elementwise product). PyTorch's linear of one
    vector (no batch) is W·a."""
    form = str(head.params.get("_form", "W·a"))
    a = head.parts.get("a")
    if form == "a·Wᵀ" and a is not None and len(a.shape) == 1:
        return "W·a"
    return form


def _product_shape(head: Item) -> tuple[int, ...]:
    """The shape of a linear layer's product W·a, whose gradient is the δ of its rules: u's
    own, but for a bias that adds axes of size 1 (a vector's x·W + b with b of shape (1×n)).
    naming.detect_layers takes no bias that broadcasts the product to more values."""
    inner = head.parts.get("inner")
    if inner is not None:
        return inner.shape
    W, a = head.parts["W"], head.parts["a"]
    if head.op == "linear":  # one fused op: x·Wᵀ has x's batch axes, then W's rows
        return (*a.shape[:-1], W.shape[0])
    return head.shape


def _bias_sum(head: Item) -> str:
    """How ∂L/∂b of a linear layer sums δ: "" when b has u's shape; "batch" when b is shared
    by the samples (rows of a·W, columns of W·a, batch axes); "axes" when it is shared by
    the units too (a scalar bias, or one per sample): then it is no sum over the batch."""
    b = head.parts.get("b")
    if b is None or np.prod(b.shape) == np.prod(head.shape):  # one b per entry of u
        return ""
    shape = head.shape
    padded = (1,) * (len(shape) - len(b.shape)) + b.shape
    shared = {i - len(shape) for i, (n, m) in enumerate(zip(shape, padded)) if m == 1 and n > 1}
    unit = _unit_axis(head)
    return "axes" if unit is not None and unit in shared else "batch"


def _unit_axis(head: Item) -> int | None:
    """The axis of u = W·a + b (negative) along which the layer's units lie; None for one
    unit (X·w with a vector w) or an elementwise unit."""
    form = _form(head)
    W, a = head.parts["W"], head.parts["a"]
    if form == "W·a (scalar)":
        return None
    if form == "W·a":
        return -2 if len(a.shape) >= 2 else -1
    return -1 if len(W.shape) >= 2 else None


# ------------------------------------------------------------------ matrix products
# The gradient of a matrix product is itself a product of two factors, each an operand or
# δ = ∂L/∂u, maybe transposed. _matmul_grad is the one place that works out which: the rule
# of a step writes the factors in symbols, its shapes note writes their shapes.

DELTA = "δ"


class _Factor(NamedTuple):
    of: str  # an operand's letter, or DELTA
    transposed: bool = False


class _Product(NamedTuple):
    """∂L/∂x of a matrix product, as first·second."""

    first: _Factor
    second: _Factor
    dot: bool = False  # of a dot product: δ is a number and there are no matrix shapes


def _matmul_grad(left: tuple[str, int], right: tuple[str, int], wrt_right: bool) -> _Product:
    """∂L/∂left or ∂L/∂right of u = left·right, the operands given as (letter, ndim). A vector
    is a column; batch axes ride along."""
    (a, a_ndim), (b, b_ndim) = left, right
    if a_ndim == 1 and b_ndim == 1:  # a dot product
        return _Product(_Factor(DELTA), _Factor(a if wrt_right else b), dot=True)
    if a_ndim == 1:  # u = a·B is Bᵀ·a: ∂B = a·δᵀ (an outer product), ∂a = B·δ
        if wrt_right:
            return _Product(_Factor(a), _Factor(DELTA, True))
        return _Product(_Factor(b), _Factor(DELTA))
    if wrt_right:  # ∂B = Aᵀ·δ (also for a vector b)
        return _Product(_Factor(a, True), _Factor(DELTA))
    return _Product(_Factor(DELTA), _Factor(b, True))  # ∂A = δ·Bᵀ (outer product for a vector b)


def _layer_grad(form: str, a_ndim: int, wrt_W: bool, w_ndim: int = 2) -> _Product:
    """∂L/∂W or ∂L/∂a of a linear layer written ``form`` (see _form; not "W·a (scalar)").
    W is a matrix, or a vector on the right of a matrix a (see naming._weight_of)."""
    if form == "a·Wᵀ":  # u = a·B with B = Wᵀ (a is a matrix here): ∂W = (aᵀ·δ)ᵀ, ∂a = δ·(Wᵀ)ᵀ
        if wrt_W:
            return _Product(_Factor(DELTA, True), _Factor("a"))
        return _Product(_Factor(DELTA), _Factor("W"))
    W = ("W", w_ndim)
    if form == "W·a":
        return _matmul_grad(W, ("a", a_ndim), wrt_right=not wrt_W)
    return _matmul_grad(("a", a_ndim), W, wrt_right=wrt_W)


def _weight_t_grad(a_ndim: int) -> _Product:
    """∂L/∂Wᵀ of a linear layer u = a·Wᵀ (the step to the transpose): Wᵀ is the right operand,
    so aᵀ·δ (a·δᵀ, an outer product, for a vector a)."""
    return _matmul_grad(("a", a_ndim), ("Wᵀ", 2), wrt_right=True)


def _delta_shape(shape: tuple[int, ...], left_ndim: int, right_ndim: int) -> tuple[int, ...]:
    """δ = ∂L/∂u as a matrix in the rules of u = left·right: a column (batch axes and all) when
    one operand is a vector, as that operand is a column and u = A·b (or Bᵀ·a) one too."""
    return (*shape, 1) if (left_ndim == 1) != (right_ndim == 1) else shape


_LETTERS = {"W": lit("W"), "a": lit("a"), DELTA: lit(DELTA)}
_TRANSPOSE = M("ᵀ", r"^{\top}")


def _product_math(grad: _Product, symbols: dict[str, M]) -> M:
    """``Aᵀ·δ`` with each letter replaced by its symbol."""
    first, second = (cat(symbols[f.of], _TRANSPOSE) if f.transposed else symbols[f.of]
                     for f in (grad.first, grad.second))
    return cat(first, DOT, second)


def _shapes_text(grad: _Product, shapes: dict[str, tuple[int, ...]],
                 target: tuple[int, ...]) -> str:
    """``shapes (4×3) = (4×1)·(1×3)``: the gradient's shape, then its factors' (δ's as given by
    _delta_shape)."""
    factors = [shapes[f.of] for f in (grad.first, grad.second)]
    eq = "·".join(mshape(sh, f.transposed) for sh, f in zip(factors, (grad.first, grad.second)))
    return f"shapes {mshape(target)} = {eq}" + _batch_note(target, factors)


def _batch_note(target: tuple[int, ...], factors: list[tuple[int, ...]]) -> str:
    """``; summed over the batch axes`` when the batch axes of the matrix product on the right
    (its factors' broadcast together) hold more than the gradient's: the gradient is the sum of
    the product over the extra ones."""
    batch = np.broadcast_shapes(*(tuple(f[:-2]) for f in factors))
    own = tuple(target[:-2])
    own = (1,) * (len(batch) - len(own)) + own
    return "; summed over the batch axes" if int(np.prod(batch)) > int(np.prod(own)) else ""


def _full(a: Any) -> Any:
    if a is None:
        return None
    arr = np.asarray(a)
    return _plain(arr) if arr.size <= 10_000 else None


def _plain(a: Any) -> Any:
    if a is None:
        return None
    arr = np.asarray(a)
    if arr.dtype.kind == "b":
        return arr.tolist()
    if arr.dtype.kind not in "iuf":
        return str(arr)
    if arr.ndim == 0:
        return _finite(arr.item())
    return _nested(arr.tolist())


def _nested(x: Any) -> Any:
    if isinstance(x, list):
        return [_nested(v) for v in x]
    return _finite(x)


def _finite(v: Any) -> Any:
    if isinstance(v, float) and not np.isfinite(v):
        return str(v)
    return v


def _md(text: str, table: bool = False) -> str:
    """Text for Markdown: its markup characters escaped, and ``<``/``&`` as entities so that a
    tensor's name is never read as HTML."""
    out = text.replace("&", "&amp;").replace("<", "&lt;")
    out = out.replace("\\", "\\\\").replace("*", "\\*").replace("_", "\\_").replace("`", "\\`")
    return out.replace("|", "\\|") if table else out

