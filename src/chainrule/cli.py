"""The ``chainrule`` command (also ``python -m chainrule``)."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from typing import Any

from .data._random import check_seed


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad flag or value is one line on stderr and exit code 2."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Read "-1e-3" as a (negative) value, as Python 3.13's argparse does, so that
        # "--lr -1e-3" is told the value is wrong rather than "expected one argument".
        self._negative_number_matcher = re.compile(r"^-\.?\d")

    def error(self, message: str) -> None:  # type: ignore[override]
        message = " ".join(message.split())
        if len(message) > 300:  # e.g. a huge unrecognized argument
            message = message[:297] + "..."
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="chainrule", description="The chain rule, made real.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    _add_demo_parser(sub)
    _add_train_parser(sub)
    from .explain.cli import add_parser as add_explain_parser

    add_explain_parser(sub)
    return parser


# -- demo and train (the training loop lives in chainrule.training) ----------------------

_MODELS = ("mlp", "cnn", "rnn")
_DATASETS = ("digits", "moons", "spirals", "sine")
_OPTIMIZERS = ("sgd", "adam")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


_MAX_SEED = 2**64 - 1  # cr.manual_seed takes seeds up to this


def _seed(text: str) -> int:
    try:
        value = int(text)
        check_seed(value, "--seed")  # (the one rule for seeds; argparse words the message)
        if value > _MAX_SEED:
            raise ValueError(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an integer from 0 to 2**64 - 1, got {text!r}") from None
    return value


def _learning_rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not (value > 0 and value < float("inf")):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _add_run_flags(p: argparse.ArgumentParser, out_default: str | None) -> None:
    """Flags shared by ``demo`` and ``train``."""
    p.add_argument("--epochs", type=_positive_int, metavar="N",
                   help="passes over the training data (default: per model and dataset, "
                        "e.g. 30 for the MLP and the CNN on digits)")
    p.add_argument("--lr", type=_learning_rate, metavar="X",
                   help="initial learning rate, decayed to 0 along a cosine over the epochs "
                        "(default: tuned per model and optimizer, e.g. 0.003 for adam and 0.1 "
                        "for sgd on the mlp)")
    p.add_argument("--optimizer", choices=_OPTIMIZERS, default="adam",
                   help="adam, or sgd with momentum 0.9 (default: adam)")
    p.add_argument("--batch-size", type=_positive_int, metavar="B",
                   help="samples per step (default: 32)")
    p.add_argument("--seed", type=_seed, default=0, metavar="S",
                   help="seed of the test split, the initial weights and the shuffling "
                        "(default: 0)")
    p.add_argument("--out", metavar="DIR", default=out_default,
                   help="directory for checkpoint.safetensors and curves.png (created if "
                        f"missing; default: ./{out_default or 'chainrule-<model>-<dataset>'})")
    p.add_argument("--no-progress", action="store_true",
                   help="print one line per epoch instead of the tqdm progress bar")
    p.add_argument("--diagnose", action="store_true",
                   help="also record the gradient flow through every layer: print its table "
                        "and write gradient_flow.png")


def _add_demo_parser(sub: Any) -> None:
    p = sub.add_parser(
        "demo", help="train an MLP on the bundled 8x8 digits and report its test accuracy",
        description="Train a small MLP on scikit-learn's bundled 8x8 handwritten digits "
                    "(20% held out for testing, fixed seed), print the test accuracy, and "
                    "save the checkpoint and the loss/accuracy curves.")
    _add_run_flags(p, "chainrule-demo")


def _add_train_parser(sub: Any) -> None:
    p = sub.add_parser(
        "train", help="train a model on a dataset, save its checkpoint and curves",
        description="Train an MLP, CNN or RNN on a small dataset; evaluate it on the held-out "
                    "20% after every epoch; save checkpoint.safetensors and curves.png. "
                    "Compatible pairs: mlp with any dataset, cnn with digits, rnn with sine "
                    "or digits (read row by row).")
    p.add_argument("--model", choices=_MODELS, default="mlp",
                   help="mlp (fully connected, any dataset), cnn (convolutional: digits), "
                        "rnn (tanh recurrent: sine, or digits read row by row); default: mlp")
    p.add_argument("--dataset", choices=_DATASETS, default="digits",
                   help="digits (8x8 images, 10 classes), moons (2 classes), spirals "
                        "(3 classes), sine (predict the next value; regression); "
                        "default: digits")
    _add_run_flags(p, None)


def _run_training(args: argparse.Namespace, model: str, dataset: str, demo: bool) -> int:
    try:
        from chainrule import training
    except ImportError as e:  # pragma: no cover - a broken installation
        print(f"chainrule {args.command}: error: {e}", file=sys.stderr)
        return 1
    try:
        training.check_compatible(model, dataset)
    except ValueError as e:
        print(f"chainrule {args.command}: error: {e}", file=sys.stderr)
        return 2
    out = args.out or f"chainrule-{model}-{dataset}"
    config = training.TrainConfig(
        model=model, dataset=dataset, epochs=args.epochs, lr=args.lr,
        optimizer=args.optimizer, batch_size=args.batch_size, seed=args.seed,
        out=out, progress=not args.no_progress, diagnose=args.diagnose)
    try:  # a bad --out is a bad value: exit 2, before any training
        training.make_out_dir(out)
    except OSError as e:
        print(f"chainrule {args.command}: error: --out: {e.strerror or e}", file=sys.stderr)
        return 2
    if demo:
        print("chainrule demo: a small MLP learns scikit-learn's 8x8 handwritten digits.")
    try:
        result = training.train(config)
    except ImportError as e:  # e.g. scikit-learn missing for the digits
        print(f"chainrule {args.command}: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # e.g. the disk filled up while saving the checkpoint
        print(f"chainrule {args.command}: error: {e}", file=sys.stderr)
        return 1
    m = result.metrics
    if "test_accuracy" in m:
        n_test = len(result.task.test)
        correct = round(m["test_accuracy"] * n_test)
        print(f"Test accuracy: {100 * m['test_accuracy']:.1f}% ({correct}/{n_test} held-out "
              f"samples) after {result.config.epochs} epochs, {result.seconds:.1f} s of "
              "training")
    else:
        print(f"Test MSE: {m['test_mse']:.5f}   (repeating the last input value: "
              f"{m['baseline_mse']:.5f}) after {result.config.epochs} epochs, "
              f"{result.seconds:.1f} s of training")
    if result.gradient_report:
        print(result.gradient_report)
    if result.checkpoint:
        print(f"Saved {result.checkpoint} (model and optimizer state, config, metrics)")
    if result.curves:
        print(f"Saved {result.curves} (learning curves: train and test, per epoch)")
    if result.gradient_flow:
        print(f"Saved {result.gradient_flow} (gradient flow per layer)")
    for note in result.notes:
        print(note)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        return _run_training(args, "mlp", "digits", demo=True)
    if args.command == "train":
        return _run_training(args, args.model, args.dataset, demo=False)
    if args.command == "explain":
        from .explain.cli import run as run_explain

        return run_explain(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
