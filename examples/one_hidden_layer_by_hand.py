"""A network with one hidden layer: forward and backward by hand, checked against chainrule.

Two worked examples from the chain-rule texts:

1. The scalar network of "The Chain Rule in Machine Learning" (section 3.1/4.1):
       h = σ(w1·x + b1),  y = w2·h + b2,  L = (y − t)²
   with ∂L/∂w1 = 2(y − t) · w2 · σ'(w1·x + b1) · x.

2. The two-layer network of "The Chain Rule in Artificial Neural Networks", in matrix form,
   once with a linear output and once with a sigmoid output (the text's two choices of f2):
       z1 = W1 x + b1,  h = f1(z1) = sigmoid(z1)
       z2 = W2 h + b2,  y = f2(z2) = z2  or  sigmoid(z2)
       L  = ½ ‖y − t‖²
   and its six backward steps:
       ∂L/∂y  = y − t
       ∂L/∂z2 = ∂L/∂y ⊙ f2'(z2)      (f2' = 1 for the linear output, σ(z2)(1 − σ(z2)) else)
       ∂L/∂W2 = ∂L/∂z2 · hᵀ          ∂L/∂b2 = ∂L/∂z2
       ∂L/∂h  = W2ᵀ · ∂L/∂z2
       ∂L/∂z1 = ∂L/∂h ⊙ f1'(z1)
       ∂L/∂W1 = ∂L/∂z1 · xᵀ          ∂L/∂b1 = ∂L/∂z1

Each gradient is computed twice, by the formulas above in NumPy and by ``L.backward()``;
the script prints both and exits with status 1 if any pair differs.

Run: python examples/one_hidden_layer_by_hand.py
"""

from __future__ import annotations

import sys

import numpy as np
from _report import Report  # examples/_report.py: prints both values, counts mismatches

import chainrule as cr

report = Report()


def sigmoid(z: np.ndarray | float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(z)))


def sigmoid_derivative(z: np.ndarray | float) -> np.ndarray:
    s = sigmoid(z)
    return s * (1.0 - s)


def scalar_network() -> dict[str, float]:
    """The hand-computed loss and gradients (checked against chainrule on the way)."""
    print("1. Scalar network: h = σ(w1·x + b1), y = w2·h + b2, L = (y − t)²")
    x, t = 1.5, 0.25
    w1, b1, w2, b2 = 0.8, -0.3, 1.7, 0.1

    # forward, keeping every intermediate value
    z1 = w1 * x + b1
    h = float(sigmoid(z1))
    y = w2 * h + b2
    loss = (y - t) ** 2
    # backward: the chain rule, one local derivative at a time
    dL_dy = 2 * (y - t)
    dL_dw2 = dL_dy * h
    dL_db2 = dL_dy
    dL_dh = dL_dy * w2
    dL_dz1 = dL_dh * float(sigmoid_derivative(z1))
    dL_dw1 = dL_dz1 * x
    dL_db1 = dL_dz1
    print(f"  forward: z1 = {z1:.6g}, h = {h:.6g}, y = {y:.6g}, L = {loss:.6g}")
    print(f"  ∂L/∂w1 = 2(y − t)·w2·σ'(z1)·x = {dL_dw1:.10g}")

    # the same network in chainrule
    p = {k: cr.tensor(v, dtype=cr.float64, requires_grad=True)
         for k, v in {"w1": w1, "b1": b1, "w2": w2, "b2": b2}.items()}
    h_t = cr.sigmoid(p["w1"] * x + p["b1"])
    loss_t = (p["w2"] * h_t + p["b2"] - t) ** 2
    loss_t.backward()
    report.check("L", loss, loss_t.detach())
    hand = {"w1": dL_dw1, "b1": dL_db1, "w2": dL_dw2, "b2": dL_db2}
    for name, value in hand.items():
        report.check(f"∂L/∂{name}", value, p[name].grad)
    return {"L": loss, **hand}


def matrix_network(output: str = "linear") -> dict[str, np.ndarray | float]:
    """The hand-computed loss and gradients with f2 = identity ("linear") or "sigmoid"."""
    number, y_formula = {"linear": ("2", "W2 h + b2"),
                         "sigmoid": ("3", "sigmoid(W2 h + b2)")}[output]
    print(f"\n{number}. Two-layer network: h = sigmoid(W1 x + b1), y = {y_formula}, "
          "L = ½‖y − t‖²")
    rng = np.random.default_rng(0)
    n_in, n_hidden, n_out = 3, 4, 2
    x = rng.normal(size=(n_in, 1))
    t = rng.normal(size=(n_out, 1))
    W1 = rng.normal(size=(n_hidden, n_in))
    b1 = rng.normal(size=(n_hidden, 1))
    W2 = rng.normal(size=(n_out, n_hidden))
    b2 = rng.normal(size=(n_out, 1))

    # forward
    z1 = W1 @ x + b1
    h = sigmoid(z1)
    z2 = W2 @ h + b2
    y = z2 if output == "linear" else sigmoid(z2)
    f2_prime = np.ones_like(z2) if output == "linear" else sigmoid_derivative(z2)
    loss = 0.5 * float(np.sum((y - t) ** 2))
    # backward, the six steps of the text
    dL_dy = y - t                             # 1. gradient at the output
    dL_dz2 = dL_dy * f2_prime                 # 2. through the output activation f2
    dL_dW2 = dL_dz2 @ h.T                     # 3. weights and bias of the output layer
    dL_db2 = dL_dz2
    dL_dh = W2.T @ dL_dz2                     # 4. back to the hidden layer's output
    dL_dz1 = dL_dh * sigmoid_derivative(z1)   # 5. through the hidden activation
    dL_dW1 = dL_dz1 @ x.T                     # 6. weights and bias of the hidden layer
    dL_db1 = dL_dz1
    print(f"  forward: L = {loss:.10g}")

    params = {name: cr.tensor(value, requires_grad=True)
              for name, value in {"W1": W1, "b1": b1, "W2": W2, "b2": b2}.items()}
    x_t, t_t = cr.tensor(x), cr.tensor(t)
    h_t = cr.sigmoid(params["W1"] @ x_t + params["b1"])
    y_t = params["W2"] @ h_t + params["b2"]
    if output == "sigmoid":
        y_t = cr.sigmoid(y_t)
    loss_t = 0.5 * ((y_t - t_t) ** 2).sum()
    loss_t.backward()
    report.check("L", loss, loss_t.detach())
    hand = {"W2": dL_dW2, "b2": dL_db2, "W1": dL_dW1, "b1": dL_db1}
    for name, value in hand.items():
        report.check(f"∂L/∂{name}", value, params[name].grad)
    return {"L": loss, **hand}


def main() -> int:
    scalar_network()
    matrix_network("linear")
    matrix_network("sigmoid")
    return report.finish("All hand-written gradients match chainrule's autodiff.")


if __name__ == "__main__":
    sys.exit(main())
