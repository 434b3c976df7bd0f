"""Names for everything in a captured graph, and how each op's output is written.

Precedence: a name the user gave (``cr.tensor(..., name="W1")``, ``t.name = "u1"``, a module
parameter's path ``fc1.weight``); then, in a network, ``u_k`` for the k-th linear layer's
pre-activation ``W·a + b`` and ``a_k`` for its activation (k counts linear layers along the
deepest path, so it is the depth); the output is ``L`` (a network's loss) or ``z``. Other
intermediate values are named after their expression (``(z − y)²``) in a network, or get the
letters u, v, w, ... of the textbooks in a small expression. Unnamed leaves are ``x``,
``x1``, ``x2``...; constants are written as their value.
"""

from __future__ import annotations

import numpy as np

from ._math import ATOM, POW, M, Operand, forward_expr, lit, name, number_operand, paren
from .trace import Graph, Item

ACTIVATIONS = frozenset(
    "identity tanh sigmoid relu leaky_relu elu selu celu gelu silu mish softplus softsign "
    "hardtanh relu6 logsigmoid".split())
LETTERS = ("u", "v", "w", "p", "q", "r", "s")
MAX_INLINE = 24  # longest expression used as a name


def _is_param(it: Item | None) -> bool:
    return it is not None and it.kind == "leaf" and it.requires_grad


def _is_module_param(it: Item) -> bool:
    from ..nn.parameter import Parameter

    return isinstance(it.tensor, Parameter)


def _weight_of(m: Item, b: Item | None = None) -> tuple[Item, Item | None, Item, int] | None:
    """For ``W·a`` (mul or matmul, ``W`` a parameter or, on the right of a matmul, a
    transposed parameter ``Wᵀ``): (W, the transpose item or None, a, the position of W).

    The weight of a matmul is a trained leaf: a matrix (at least 2-D), or a vector on the
    right of a matrix (``X·w + b``: a column, whose rules are a matrix's). A vector on the left
    is none (``w·X`` is ``wᵀ·X``, with no weight matrix in it): that product is a layer only
    when X is the trained matrix, as in ``x·W + b``. When both operands could be the weight,
    see _pick_weight; when nothing tells them apart there is no layer (its summary would name
    W arbitrarily) and the plain product rules are shown."""
    if m.op not in ("mul", "matmul") or len(m.inputs) != 2:
        return None
    x, y = m.inputs
    if x is None or y is None:
        return None
    if m.op == "mul":
        for pos, (w, a) in enumerate(((x, y), (y, x))):
            if _is_param(w) and (not _is_param(a) or pos == 0):
                return w, None, a, pos
        return None
    if (y.kind == "op" and y.op == "permute" and len(y.shape) == 2 and len(y.consumers) == 1
            and _is_param(y.inputs[0] if y.inputs else None)):
        src = y.inputs[0]
        assert src is not None
        return src, y, x, 1
    left = _is_param(x) and len(x.shape) >= 2
    right = _is_param(y) and len(y.shape) >= (1 if len(x.shape) >= 2 else 2)
    if left and right:
        side = _pick_weight(x, y, b, m)
    else:
        side = 0 if left else 1 if right else None
    if side is None:
        return None
    return (x, None, y, 0) if side == 0 else (y, None, x, 1)


def _pick_weight(x: Item, y: Item, b: Item | None, m: Item) -> int | None:
    """Which of two trained operands of ``m = x·y`` (x a matrix) is the layer's weight: 0 for
    x, 1 for y, None when nothing tells. In order: a module's ``Parameter`` over a tensor that
    merely requires grad (data one wants the gradient of); the matrix over a vector (``W·a``
    for a vector a, as ``a·W`` is for a vector on the left); the bias: one per column is that
    of ``a·W + b``, one per row that of ``W·a + b``."""
    px, py = _is_module_param(x), _is_module_param(y)
    if px != py:
        return 0 if px else 1
    if len(y.shape) == 1:
        return 0
    return _bias_side(b, m)


def _bias_side(b: Item | None, m: Item) -> int | None:
    """1 when the bias ``b`` added to the matrix ``m`` is the same for every row but not for
    every column (that of ``a·W + b``, a row per sample), 0 when the same for every column but
    not for every row (that of ``W·a + b``), None otherwise (a scalar, or one per entry)."""
    if b is None or len(m.shape) < 2:
        return None
    rows, cols = (1, 1, *b.shape)[-2:]
    if rows == 1 and cols != 1:
        return 1
    if cols == 1 and rows != 1:
        return 0
    return None


def _same_size(u: Item, product: Item) -> bool:
    """Whether ``u = product + b`` holds as many values as the product: the bias does not
    broadcast the product up (a product (3×1) plus a bias (5) is (3×5)). Only then is the
    gradient of u that of the product, the δ of a layer's rules."""
    return int(np.prod(u.shape)) == int(np.prod(product.shape))


