"""Vanishing and exploding gradients, measured layer by layer with GradientMonitor.

The texts' claim: by the chain rule, the gradient reaching layer k is a product of one factor
per layer above it, W_jᵀ·diag(φ'(u_j)). With sigmoids (σ' ≤ 1/4) and ordinary weights each
factor shrinks the gradient, so in a 20-layer sigmoid MLP the first layer's gradient is many
orders of magnitude below the last layer's: it barely learns. Three fixes keep the factors
near 1: ReLU (φ' = 1 where active) with Kaiming initialization (Var W = 2/fan_in) and
residual connections x + f(x) (the identity path adds I to every factor). The opposite
failure: weights too large make the activations and the gradients explode (here to ~10¹³);
gradient clipping bounds the step.

Each network below trains for a few SGD steps on random data while a
``cr.nn.utils.GradientMonitor`` records the gradient norm of every layer; its table shows the
difference, and it warns (GradientWarning) where gradients vanish or explode.

Run: python examples/vanishing_gradients.py [--plot DIR]
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import chainrule as cr
from chainrule import nn

DEPTH, WIDTH, IN, BATCH, STEPS = 20, 32, 8, 64, 6


class Residual(nn.Module):
    """x + W·σ(x) + b: the identity path carries the gradient past the sigmoid."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.fc = nn.Linear(width, width)
        self.act = nn.Sigmoid()

    def forward(self, x: cr.Tensor) -> cr.Tensor:
        return x + self.fc(self.act(x))


def plain(act: Callable[[], nn.Module], init: Callable[[cr.Tensor], object] | None = None
          ) -> nn.Sequential:
    """Linear → act, DEPTH − 1 times, then a last Linear: DEPTH linear layers."""
    layers: list[nn.Module] = []
    for k in range(DEPTH - 1):
        layers += [nn.Linear(IN if k == 0 else WIDTH, WIDTH), act()]
    layers.append(nn.Linear(WIDTH, 1))
    model = nn.Sequential(*layers)
    if init is not None:
        for m in model.modules():
            if isinstance(m, nn.Linear):
                init(m.weight)
                nn.init.zeros_(m.bias)
    return model


def sigmoid_mlp() -> nn.Module:
    return plain(nn.Sigmoid)


def relu_kaiming() -> nn.Module:
    return plain(nn.ReLU, lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu"))


def residual_sigmoid() -> nn.Module:
    return nn.Sequential(nn.Linear(IN, WIDTH), *[Residual(WIDTH) for _ in range(DEPTH - 2)],
                         nn.Linear(WIDTH, 1))


def relu_large_init() -> nn.Module:
    """Weights about 2.4 times too large (std 0.6 instead of Kaiming's 0.25): every layer
    multiplies the signal, forward and backward, by about 2.4."""
    return plain(nn.ReLU, lambda w: nn.init.normal_(w, std=0.6))


NETWORKS: dict[str, tuple[Callable[[], nn.Module], float | None]] = {
    # name: (builder, clip_grad_norm_'s max_norm or None)
    "sigmoid": (sigmoid_mlp, None),
    "relu + kaiming": (relu_kaiming, None),
    "residual sigmoid": (residual_sigmoid, None),
    "relu, large init": (relu_large_init, None),
    "same, clipped to 1": (relu_large_init, 1.0),
}


def train(name: str, seed: int = 0, lr: float = 0.01
          ) -> tuple[cr.diagnostics.GradientMonitor, list[float]]:
    """A few SGD steps with a monitor; returns it and the global gradient norms (after any
    clipping)."""
    build, clip = NETWORKS[name]
    cr.manual_seed(seed)
    model = build()
    x, y = cr.randn(BATCH, IN), cr.randn(BATCH, 1)
    opt = cr.optim.SGD(model.parameters(), lr=lr)
    monitor = cr.nn.utils.GradientMonitor(model, patience=2)
    totals = []
    for _ in range(STEPS):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        if clip is not None:
            cr.nn.utils.clip_grad_norm_(model.parameters(), max_norm=clip)
        totals.append(float(cr.nn.utils.get_total_norm(
            [p.grad for p in model.parameters() if p.grad is not None]).item()))
        monitor.step()
        if clip is None and name == "relu, large init":
            break  # one step shows it; an update this large would only produce NaN
        opt.step()
    return monitor, totals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plot", metavar="DIR", help="write one gradient-flow PNG per network")
    args = parser.parse_args(argv)
    print(__doc__.split("\n\n")[0])
    print(f"\n{DEPTH} linear layers of width {WIDTH}, batch {BATCH}, SGD; ‖g‖ is the norm of a "
          "layer's gradient (weight and bias together).\nThe layer column is each Linear's "
          "index in the nn.Sequential (the activations between them have no parameters):\n"
          f"0, 2, …, {2 * DEPTH - 2} are the {DEPTH} linear layers; in the residual network, "
          "k.fc is block k's Linear.\n")
    results = {}
    for name in NETWORKS:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            monitor, totals = train(name)
        norms = monitor.history("grad_norm")
        first, last = float(norms[-1, 0]), float(norms[-1, -1])
        kinds = sorted({k for _, k, _ in monitor.warnings})
        results[name] = (first, last, max(totals), kinds, len(caught))
        print(f"== {name} ==")
        print(monitor.report())
        if args.plot:
            out = Path(args.plot)
            out.mkdir(parents=True, exist_ok=True)
            path = monitor.plot(out / (name.replace(" ", "_").replace(",", "") + ".png"),
                                title=name)
            print(f"   wrote {path}\n")
    print("Summary: first layer vs last layer, at the last recorded step")
    print(f"  {'network':<20} {'first ‖g‖':>10} {'last ‖g‖':>10} {'first/last':>11} "
          f"{'max total ‖g‖':>14}  warnings")
    for name, (first, last, top, kinds, _) in results.items():
        print(f"  {name:<20} {first:>10.3g} {last:>10.3g} {first / last:>11.3g} {top:>14.3g}"
              f"  {', '.join(kinds) or '—'}")
    claims = [
        ("a 20-layer sigmoid MLP's first-layer gradient is orders of magnitude below its last",
         results["sigmoid"][0] / results["sigmoid"][1] < 1e-6),
        ("ReLU with Kaiming init keeps it within two orders of magnitude",
         1e-2 < results["relu + kaiming"][0] / results["relu + kaiming"][1] < 1e2),
        ("residual connections x + f(x) keep it within two orders of magnitude",
         1e-2 < results["residual sigmoid"][0] / results["residual sigmoid"][1] < 1e2),
        ("weights too large make the gradients explode",
         results["relu, large init"][2] > 1e6 and "exploding" in results["relu, large init"][3]),
        ("gradient clipping bounds them (total norm ≤ 1)",
         results["same, clipped to 1"][2] <= 1.0 + 1e-4),
        ("the monitor warned about the vanishing sigmoid stack",
         "vanishing" in results["sigmoid"][3]),
        ("and not about the healthy networks",
         not results["relu + kaiming"][3] and not results["residual sigmoid"][3]),
    ]
    print("\nClaims of the texts:")
    for text, ok in claims:
        print(f"  [{'ok' if ok else 'FAILED'}] {text}")
    if all(ok for _, ok in claims):
        print("\nAll claims hold on these networks.")
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
