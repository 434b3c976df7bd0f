"""The 4-layer scalar network of "Chain Rule — The Engine of Backpropagation", layer by layer.

    x = 2,  W = (1, 2, 1, 1),  b = (0, 0, 0, 0)
    φ1 = φ2 = identity,  φ3 = tanh,  φ4 = identity
    u_i = W_i·a_{i−1} + b_i,  a_i = φ_i(u_i),  z = a_4,  L = ½(z − y)²  with y = 10

Backward, with the deltas δ_i = ∂L/∂u_i:

    δ4 = (z − y)·φ4'(u4)              ∂L/∂W4 = δ4·a3   ∂L/∂b4 = δ4
    δ3 = W4·δ4·φ3'(u3)                ∂L/∂W3 = δ3·a2   ∂L/∂b3 = δ3
    δ2 = W3·δ3·φ2'(u2)                ∂L/∂W2 = δ2·a1   ∂L/∂b2 = δ2
    δ1 = W2·δ2·φ1'(u1)                ∂L/∂W1 = δ1·x    ∂L/∂b1 = δ1

and one gradient-descent step W4 ← W4 − η·∂L/∂W4 with η = 0.1 (``cr.optim.SGD``).

The text's numbers are not all exact. It squares tanh(4) after rounding it to 0.9993, so
φ3'(4) = 1 − 0.9993² ≈ 0.0014 instead of 1 − tanh²(4) = 0.00134095 (4% too large), and that
error carries into δ3 ≈ −0.0126 and ∂L/∂W3 ≈ −0.0504 (exact: −0.0120695 and −0.0482778).
Its loss L ≈ 40.02 does not depend on φ3' at all: ½(0.9993 − 10)² = 40.506, so 40.02 is a
slip in the arithmetic. This script computes the exact values, by hand and with chainrule,
and prints them beside the text's.

Run: python examples/deep_network_deltas.py
"""

from __future__ import annotations

import math
import sys

from _report import Report

import chainrule as cr

X, Y, ETA = 2.0, 10.0, 0.1
WEIGHTS = (1.0, 2.0, 1.0, 1.0)
BIASES = (0.0, 0.0, 0.0, 0.0)
ACTIVATIONS = ("identity", "identity", "tanh", "identity")

# The exact values, rounded to the digits shown.
EXPECTED = {
    "L": (40.506, 3),
    "δ4": (-9.00067, 5),
    "∂L/∂W4": (-8.99463, 5),
    "δ3": (-0.0120695, 7),
    "∂L/∂W3": (-0.0482778, 7),
    "∂L/∂W2": (-0.0241389, 7),
    "∂L/∂W1": (-0.0482778, 7),
    "W4 after": (1.89946, 5),
}

# What the text reports, and why it differs where it does.
TEXT_VALUES = {
    "L": ("40.02", "an arithmetic slip: ½(0.9993 − 10)² = 40.506"),
    "δ4": ("-9.0007", ""),
    "∂L/∂W4": ("-8.994", ""),
    "φ3'(4)": ("0.0014", "1 − 0.9993²: tanh(4) rounded before squaring"),
    "δ3": ("-0.0126", "from φ3'(4) rounded to 0.0014"),
    "∂L/∂W3": ("-0.0504", "from φ3'(4) rounded to 0.0014"),
    "W4 after": ("1.8994", ""),
}


def phi(kind: str, u: float) -> float:
    return math.tanh(u) if kind == "tanh" else u


def phi_prime(kind: str, u: float) -> float:
    return 1.0 - math.tanh(u) ** 2 if kind == "tanh" else 1.0


