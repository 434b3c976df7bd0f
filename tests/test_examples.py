"""Every script in examples/ runs, exits 0, and prints the numbers it is about."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

# script -> strings its output must contain (the key numbers of the worked example)
EXPECTED = {
    "one_hidden_layer_by_hand.py": [
        "∂L/∂w1 = 2(y − t)·w2·σ'(z1)·x = 1.109482224",
        "L        by hand   2.047411058",
        "3. Two-layer network: h = sigmoid(W1 x + b1), y = sigmoid(W2 h + b2), L = ½‖y − t‖²",
        "L        by hand   0.4224046247",
        "All hand-written gradients match",
    ],
    "deep_network_deltas.py": [
        "L            = 40.506",
        "δ4           = -9.00067",
        "∂L/∂W4       = -8.99463",
        "δ3           = -0.0120695",
        "∂L/∂W3       = -0.0482778",
        "∂L/∂W2       = -0.0241389",
        "∂L/∂W1       = -0.0482778",
        "W4 after     = 1.89946",
        "φ3'(4)       = 0.00134095",
        "L         text 40.02     exact 40.5060365      an arithmetic slip",
        "∂L/∂W3    text -0.0504   exact -0.0482778221   from φ3'(4) rounded to 0.0014",
        "Every delta and gradient matches",
    ],
    "custom_activation.py": [
        "gradcheck(squareplus)     -> True",
        "gradgradcheck(squareplus) -> True",
        "f'(x)    by hand   [0.083975 0.276393 0.5      0.621268 0.853553]",
        "as the explain tools show it: d/dx squareplus(x) = (1 + x / sqrt(x^2 + 4)) / 2",
        "The custom activation's derivative checks out.",
    ],
    "gradient_checking.py": [
        "1. chainrule's gradient of a small network's loss (20 parameters)",
        "σ(1 + σ): error 1.11e+01 -> caught",
        "caught: gradcheck: the gradient with respect to input 0",
        "Both checks accept the right gradients and catch the wrong ones.",
    ],
    "mini_cnn.py": [
        "  ∂L/∂W = X ⋆ dY:\n      0.30   0.50\n      1.10   1.30",
        "      1.00   2.50   5.00  -1.00",
        "The convolution's backward pass by hand matches",
    ],
    "rnn_bptt.py": [
        "L        by hand   10.9857376",
        "nn.RNN    [-1.016685  2.416996  0.745784",
        "∂L/∂b_hh by hand   [-3.000934  2.819738  3.318434 -0.11009   0.619976]",
        "∂L/∂b_y  by hand   2.557724913\n           nn.RNN    2.557724913",
        "t = 6: 3.049e+00",
        "BPTT by hand matches chainrule's autodiff",
    ],
    "attention_backward.py": [
        "dV       by hand   [0.56452  1.158706 0.425505 0.659518",
        "sdpa      [ 0.100606 -0.06653  -0.140084",
        "Attention's backward pass by hand matches chainrule's autodiff.",
    ],
    "vanishing_gradients.py": [
        "[ok] a 20-layer sigmoid MLP's first-layer gradient is orders of magnitude below its "
        "last",
        "[ok] gradient clipping bounds them (total norm ≤ 1)",
        "0, 2, …, 38 are the 20 linear layers",
        "  sigmoid                2.76e-17       0.17    1.62e-16          0.538  vanishing",
        "All claims hold on these networks.",
    ],
}


def test_every_example_is_tested():
    scripts = {p.name for p in EXAMPLES.glob("*.py") if not p.name.startswith("_")}
    assert scripts == set(EXPECTED)


@pytest.mark.parametrize("script", sorted(EXPECTED))
def test_example_runs(script):
    proc = subprocess.run([sys.executable, str(EXAMPLES / script)], capture_output=True,
                          text=True, timeout=60, encoding="utf-8")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "MISMATCH" not in proc.stdout
    for expected in EXPECTED[script]:
        assert expected in proc.stdout, f"{expected!r} not in the output of {script}"
