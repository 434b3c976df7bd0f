"""Gradient checking: the texts' ``gradient_check`` beside ``cr.gradcheck`` (practice problem 3).

"The Chain Rule in Machine Learning" (section 12.1) checks an analytic gradient against
central differences, one coordinate at a time:

    numerical_grad[i] = (f(x + h·e_i) − f(x − h·e_i)) / (2h),   h = 1e-5
    pass if ‖analytic − numerical‖ < 1e-7

``cr.gradcheck(f, inputs)`` does the same for every input that requires grad and every
output element (the whole Jacobian, in float64), compares element by element with a
relative and an absolute tolerance, and raises ``cr.GradcheckError`` naming the input, the
element and both values when they disagree.

The script
  1. checks chainrule's gradient of a small network's loss both ways (both pass);
  2. writes a backward pass by hand with a classic mistake, σ'(z) = σ(z)(1 + σ(z)),
     and shows that the texts' check catches it;
  3. defines an op with a wrong derivative rule (tanh' = 1 − tanh, the square forgotten)
     and shows that ``cr.gradcheck`` catches it and says where.
It exits with status 1 if a correct gradient fails or a wrong one slips through.

Run: python examples/gradient_checking.py
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import numpy as np

import chainrule as cr


def gradient_check(f: Callable[[np.ndarray], float], x: np.ndarray, analytic_grad: np.ndarray,
                   h: float = 1e-5) -> tuple[bool, float]:
    """The texts' check (returning the error too): central differences, one x_i at a time."""
    numerical_grad = np.zeros_like(x)
    for i in range(len(x)):
        x_plus = x.copy()
        x_minus = x.copy()
        x_plus[i] += h
        x_minus[i] -= h
        numerical_grad[i] = (f(x_plus) - f(x_minus)) / (2 * h)
    error = float(np.linalg.norm(analytic_grad - numerical_grad))
    return error < 1e-7, error


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


# A tiny network with its parameters packed in one flat vector θ = (W1, b1, w2),
# so that the texts' one-dimensional ``gradient_check`` applies directly.
rng = np.random.default_rng(0)
X = rng.normal(size=(6, 3))
T = rng.normal(size=6)
SHAPES = {"W1": (3, 4), "b1": (4,), "w2": (4,)}
SIZES = [int(np.prod(s)) for s in SHAPES.values()]


def unpack(theta: np.ndarray) -> list[np.ndarray]:
    parts = np.split(theta, np.cumsum(SIZES)[:-1])
    return [p.reshape(s) for p, s in zip(parts, SHAPES.values())]


def loss_numpy(theta: np.ndarray) -> float:
    W1, b1, w2 = unpack(theta)
    y = sigmoid(X @ W1 + b1) @ w2
    return float(np.mean((y - T) ** 2))


def loss_chainrule(theta: cr.Tensor) -> cr.Tensor:
    W1 = theta[:12].reshape(3, 4)
    b1 = theta[12:16]
    w2 = theta[16:]
    y = cr.sigmoid(cr.tensor(X) @ W1 + b1) @ w2
    return ((y - cr.tensor(T)) ** 2).mean()


def backward_by_hand(theta: np.ndarray, sigmoid_derivative: Callable) -> np.ndarray:
    """∂L/∂θ written out with the chain rule, using the given σ'."""
    W1, b1, w2 = unpack(theta)
    z = X @ W1 + b1
    h = sigmoid(z)
    y = h @ w2
    dL_dy = 2 * (y - T) / len(T)
    dL_dw2 = h.T @ dL_dy
    dL_dz = np.outer(dL_dy, w2) * sigmoid_derivative(z)
    return np.concatenate([(X.T @ dL_dz).ravel(), dL_dz.sum(axis=0), dL_dw2])


def main() -> int:
    problems: list[str] = []
    theta0 = rng.normal(size=sum(SIZES))

    print(f"1. chainrule's gradient of a small network's loss ({sum(SIZES)} parameters)")
    theta = cr.tensor(theta0, requires_grad=True)
    loss_chainrule(theta).backward()
    assert theta.grad is not None
    passed, error = gradient_check(loss_numpy, theta0, theta.grad.numpy())
    print(f"  texts' gradient_check: ‖analytic − numerical‖ = {error:.2e}  -> {passed}")
    passed_cr = cr.gradcheck(loss_chainrule, (cr.tensor(theta0, requires_grad=True),))
    print(f"  cr.gradcheck: every Jacobian element within tolerance -> {passed_cr}")
    if not (passed and passed_cr):
        problems.append("a correct gradient failed its check")

    print("\n2. A backward pass by hand, with σ'(z) = σ(z)(1 − σ(z)) and with a typo")
    right = backward_by_hand(theta0, lambda z: sigmoid(z) * (1 - sigmoid(z)))
    wrong = backward_by_hand(theta0, lambda z: sigmoid(z) * (1 + sigmoid(z)))
    ok_right, err_right = gradient_check(loss_numpy, theta0, right)
    ok_wrong, err_wrong = gradient_check(loss_numpy, theta0, wrong)
    print(f"  σ(1 − σ): error {err_right:.2e} -> {'passes' if ok_right else 'FAILS'}")
    print(f"  σ(1 + σ): error {err_wrong:.2e} -> {'passes' if ok_wrong else 'caught'}")
    if not ok_right:
        problems.append("the correct hand-written backward failed")
    if ok_wrong:
        problems.append("the wrong hand-written backward was not caught")

    print("\n3. An op with a wrong derivative rule, caught by cr.gradcheck")

    @cr.custom_op(formula="d/dx tanh(x) = 1 - tanh(x)   (wrong: should be 1 - tanh(x)^2)")
    def bad_tanh(x: np.ndarray) -> np.ndarray:
        return np.tanh(x)

    @bad_tanh.defvjp
    def _(g: cr.Tensor, ans: cr.Tensor, x: cr.Tensor) -> cr.Tensor:
        return g * (1 - cr.tanh(x))  # the square is missing

    x = cr.tensor([0.0, 0.5, -1.0], dtype=cr.float64, requires_grad=True)
    try:
        cr.gradcheck(bad_tanh, (x,))
    except cr.GradcheckError as e:
        print(f"  caught: {e}")
    else:
        problems.append("cr.gradcheck did not catch the wrong tanh derivative")
    # At x = 0 tanh = 0, so 1 − tanh and 1 − tanh² agree: a check at that point alone
    # would miss the bug. Check at several points, away from special values.
    at_zero = cr.gradcheck(bad_tanh, (cr.tensor([0.0], dtype=cr.float64, requires_grad=True),))
    print(f"  the same check at x = 0 only -> {at_zero} (1 − tanh(0) = 1 − tanh²(0))")

    if problems:
        print(f"\nFAILED: {'; '.join(problems)}")
        return 1
    print("\nBoth checks accept the right gradients and catch the wrong ones.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