def by_hand() -> dict[str, float]:
    """Forward and backward with plain floats, printing every intermediate value."""
    print("Forward pass (by hand)")
    a = [X]                     # a[0] = x, a[i] = output of layer i
    u = [math.nan]              # u[i] = pre-activation of layer i (1-based)
    for i, (w, b, kind) in enumerate(zip(WEIGHTS, BIASES, ACTIVATIONS), start=1):
        u.append(w * a[-1] + b)
        a.append(phi(kind, u[-1]))
        print(f"  layer {i}: u{i} = W{i}·a{i - 1} + b{i} = {w:g}·{a[-2]:.6g} + {b:g} = "
              f"{u[i]:.6g},  a{i} = {kind}(u{i}) = {a[i]:.6g}")
    z = a[4]
    loss = 0.5 * (z - Y) ** 2
    print(f"  L = ½(z − y)² = ½({z:.6g} − {Y:g})² = {loss:.6f}")

    print("\nBackward pass (by hand): δ_i = ∂L/∂u_i")
    values = {"L": loss}
    delta = (z - Y) * phi_prime(ACTIVATIONS[3], u[4])    # δ4 = ∂L/∂z · φ4'(u4)
    for i in range(4, 0, -1):
        values[f"δ{i}"] = delta
        values[f"∂L/∂W{i}"] = delta * a[i - 1]           # ∂L/∂W_i = δ_i · a_{i−1}
        values[f"∂L/∂b{i}"] = delta                      # ∂L/∂b_i = δ_i
        print(f"  δ{i} = {delta:.9g},  ∂L/∂W{i} = δ{i}·a{i - 1} = {values[f'∂L/∂W{i}']:.9g},"
              f"  ∂L/∂b{i} = {delta:.9g}")
        if i > 1:                                        # δ_{i−1} = W_i·δ_i·φ'_{i−1}(u_{i−1})
            local = phi_prime(ACTIVATIONS[i - 2], u[i - 1])
            delta = WEIGHTS[i - 1] * delta * local
            if ACTIVATIONS[i - 2] == "tanh":
                print(f"     φ{i - 1}'(u{i - 1}) = 1 − tanh²({u[i - 1]:g}) = {local:.8f}"
                      "   (the text rounds it to 0.0014)")
    values["W4 after"] = WEIGHTS[3] - ETA * values["∂L/∂W4"]
    print(f"\nOne step of gradient descent, η = {ETA}: W4 ← W4 − η·∂L/∂W4 = "
          f"{values['W4 after']:.6f}")
    return values


def with_chainrule() -> dict[str, float]:
    """The same network in chainrule; ``retain_grad`` keeps δ_i = u_i.grad."""
    x = cr.tensor(X, dtype=cr.float64)
    W = [cr.tensor(w, dtype=cr.float64, requires_grad=True) for w in WEIGHTS]
    b = [cr.tensor(v, dtype=cr.float64, requires_grad=True) for v in BIASES]
    a, us = x, []
    for Wi, bi, kind in zip(W, b, ACTIVATIONS):
        u = Wi * a + bi
        u.retain_grad()
        us.append(u)
        a = cr.tanh(u) if kind == "tanh" else u
    loss = 0.5 * (a - Y) ** 2
    loss.backward()
    values = {"L": loss.item()}
    for i in range(4, 0, -1):
        grads = (us[i - 1].grad, W[i - 1].grad, b[i - 1].grad)
        assert all(g is not None for g in grads)
        values[f"δ{i}"] = us[i - 1].grad.item()
        values[f"∂L/∂W{i}"] = W[i - 1].grad.item()
        values[f"∂L/∂b{i}"] = b[i - 1].grad.item()
    cr.optim.SGD([W[3]], lr=ETA).step()                  # W4 ← W4 − η·∂L/∂W4
    values["W4 after"] = W[3].item()
    return values


def main() -> int:
    report = Report()
    hand = by_hand()
    auto = with_chainrule()
    print("\nBy hand against chainrule's autodiff")
    for name in hand:
        report.check(name, hand[name], auto[name], rtol=1e-13, atol=1e-15)
    print("\nThe exact values")
    for name, (expected, digits) in EXPECTED.items():
        report.expect(name, auto[name], expected, digits)
    report.expect("φ3'(4)", 1 - math.tanh(4.0) ** 2, 0.00134095, 8)
    print("\nThe text's values beside the exact ones (the text stops at W3)")
    exact = {**auto, "φ3'(4)": 1 - math.tanh(4.0) ** 2}
    for name, (theirs, why) in TEXT_VALUES.items():
        print(f"  {name:<9} text {theirs:<8}  exact {exact[name]:<15.9g} {why}".rstrip())
    return report.finish("Every delta and gradient matches, by hand and by autodiff.")


if __name__ == "__main__":
    sys.exit(main())