def detect_layers(g: Graph) -> None:
    """Mark linear layers ``u = W·a + b`` (also ``a·Wᵀ + b`` and a bias-free matmul) and the
    elementwise activation applied to each; number them by depth."""
    for it in g.ops:
        if it.op != "add" or len(it.inputs) != 2 or it.role is not None:
            continue
        for mpos in (0, 1):
            m, b = it.inputs[mpos], it.inputs[1 - mpos]
            if m is None or b is None or m.kind != "op" or not _is_param(b):
                continue
            if len(m.consumers) != 1 or m.role is not None or not _same_size(it, m):
                continue
            found = _weight_of(m, b)
            if found is None:
                continue
            w, wt, a, wpos = found
            if not _distinct(w, a, b):
                continue
            _mark_affine(it, m, w, wt, a, b, wpos)
            break
    for it in g.ops:
        if it.op == "matmul" and it.role is None:
            found = _weight_of(it)
            if found is not None and len(found[0].shape) >= 2 and _distinct(found[0], found[2]):
                w, wt, a, wpos = found
                _mark_affine(it, None, w, wt, a, None, wpos)
        elif it.op == "linear" and it.role is None and len(it.inputs) >= 2:
            xin, win = it.inputs[0], it.inputs[1]
            bin_ = it.inputs[2] if len(it.inputs) > 2 else None
            if xin is not None and win is not None and _is_param(win) and _distinct(
                    xin, win, bin_):
                _mark_affine(it, None, win, None, xin, bin_ if _is_param(bin_) else None, 1)
                it.params["_form"] = "a·Wᵀ"
    depth: dict[str, int] = {}
    for it in g.items:
        d = max((depth.get(x.id, 0) for x in it.inputs if x is not None), default=0)
        if it.role == "affine":
            d += 1
            it.layer = d
        depth[it.id] = d
    for it in g.ops:
        src = it.inputs[0] if it.inputs else None
        tensor_inputs = [x for x in it.inputs if x is not None and x.kind != "constant"]
        if (it.op in ACTIVATIONS and src is not None and src.role == "affine"
                and len(tensor_inputs) == 1 and len(src.consumers) == 1):
            it.role = "activation"
            it.layer = src.layer
            it.head = src
    g.layered = any(it.role == "affine" for it in g.items)


def _distinct(*parts: Item | None) -> bool:
    """W, a and b of a linear layer are three different values: ``x·y + x`` (one value in two
    roles) is no layer, and its steps could not be told apart by their target."""
    present = [p for p in parts if p is not None]
    return len({id(p) for p in present}) == len(present)


def _mark_affine(it: Item, inner: Item | None, w: Item, wt: Item | None, a: Item,
                 b: Item | None, wpos: int) -> None:
    it.role = "affine"
    it.parts = {"W": w, "a": a}
    if b is not None:
        it.parts["b"] = b
    if inner is not None:
        inner.role = "inner"
        inner.head = it
        it.parts["inner"] = inner
    if wt is not None:
        wt.role = "weight_t"
        wt.head = it
        it.parts["wt"] = wt
    if inner is not None and inner.op == "mul":
        form = "W·a (scalar)"
    elif wt is not None:
        form = "a·Wᵀ"
    else:
        form = "W·a" if wpos == 0 else "a·W"
    it.params = dict(it.params, _wpos=wpos, _form=form)


def _unique(base: str, used: set[str]) -> str:
    n = base
    while n in used:
        n += "′"
    used.add(n)
    return n


def assign_names(g: Graph, wrt: list[Item], *, layers: bool | None, digits: int,
                 notation: str) -> None:
    """Fill in ``name``, ``m`` (the name as math), ``expr`` and ``gsym`` of every item."""
    if layers is not False:
        detect_layers(g)
    used: set[str] = set()
    everything = g.items + [w for w in wrt if w not in g.items]
    for it in everything:  # the user's names first
        label = _user_name(it)
        if label:
            it.name = _unique(label, used)
            it.user_named = True
        elif it.user_named and it.name:  # from wrt=(name, tensor) pairs
            it.name = _unique(it.name, used)
    root = g.root
    assert root is not None
    if not root.name:
        root.name = _unique("L" if g.layered and root.scalar else "z", used)
    if g.layered:
        for it in g.items:
            if not it.name and it.role in ("affine", "activation"):
                it.name = _unique(("u" if it.role == "affine" else "a") + str(it.layer), used)
    unnamed_ops = [it for it in g.ops if not it.name]
    if not g.layered:
        pool = [c for c in LETTERS if c not in used]
        letters = len(unnamed_ops) <= len(pool)
        for k, it in enumerate(unnamed_ops):
            it.name = _unique(pool[k] if letters else f"h{k + 1}", used)
    leaves = [it for it in everything if it.kind == "leaf" and not it.name]
    for k, it in enumerate(leaves):
        it.name = _unique("x" if len(leaves) == 1 else f"x{k + 1}", used)
    consts = [it for it in everything if it.kind == "constant" and not it.name
              and not it.scalar]
    for k, it in enumerate(consts):
        single = len(consts) == 1 and "x" not in used
        it.name = _unique("x" if single else f"c{k + 1}", used)
    for it in everything:
        if it.name:
            it.m = name(it.name)
        elif it.kind == "constant":
            num = number_operand(it.value, digits)
            it.m, it.prec = num.m, num.prec
    hidden = 0
    for it in g.ops:  # expressions, in topological order
        it.expr, it.expr_prec = forward_expr(it.op, [operand(x) for x in it.inputs if x],
                                             _shown_params(it),
                                             [x.shape for x in it.inputs if x])
        if not it.name:
            if len(it.expr.u) <= MAX_INLINE:
                it.inline = True
                it.m, it.prec, it.name = it.expr, it.expr_prec, it.expr.u
            else:
                hidden += 1
                it.name = _unique(f"h{hidden}", used)
                it.m = name(it.name)
    _gradient_symbols(g, wrt, notation)


