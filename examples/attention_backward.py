"""The backward pass of scaled dot-product attention, by hand against chainrule.

Forward, as in "The Chain Rule in Machine Learning" (section 11.2), with the keys stored one
per column (K is d × m) the way the text's ``keys.T`` / ``queries.T`` formulas assume:

    S = Q K / √d            (n × m scores)
    A = softmax(S)          (row by row: the attention weights)
    O = A V                 (n × d_v)

Given the upstream gradient dO = ∂L/∂O, the chain rule goes back one step at a time:

    dV = Aᵀ dO                                       (through O = A V)
    dA = dO Vᵀ
    dS = A ⊙ (dA − rowsum(dA ⊙ A))                   (softmax backward)
    dQ = dS Kᵀ / √d,   dK = Qᵀ dS / √d               (through S = Q K / √d)

The softmax step is the Jacobian form dS_i = (diag(a_i) − a_i a_iᵀ) dA_i for each row i,
simplified; the script computes it both ways. The text leaves out the 1/√d scale. With the
usual layout of one key per row (K_rows = Kᵀ, S = Q K_rowsᵀ / √d) the last line reads
dQ = dS K_rows / √d and dK_rows = dSᵀ Q / √d; chainrule is checked in that layout too.

The same gradients come out of ``cr.nn.functional.scaled_dot_product_attention``.
Exits with status 1 if any gradient differs from ``O.backward(dO)``.

Run: python examples/attention_backward.py
"""

from __future__ import annotations

import sys

import numpy as np
from _report import Report

import chainrule as cr

N_QUERIES, N_KEYS, D, D_V = 3, 4, 5, 2


def softmax_rows(s: np.ndarray) -> np.ndarray:
    e = np.exp(s - s.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def make_problem(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Q (n × d), K (d × m, one key per column as in the text), V (m × d_v) and dO."""
    rng = np.random.default_rng(seed)
    Q = rng.normal(size=(N_QUERIES, D))
    K = rng.normal(size=(D, N_KEYS))
    V = rng.normal(size=(N_KEYS, D_V))
    dO = rng.normal(size=(N_QUERIES, D_V))  # the gradient arriving from the layers above
    return Q, K, V, dO


def by_hand(Q: np.ndarray, K: np.ndarray, V: np.ndarray,
            dO: np.ndarray) -> dict[str, np.ndarray]:
    """Forward and backward by the formulas above (keys as columns)."""
    scale = 1 / np.sqrt(Q.shape[1])
    S = Q @ K * scale
    A = softmax_rows(S)
    O = A @ V
    dV = A.T @ dO
    dA = dO @ V.T
    dS = A * (dA - np.sum(dA * A, axis=1, keepdims=True))
    dS_jacobian = np.stack([(np.diag(a) - np.outer(a, a)) @ g for a, g in zip(A, dA)])
    return {"A": A, "O": O, "dV": dV, "dA": dA, "dS": dS, "dS_jacobian": dS_jacobian,
            "dQ": dS @ K.T * scale, "dK": Q.T @ dS * scale}


def main() -> int:
    report = Report()
    Q, K, V, dO = make_problem()
    scale = 1 / np.sqrt(D)

    print(f"Attention with {N_QUERIES} queries, {N_KEYS} keys, d = {D}, d_v = {D_V}")
    hand = by_hand(Q, K, V, dO)
    A, O, dV, dA, dS = (hand[k] for k in ("A", "O", "dV", "dA", "dS"))
    dS_jacobian, dQ, dK = hand["dS_jacobian"], hand["dQ"], hand["dK"]

    print("\nSoftmax backward: the shortcut against the full Jacobian diag(a) − a aᵀ")
    report.check("dS", dS, dS_jacobian, labels=("shortcut", "Jacobian"), rtol=1e-12)

    print("\nBy hand against chainrule (keys as columns, the text's layout)")
    q, k, v = (cr.tensor(a, requires_grad=True) for a in (Q, K, V))
    weights = cr.softmax(q @ k * scale, dim=1)
    weights.retain_grad()
    out = weights @ v
    out.backward(cr.tensor(dO))
    report.check("A", A, weights.detach())
    report.check("O", O, out.detach())
    report.check("dV", dV, v.grad)
    report.check("dA", dA, weights.grad)
    report.check("dQ", dQ, q.grad)
    report.check("dK", dK, k.grad)

    print("\nThe same in the usual layout, one key per row: S = Q K_rowsᵀ / √d")
    q, k_rows, v = (cr.tensor(a, requires_grad=True) for a in (Q, K.T, V))
    out = cr.softmax(q @ k_rows.T * scale, dim=-1) @ v
    out.backward(cr.tensor(dO))
    report.check("dQ", dS @ K.T * scale, q.grad)
    report.check("dK_rows", dS.T @ Q * scale, k_rows.grad)
    report.check("dV", dV, v.grad)

    print("\nAnd through cr.nn.functional.scaled_dot_product_attention (same layout)")
    q, k_rows, v = (cr.tensor(a, requires_grad=True) for a in (Q, K.T, V))
    out = cr.nn.functional.scaled_dot_product_attention(q, k_rows, v)
    out.backward(cr.tensor(dO))
    labels = ("by hand", "sdpa")
    report.check("O", O, out.detach(), labels=labels)
    report.check("dQ", dS @ K.T * scale, q.grad, labels=labels)
    report.check("dK_rows", dS.T @ Q * scale, k_rows.grad, labels=labels)
    report.check("dV", dV, v.grad, labels=labels)
    return report.finish("Attention's backward pass by hand matches chainrule's autodiff.")


if __name__ == "__main__":
    sys.exit(main())
