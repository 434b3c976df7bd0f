"""A new activation function and its derivative, as a chainrule op (practice problem 2).

"Squareplus" is a smooth ReLU built from a square root instead of an exponential:

    squareplus(x)  = (x + √(x² + b)) / 2            (b = 4 here)
    squareplus'(x) = (1 + x / √(x² + b)) / 2
    squareplus''(x) = b / (2 (x² + b)^(3/2))

``@cr.custom_op`` turns the NumPy forward into an op; ``defvjp`` gives its backward rule,
``g · squareplus'(x)`` (the upstream gradient times the local derivative — the chain
rule). The rule is written with chainrule ops, so it can be differentiated again.

The script checks the rule three ways:
  * ``cr.gradcheck`` — the VJP against central differences (first order);
  * ``cr.gradgradcheck`` — the second derivative, through the differentiable rule;
  * inside a small network, against the same network built from primitive ops
    (whose gradient chainrule derives by itself).

Run: python examples/custom_activation.py
"""

from __future__ import annotations

import sys

import numpy as np
from _report import Report

import chainrule as cr

B = 4.0


@cr.custom_op(formula=f"d/dx squareplus(x) = (1 + x / sqrt(x^2 + {B:g})) / 2")
def squareplus(x: np.ndarray) -> np.ndarray:
    """(x + √(x² + b)) / 2, a smooth ReLU."""
    return (x + np.sqrt(x * x + B)) / 2


@squareplus.defvjp
def _squareplus_vjp(g: cr.Tensor, ans: cr.Tensor, x: cr.Tensor) -> cr.Tensor:
    # upstream gradient × local derivative
    return g * (1 + x / cr.sqrt(x * x + B)) / 2


def squareplus_composite(x: cr.Tensor) -> cr.Tensor:
    """The same function from primitive ops: chainrule derives its gradient itself."""
    return (x + cr.sqrt(x * x + B)) / 2


def main() -> int:
    report = Report()
    rng = np.random.default_rng(0)

    print("squareplus(x) = (x + sqrt(x^2 + 4)) / 2, its derivative by hand and by autodiff")
    xs = np.array([-3.0, -1.0, 0.0, 0.5, 2.0])
    x = cr.tensor(xs, requires_grad=True)
    y = squareplus(x)
    y.sum().backward()
    report.check("f(x)", (xs + np.sqrt(xs ** 2 + B)) / 2, y.detach(), labels=("NumPy", "op"))
    report.check("f'(x)", (1 + xs / np.sqrt(xs ** 2 + B)) / 2, x.grad,
                 labels=("by hand", "autodiff"))

    print("\ncr.gradcheck (the VJP rule against central differences)")
    x64 = cr.tensor(rng.normal(size=(3, 4)) * 3, requires_grad=True)
    ok1 = cr.gradcheck(squareplus, (x64,))
    print(f"  gradcheck(squareplus)     -> {ok1}")
    ok2 = cr.gradgradcheck(squareplus, (x64,))
    print(f"  gradgradcheck(squareplus) -> {ok2}")
    second = cr.grad(cr.grad(lambda t: squareplus(t).sum()))
    x0 = cr.tensor(0.5, dtype=cr.float64, requires_grad=True)
    report.check("f''(0.5)", B / 2 / (0.5 ** 2 + B) ** 1.5, second(x0),
                 labels=("by hand", "grad∘grad"))
    if not (ok1 and ok2):
        report.failures.append("gradcheck")

    print("\nIn a network: an MLP 3 → 5 → 1 with squareplus, loss = mean((y − t)²)")
    X = cr.tensor(rng.normal(size=(8, 3)))
    T = cr.tensor(rng.normal(size=(8, 1)))
    W1 = rng.normal(size=(3, 5))
    W2 = rng.normal(size=(5, 1))

    def loss_and_grads(activation):  # type: ignore[no-untyped-def]
        w1 = cr.tensor(W1, requires_grad=True)
        w2 = cr.tensor(W2, requires_grad=True)
        loss = ((activation(X @ w1) @ w2 - T) ** 2).mean()
        loss.backward()
        return loss.detach(), w1.grad, w2.grad

    custom = loss_and_grads(squareplus)
    composite = loss_and_grads(squareplus_composite)
    labels = ("custom op", "composite")
    report.check("loss", custom[0], composite[0], labels=labels)
    report.check("∂L/∂W1", custom[1].numpy(), composite[1], labels=labels)
    report.check("∂L/∂W2", custom[2].numpy(), composite[2], labels=labels)
    print(f"\nThe op's formula, as the explain tools show it: {squareplus.formula}")
    return report.finish("The custom activation's derivative checks out.")


if __name__ == "__main__":
    sys.exit(main())