def _shown_params(it: Item) -> dict:
    return {k: v for k, v in it.params.items() if not k.startswith("_")}


def _user_name(it: Item) -> str | None:
    if it.tensor is not None:
        n = getattr(it.tensor, "name", None)
        return str(n) if n else None
    if it.output is not None:
        n = getattr(it.output, "name", None)
        return str(n) if n else None
    return None


def operand(it: Item) -> Operand:
    """An item as an operand of its consumer's expression."""
    if it.kind == "constant" and not it.name:
        return number_operand(it.value, 6) if it.scalar else Operand(lit("c"))
    return Operand(it.m, it.prec if it.inline else ATOM, False, it.value)


def value_operand(it: Item, digits: int) -> Operand:
    """An item as an operand with its value substituted (inline expressions expanded)."""
    if it.inline and it.kind == "op":
        m, prec = _subst(it, digits)
        return Operand(m, prec)
    if not it.scalar:
        raise ValueError("not a scalar")
    num = number_operand(it.value, digits)  # a literal number stays first in a product
    return Operand(num.m, num.prec, it.kind == "constant" and not it.name, num.value)


def _subst(it: Item, digits: int) -> tuple[M, int]:
    args = [value_operand(x, digits) for x in it.inputs if x]
    return forward_expr(it.op, args, _shown_params(it), [x.shape for x in it.inputs if x])


def forward_subst(it: Item, digits: int) -> M | None:
    """The item's expression with every named operand replaced by its value; None unless
    every value involved is a scalar."""
    try:
        return _subst(it, digits)[0]
    except ValueError:
        return None


def full_expr(it: Item, limit: int = 64) -> M | None:
    """The output written in the leaves alone (``sin(x²)``), or None if longer than ``limit``."""
    memo: dict[str, tuple[M, int]] = {}

    def rec(x: Item) -> tuple[M, int]:
        if x.kind != "op":
            op_ = operand(x)
            return op_.m, op_.prec
        if x.id not in memo:
            args = []
            for y in x.inputs:
                if y is not None:
                    m, p = rec(y)
                    args.append(Operand(m, p, y.kind == "constant" and not y.name, y.value))
            memo[x.id] = forward_expr(x.op, args, _shown_params(x),
                                      [y.shape for y in x.inputs if y])
            if len(memo[x.id][0].u) > limit:
                raise OverflowError
        return memo[x.id]

    try:
        return rec(it)[0]
    except (OverflowError, RecursionError):
        return None


def _gradient_symbols(g: Graph, wrt: list[Item], notation: str) -> None:
    root = g.root
    assert root is not None
    d = "d" if notation == "d" else "∂"
    dt = "d" if notation == "d" else r"\partial "
    used: set[str] = set()
    for it in g.items + [w for w in wrt if w not in g.items]:
        if it.role == "affine" and it.layer is not None:
            sym = _unique(f"δ{it.layer}", used)
            it.gsym = name(sym)
        else:
            it.gsym = derivative(root, it, d, dt)


def derivative(num: Item, den: Item, d: str = "∂", dt: str = r"\partial ") -> M:
    """``∂L/∂W4`` (``dz/du`` in the single-variable notation)."""
    nm = num.m if num.prec >= POW else paren(num.m)
    dm = den.m if den.prec >= POW else paren(den.m)
    return M(f"{d}{nm.u}/{d}{dm.u}", rf"\frac{{{dt}{nm.t}}}{{{dt}{dm.t}}}")


def mark_relevant(g: Graph, wrt: list[Item]) -> None:
    """An item is relevant if a ``wrt`` item is among its inputs, recursively."""
    targets = {w.id for w in wrt}
    for it in g.items:
        it.relevant = it.id in targets or any(
            x is not None and x.relevant for x in it.inputs)


def all_scalar(g: Graph) -> bool:
    return all(it.value is None or np.size(it.value) == 1 for it in g.items)
