"""The worked examples of the chain-rule texts, built on the real engine.

Each example builds its graph with chainrule ops (float64) and returns the output and the
tensors to explain; ``chainrule explain --example NAME`` prints them.

* ``sin-square``: z = sin(x²) at x = 1.5 (dz/dx = cos(x²)·2x).
* ``cube-of-square``: z = (x² + 1)³ at x = 0.7 (dz/dx = 3(x² + 1)²·2x).
* ``exp-log``: z = exp(ln((3x)²)) = 9x² at x = 1 (four nested functions; dz/dx = 18x).
* ``four-layer``: the scalar 4-layer network x = 2, W = (1, 2, 1, 1), b = 0, activations
  identity, identity, tanh, identity, loss ½(z − 10)².
* ``two-layer``: a vector network u1 = W1·x + b1, a1 = tanh(u1), z = W2·a1 + b2,
  L = ½‖z − y‖², in matrix form.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..ops import elementwise as E
from .explanation import Explanation, explain


@dataclass(frozen=True)
class Example:
    name: str
    title: str
    build: Callable[[], tuple[Any, list[Any]]]  # () -> (output, wrt)

    def explain(self, digits: int = 6) -> Explanation:
        out, wrt = self.build()
        e = explain(out, wrt=wrt, digits=digits)
        e.title = self.title
        return e


def _t(v: Any, name: str, grad: bool = True) -> Any:
    """A float64 tensor with a name."""
    import chainrule as cr

    return cr.tensor(v, dtype=cr.float64, requires_grad=grad, name=name)


def sin_square(x0: float = 1.5) -> tuple[Any, list[Any]]:

    x = _t(x0, "x")
    u = x ** 2
    u.name = "u"
    z = E.sin(u)
    z.name = "z"
    return z, [x]


def cube_of_square(x0: float = 0.7) -> tuple[Any, list[Any]]:
    x = _t(x0, "x")
    u = x ** 2
    u.name = "u"
    v = u + 1
    v.name = "v"
    z = v ** 3
    z.name = "z"
    return z, [x]


def exp_log(x0: float = 1.0) -> tuple[Any, list[Any]]:

    x = _t(x0, "x")
    u = 3 * x
    u.name = "u"
    v = u ** 2
    v.name = "v"
    w = E.log(v)
    w.name = "w"
    z = E.exp(w)
    z.name = "z"
    return z, [x]


FOUR_LAYER: dict[str, Any] = {"x": 2.0, "W": (1.0, 2.0, 1.0, 1.0), "b": (0.0, 0.0, 0.0, 0.0),
              "phi": ("identity", "identity", "tanh", "identity"), "y": 10.0}


def four_layer() -> tuple[Any, list[Any]]:
    """The texts' scalar network; returns (L, [W1, b1, ..., W4, b4])."""
    import chainrule as cr
    from chainrule.ops.shape import identity

    spec = FOUR_LAYER
    x = _t(spec["x"], "x", grad=False)
    y = _t(spec["y"], "y", grad=False)
    a = x
    params: list[Any] = []
    for k, (w0, b0, phi) in enumerate(zip(spec["W"], spec["b"], spec["phi"]), start=1):
        W, b = _t(w0, f"W{k}"), _t(b0, f"b{k}")
        params += [W, b]
        with cr.name_scope(f"layer{k}"):
            u = W * a + b
            u.name = f"u{k}"
            a = E.tanh(u) if phi == "tanh" else identity(u)
            a.name = f"a{k}" if k < 4 else "z"
    with cr.name_scope("loss"):
        L = 0.5 * (a - y) ** 2
    L.name = "L"
    return L, params


def two_layer() -> tuple[Any, list[Any]]:
    """A small vector network in matrix form: x ∈ R³, 4 hidden tanh units, 2 outputs."""
    import chainrule as cr

    x = _t([1.0, -0.5, 2.0], "x", grad=False)
    y = _t([1.0, 0.0], "y", grad=False)
    W1 = _t(np.array([[0.2, -0.1, 0.4], [0.5, 0.3, -0.2], [-0.3, 0.8, 0.1],
                      [0.1, 0.1, 0.1]]), "W1")
    b1 = _t([0.1, 0.0, -0.1, 0.2], "b1")
    W2 = _t(np.array([[0.3, -0.4, 0.2, 0.5], [-0.1, 0.2, 0.6, -0.3]]), "W2")
    b2 = _t([0.0, 0.1], "b2")
    with cr.name_scope("layer1"):
        u1 = W1 @ x + b1
        a1 = E.tanh(u1)
    with cr.name_scope("layer2"):
        z = W2 @ a1 + b2
    z.name = "z"
    with cr.name_scope("loss"):
        L = 0.5 * ((z - y) ** 2).sum()
    L.name = "L"
    return L, [W1, b1, W2, b2]


EXAMPLES: dict[str, Example] = {
    "four-layer": Example("four-layer", "The 4-layer scalar network of the texts", four_layer),
    "sin-square": Example("sin-square", "z = sin(x²) at x = 1.5", sin_square),
    "cube-of-square": Example("cube-of-square", "z = (x² + 1)³ at x = 0.7", cube_of_square),
    "exp-log": Example("exp-log", "z = exp(ln((3x)²)) = 9x² at x = 1", exp_log),
    "two-layer": Example("two-layer", "A two-layer network in matrix form", two_layer),
}


def example(name: str, digits: int = 6) -> Explanation:
    """The explanation of a built-in example by name (see ``EXAMPLES``)."""
    try:
        ex = EXAMPLES[name]
    except KeyError:
        raise ValueError(f"unknown example {name!r}; choose one of: "
                         + ", ".join(EXAMPLES)) from None
    return ex.explain(digits)
