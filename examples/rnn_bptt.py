"""Backpropagation through time (BPTT) in a tanh RNN: by hand against chainrule.

The recurrent network of "The Chain Rule in Machine Learning" (section 11.1), unrolled
over T steps:

    h_t = tanh(W_xh x_t + W_hh h_{t−1} + b_h),   h_0 = 0
    y_t = W_hy h_t + b_y
    L   = Σ_t ½‖y_t − target_t‖²

Backward, from the last step to the first — the gradient reaching h_t is the sum of the
one from its own output and the one from the future (``dh = dy + dh_next``):

    dy_t      = y_t − target_t
    dh_t      = W_hyᵀ dy_t + dh_next
    dz_t      = dh_t ⊙ (1 − h_t²)                 (through tanh)
    dW_xh    += dz_t x_tᵀ,  dW_hh += dz_t h_{t−1}ᵀ,  db_h += dz_t
    dW_hy    += dy_t h_tᵀ,  db_y  += dy_t
    dh_next   = W_hhᵀ dz_t                         (to the previous step)

The script checks every gradient against ``L.backward()`` on the same unrolled graph and
against ``cr.nn.RNN`` given the same weights, and prints ‖∂L_T/∂h_t‖ for the last step's
loss alone: it shrinks as it travels back in time (the vanishing gradient of the texts'
section 9.1). Exits with status 1 on a mismatch.

Run: python examples/rnn_bptt.py
"""

from __future__ import annotations

import sys

import numpy as np
from _report import Report

import chainrule as cr

T_STEPS, N_IN, N_HIDDEN, N_OUT = 6, 2, 5, 1


def make_problem(seed: int = 0) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    params = {
        "W_xh": rng.normal(scale=0.8, size=(N_HIDDEN, N_IN)),
        "W_hh": rng.normal(scale=0.5, size=(N_HIDDEN, N_HIDDEN)),
        "b_h": rng.normal(scale=0.1, size=(N_HIDDEN, 1)),
        "W_hy": rng.normal(scale=0.8, size=(N_OUT, N_HIDDEN)),
        "b_y": rng.normal(scale=0.1, size=(N_OUT, 1)),
    }
    xs = rng.normal(size=(T_STEPS, N_IN, 1))
    targets = rng.normal(size=(T_STEPS, N_OUT, 1))
    return params, xs, targets


