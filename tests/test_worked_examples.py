"""The worked examples of the chain-rule texts, with their exact values."""

import math

import numpy as np
import pytest

import chainrule as cr


def test_sin_of_square():
    x = cr.tensor(1.5, dtype=cr.float64, requires_grad=True)
    cr.sin(x ** 2).backward()
    assert x.grad.item() == pytest.approx(2 * 1.5 * math.cos(1.5 ** 2), rel=1e-15)


@pytest.mark.parametrize("x0", [-1.3, 0.0, 0.7, 2.0])
def test_cube_of_square_plus_one(x0):
    x = cr.tensor(x0, dtype=cr.float64, requires_grad=True)
    ((x ** 2 + 1) ** 3).backward()
    assert x.grad.item() == pytest.approx(6 * x0 * (x0 ** 2 + 1) ** 2, rel=1e-14, abs=1e-14)


@pytest.mark.parametrize("x0", [0.3, 1.0, 2.5])
def test_exp_log_of_square_of_3x(x0):
    x = cr.tensor(x0, dtype=cr.float64, requires_grad=True)
    z = cr.exp(cr.log((3 * x) ** 2))
    z.backward()
    assert z.item() == pytest.approx(9 * x0 ** 2, rel=1e-14)
    assert x.grad.item() == pytest.approx(18 * x0, rel=1e-14)


def four_layer():
    """x = 2, W = (1, 2, 1, 1), b = 0, identity, identity, tanh, identity, ½(z − 10)²."""
    x = cr.tensor(2.0, dtype=cr.float64)
    W = [cr.tensor(w, dtype=cr.float64, requires_grad=True) for w in (1.0, 2.0, 1.0, 1.0)]
    b = [cr.tensor(0.0, dtype=cr.float64, requires_grad=True) for _ in range(4)]
    phis = [lambda u: u, lambda u: u, cr.tanh, lambda u: u]
    a, us = x, []
    for Wi, bi, phi in zip(W, b, phis):
        u = Wi * a + bi
        u.retain_grad()
        us.append(u)
        a = phi(u)
    z = a
    z.retain_grad()
    L = 0.5 * (z - 10) ** 2
    return L, z, us, W, b


def test_four_layer_network_exact_values():
    L, z, us, W, b = four_layer()
    L.backward()
    t4 = math.tanh(4.0)
    assert L.item() == pytest.approx(0.5 * (t4 - 10) ** 2, rel=1e-15)
    assert round(L.item(), 3) == 40.506
    assert round(z.grad.item(), 5) == -9.00067          # δ4 = ∂L/∂z
    assert round(us[3].grad.item(), 5) == -9.00067
    assert round(W[3].grad.item(), 5) == -8.99463       # ∂L/∂W4
    assert round(1 - t4 ** 2, 8) == 0.00134095          # φ3′(u3)
    assert round(us[2].grad.item(), 7) == -0.0120695    # δ3
    assert round(W[2].grad.item(), 7) == -0.0482778     # ∂L/∂W3
    assert round(W[1].grad.item(), 7) == -0.0241389     # ∂L/∂W2
    assert round(W[0].grad.item(), 7) == -0.0482778     # ∂L/∂W1
    assert round(b[2].grad.item(), 7) == -0.0120695     # ∂L/∂b3 = δ3
    with cr.no_grad():
        W4 = W[3] - 0.1 * W[3].grad
    assert round(W4.item(), 5) == 1.89946
    # the exact chain: δ3 = W4·δ4·(1 − tanh²(4))
    assert us[2].grad.item() == pytest.approx(1.0 * (t4 - 10) * (1 - t4 ** 2), rel=1e-14)


def test_softmax_finite_for_huge_logits():
    logits = cr.tensor([1e4, -1e4, 0.0], requires_grad=True)
    p = cr.softmax(logits, dim=0)
    lp = cr.log_softmax(logits, dim=0)
    assert np.all(np.isfinite(p.numpy())) and np.all(np.isfinite(lp.numpy()))
    lp[1].backward()
    assert np.all(np.isfinite(logits.grad.numpy()))
