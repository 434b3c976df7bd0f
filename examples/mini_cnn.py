"""A convolutional layer's forward and backward pass by hand (practice problem 4: mini CNN).

"The Chain Rule in Machine Learning" (section 8.1) sums up a convolution's backward pass as

    kernel_grad = conv(input, output_grad)          a cross-correlation ("valid")
    input_grad  = conv(output_grad, kernel_flipped)  a full convolution

For a layer Y = X ⋆ W + b (cross-correlation, stride 1, zero padding p, as in deep learning
libraries), with one sample n, input channel c and output channel o:

    Y[n,o,y,x]  = b[o] + Σ_c Σ_i Σ_j Xp[n,c,y+i,x+j] · W[o,c,i,j]     (Xp: X padded by p)
    ∂L/∂W[o,c]  = Σ_n  Xp[n,c] ⋆ dY[n,o]                  (valid cross-correlation)
    ∂L/∂b[o]    = Σ_n Σ_y Σ_x dY[n,o,y,x]
    ∂L/∂Xp[n,c] = Σ_o  pad(dY[n,o], k − 1) ⋆ flip(W[o,c])  (full convolution)
    ∂L/∂X       = ∂L/∂Xp with the padding cropped off

The script computes these with NumPy loops and checks them against ``cr.nn.functional.conv2d``
and ``backward()``: first one tiny single-channel case with every number printed, then a
small CNN layer (batch 2, 3 → 4 channels, 3×3 kernels, padding 1, bias, ReLU).
Exits with status 1 on any mismatch.

Run: python examples/mini_cnn.py
"""

from __future__ import annotations

import sys

import numpy as np
from _report import Report

import chainrule as cr
import chainrule.nn.functional as F


def correlate_valid(a: np.ndarray, k: np.ndarray) -> np.ndarray:
    """2-D cross-correlation without padding: out[y, x] = Σ_ij a[y+i, x+j] · k[i, j]."""
    kh, kw = k.shape
    out = np.zeros((a.shape[0] - kh + 1, a.shape[1] - kw + 1))
    for y in range(out.shape[0]):
        for x in range(out.shape[1]):
            out[y, x] = np.sum(a[y:y + kh, x:x + kw] * k)
    return out


def conv_forward(X: np.ndarray, W: np.ndarray, b: np.ndarray, padding: int) -> np.ndarray:
    Xp = np.pad(X, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    n_batch, n_out = X.shape[0], W.shape[0]
    Y = np.stack([np.stack([b[o] + sum(correlate_valid(Xp[n, c], W[o, c])
                                       for c in range(X.shape[1]))
                            for o in range(n_out)]) for n in range(n_batch)])
    return Y


def conv_backward(X: np.ndarray, W: np.ndarray, dY: np.ndarray,
                  padding: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(∂L/∂X, ∂L/∂W, ∂L/∂b) from the upstream gradient dY, by the formulas above."""
    k = W.shape[-1]
    Xp = np.pad(X, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    dW = np.zeros_like(W)
    dXp = np.zeros_like(Xp)
    for n in range(X.shape[0]):
        for o in range(W.shape[0]):
            dY_full = np.pad(dY[n, o], k - 1)              # for the full convolution
            for c in range(X.shape[1]):
                dW[o, c] += correlate_valid(Xp[n, c], dY[n, o])            # kernel_grad
                dXp[n, c] += correlate_valid(dY_full, W[o, c, ::-1, ::-1])  # input_grad
    db = dY.sum(axis=(0, 2, 3))
    dX = dXp[:, :, padding:dXp.shape[2] - padding, padding:dXp.shape[3] - padding]
    return dX, dW, db


def grid(title: str, a: np.ndarray) -> str:
    rows = ("    " + " ".join(f"{v:6.2f}" for v in row) for row in a)
    return f"  {title}:\n" + "\n".join(rows)


def tiny_case(report: Report) -> None:
    print("1. One channel: a 4×4 input, a 2×2 kernel, L = Σ Y ⊙ G")
    X = np.arange(16.0).reshape(1, 1, 4, 4) / 10
    W = np.array([[[[1.0, -1.0], [0.5, 2.0]]]])
    b = np.array([0.1])
    G = np.array([[[[1.0, 0.0, -1.0], [2.0, 1.0, 0.0], [0.0, -2.0, 1.0]]]])  # dL/dY
    Y = conv_forward(X, W, b, padding=0)
    dX, dW, db = conv_backward(X, W, G, padding=0)
    print(grid("Y = X ⋆ W + b", Y[0, 0]))
    print(grid("dY = G (the upstream gradient)", G[0, 0]))
    print(grid("∂L/∂W = X ⋆ dY", dW[0, 0]))
    print(grid("∂L/∂X = pad(dY, 1) ⋆ flip(W)", dX[0, 0]))

    x, w, bias = (cr.tensor(a, requires_grad=True) for a in (X, W, b))
    y = F.conv2d(x, w, bias)
    (y * cr.tensor(G)).sum().backward()
    report.check("Y", Y, y.detach())
    report.check("∂L/∂X", dX, x.grad)
    report.check("∂L/∂W", dW, w.grad)
    report.check("∂L/∂b", db, bias.grad)


def small_layer(report: Report) -> None:
    print("\n2. A CNN layer: batch 2, 3 → 4 channels, 3×3 kernels, padding 1, then ReLU;"
          " L = Σ relu(Y) ⊙ G")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2, 3, 5, 5))
    W = rng.normal(size=(4, 3, 3, 3)) * 0.5
    b = rng.normal(size=4) * 0.1
    G = rng.normal(size=(2, 4, 5, 5))
    Y = conv_forward(X, W, b, padding=1)
    dY = G * (Y > 0)                                   # through the ReLU: relu'(Y) = [Y > 0]
    dX, dW, db = conv_backward(X, W, dY, padding=1)

    x, w, bias = (cr.tensor(a, requires_grad=True) for a in (X, W, b))
    y = F.conv2d(x, w, bias, padding=1)
    (F.relu(y) * cr.tensor(G)).sum().backward()
    report.check("Y", Y, y.detach())
    report.check("∂L/∂X", dX, x.grad)
    report.check("∂L/∂W", dW, w.grad)
    report.check("∂L/∂b", db, bias.grad)


def main() -> int:
    report = Report()
    tiny_case(report)
    small_layer(report)
    return report.finish("The convolution's backward pass by hand matches chainrule's conv2d.")


if __name__ == "__main__":
    sys.exit(main())