def bptt_by_hand(p: dict[str, np.ndarray], xs: np.ndarray,
                 targets: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
    # forward, storing every hidden state (h[0] is the initial state)
    h = [np.zeros((N_HIDDEN, 1))]
    ys = []
    for x in xs:
        h.append(np.tanh(p["W_xh"] @ x + p["W_hh"] @ h[-1] + p["b_h"]))
        ys.append(p["W_hy"] @ h[-1] + p["b_y"])
    loss = sum(0.5 * float(np.sum((y - t) ** 2)) for y, t in zip(ys, targets))

    # backward through time
    grads = {name: np.zeros_like(value) for name, value in p.items()}
    dh_next = np.zeros((N_HIDDEN, 1))
    for t in reversed(range(T_STEPS)):
        dy = ys[t] - targets[t]
        grads["W_hy"] += dy @ h[t + 1].T
        grads["b_y"] += dy
        dh = p["W_hy"].T @ dy + dh_next          # from this step's output + from the future
        dz = dh * (1 - h[t + 1] ** 2)             # tanh'(z) = 1 − tanh(z)²
        grads["W_xh"] += dz @ xs[t].T
        grads["W_hh"] += dz @ h[t].T
        grads["b_h"] += dz
        dh_next = p["W_hh"].T @ dz                # chain rule to h_{t−1}
    return loss, grads


def unrolled_chainrule(params: dict[str, cr.Tensor], xs: np.ndarray,
                       targets: np.ndarray) -> tuple[cr.Tensor, list[cr.Tensor], list[cr.Tensor]]:
    h = cr.zeros(N_HIDDEN, 1, dtype=cr.float64)
    hs, losses = [], []
    for x, target in zip(xs, targets):
        h = cr.tanh(params["W_xh"] @ cr.tensor(x) + params["W_hh"] @ h + params["b_h"])
        h.retain_grad()
        hs.append(h)
        y = params["W_hy"] @ h + params["b_y"]
        losses.append(0.5 * ((y - cr.tensor(target)) ** 2).sum())
    return cr.stack(losses).sum(), losses, hs


def main() -> int:
    report = Report()
    p, xs, targets = make_problem()
    print(f"A tanh RNN, {N_IN} inputs → {N_HIDDEN} hidden → {N_OUT} output, unrolled over "
          f"{T_STEPS} steps")
    loss, grads = bptt_by_hand(p, xs, targets)

    params = {name: cr.tensor(value, requires_grad=True) for name, value in p.items()}
    total, _, _ = unrolled_chainrule(params, xs, targets)
    total.backward()
    report.check("L", loss, total.detach())
    for name in ("W_hy", "b_y", "W_xh", "W_hh", "b_h"):
        report.check(f"∂L/∂{name}", grads[name], params[name].grad)

    print("\nThe same weights in cr.nn.RNN (and cr.nn.Linear for the output)")
    rnn = cr.nn.RNN(N_IN, N_HIDDEN, nonlinearity="tanh").double()
    head = cr.nn.Linear(N_HIDDEN, N_OUT).double()
    with cr.no_grad():
        rnn.weight_ih_l0.copy_(cr.tensor(p["W_xh"]))
        rnn.weight_hh_l0.copy_(cr.tensor(p["W_hh"]))
        rnn.bias_ih_l0.copy_(cr.tensor(p["b_h"][:, 0]))
        rnn.bias_hh_l0.zero_()                  # PyTorch's RNN has two biases; their sum is b_h
        head.weight.copy_(cr.tensor(p["W_hy"]))
        head.bias.copy_(cr.tensor(p["b_y"][:, 0]))
    hidden, _ = rnn(cr.tensor(xs[:, :, 0]))    # (time, features): one unbatched sequence
    outputs = head(hidden)
    nn_loss = 0.5 * ((outputs - cr.tensor(targets[:, :, 0])) ** 2).sum()
    nn_loss.backward()
    labels = ("by hand", "nn.RNN")
    report.check("L", loss, nn_loss.detach(), labels=labels)
    report.check("∂L/∂W_xh", grads["W_xh"], rnn.weight_ih_l0.grad, labels=labels)
    report.check("∂L/∂W_hh", grads["W_hh"], rnn.weight_hh_l0.grad, labels=labels)
    print("  (nn.RNN has two biases, b_ih + b_hh = b_h: each one's gradient is ∂L/∂b_h)")
    report.check("∂L/∂b_ih", grads["b_h"][:, 0], rnn.bias_ih_l0.grad, labels=labels)
    report.check("∂L/∂b_hh", grads["b_h"][:, 0], rnn.bias_hh_l0.grad, labels=labels)
    report.check("∂L/∂W_hy", grads["W_hy"], head.weight.grad, labels=labels)
    report.check("∂L/∂b_y", grads["b_y"][:, 0], head.bias.grad, labels=labels)

    print("\nHow far back the last step's error reaches: ‖∂L_T/∂h_t‖ (autodiff)")
    params = {name: cr.tensor(value, requires_grad=True) for name, value in p.items()}
    _, losses, hs = unrolled_chainrule(params, xs, targets)
    losses[-1].backward()
    norms = [float(np.linalg.norm(h.grad.numpy())) if h.grad is not None else 0.0 for h in hs]
    for t, n in enumerate(norms, start=1):
        print(f"  t = {t}: {n:.3e}  {'#' * max(1, int(40 * n / max(norms)))}")
    if not norms[0] < norms[-1]:
        report.failures.append("vanishing gradient demo")
    return report.finish("BPTT by hand matches chainrule's autodiff through every time step.")


if __name__ == "__main__":
    sys.exit(main())
