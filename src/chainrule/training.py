"""A small training loop: the library behind ``chainrule demo`` and ``chainrule train``.

Everything a training run needs, each piece a short function you can read and reuse:

* :func:`load_task` — a dataset (``digits``, ``moons``, ``spirals``, ``sine``) split into
  a training set and a held-out test set, shaped for the model that will read it;
* :func:`build_model` — an ``mlp``, ``cnn`` or ``rnn`` (``cr.nn`` layers) for that task;
* :func:`make_optimizer` — ``sgd`` (with momentum) or ``adam``, with a cosine decay of the
  learning rate over the epochs (:func:`make_scheduler`);
* :func:`fit` — the loop itself: forward, loss, ``backward()``, ``step()``, with a tqdm
  progress bar (or one plain line per epoch), evaluating on the test split every epoch;
* :func:`save_checkpoint` / :func:`load_checkpoint` — the model's and optimizer's state
  dicts plus a JSON-able config, in one safetensors file written atomically (``cr.save``);
* :func:`plot_curves` — loss and accuracy per epoch as a PNG (matplotlib).

:func:`train` strings them together:

>>> from chainrule.training import TrainConfig, train
>>> result = train(TrainConfig(model="mlp", dataset="moons", epochs=2, out=None,
...                            progress=False), log=lambda line: None)
>>> result.metrics["test_accuracy"] > 0.5
True

The bar needs ``tqdm`` and the PNG ``matplotlib`` (``pip install "chainrule[demo]"``);
without them the run still works, with plain lines and no picture.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import math
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

import numpy as np

import chainrule as cr
from chainrule import nn, optim
from chainrule.data import DataLoader, TensorDataset
from chainrule.data._random import check_seed
from chainrule.diagnostics import GradientMonitor

__all__ = [
    "COMPATIBLE",
    "DATASETS",
    "DEFAULTS",
    "MODELS",
    "OPTIMIZERS",
    "Task",
    "TrainConfig",
    "TrainResult",
    "build_model",
    "check_compatible",
    "evaluate",
    "fit",
    "train_one_epoch",
    "load_checkpoint",
    "load_task",
    "make_optimizer",
    "make_out_dir",
    "make_scheduler",
    "model_spec",
    "plot_curves",
    "save_checkpoint",
    "train",
]

MODELS = ("mlp", "cnn", "rnn")
DATASETS = ("digits", "moons", "spirals", "sine")
OPTIMIZERS = ("sgd", "adam")

#: Which model can read which dataset. An MLP reads anything flattened; a CNN needs
#: images (the 8×8 digits); an RNN needs sequences (sine windows, or a digit read row
#: by row, 8 steps of 8 pixels).
COMPATIBLE: dict[str, tuple[str, ...]] = {
    "mlp": ("digits", "moons", "spirals", "sine"),
    "cnn": ("digits",),
    "rnn": ("sine", "digits"),
}

class Defaults(NamedTuple):
    """The settings a run uses unless told otherwise."""

    epochs: int
    batch_size: int
    lr: dict[str, float]  # per optimizer


_LR = {"adam": 0.003, "sgd": 0.1}  # SGD with momentum 0.9

#: Defaults for each (model, dataset), tuned so that every run takes seconds on a laptop
#: CPU and the digits reach ≥ 97% (MLP, RNN) and ≥ 98% (CNN) held-out accuracy.
DEFAULTS: dict[tuple[str, str], Defaults] = {
    ("mlp", "digits"): Defaults(30, 32, _LR),
    ("mlp", "moons"): Defaults(40, 32, _LR),
    ("mlp", "spirals"): Defaults(60, 32, _LR),
    ("mlp", "sine"): Defaults(40, 32, _LR),
    ("cnn", "digits"): Defaults(30, 32, {"adam": 0.01, "sgd": 0.1}),
    ("rnn", "sine"): Defaults(30, 32, _LR),
    ("rnn", "digits"): Defaults(30, 32, {"adam": 0.003, "sgd": 0.03}),
}

CHECKPOINT_NAME = "checkpoint.safetensors"
CHECKPOINT_FORMAT = "chainrule.training/1"
CURVES_NAME = "curves.png"
GRADIENT_FLOW_NAME = "gradient_flow.png"


# --------------------------------------------------------------------------------------
# configuration
# --------------------------------------------------------------------------------------


@dataclass
class TrainConfig:
    """What to train, on what, and how. ``None`` means "the default for this model/data".

    Every field is a plain JSON value, so the config is stored in the checkpoint as is.
    """

    model: str = "mlp"
    dataset: str = "digits"
    epochs: int | None = None
    lr: float | None = None
    optimizer: str = "adam"
    batch_size: int | None = None
    seed: int = 0
    out: str | None = "chainrule-demo"
    progress: bool = True
    diagnose: bool = False
    arch: dict[str, Any] = field(default_factory=dict)

    def resolved(self) -> TrainConfig:
        """A copy with every ``None`` replaced by its default (and the names checked)."""
        check_compatible(self.model, self.dataset)
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; choose from "
                             f"{', '.join(OPTIMIZERS)}")
        defaults = DEFAULTS[(self.model, self.dataset)]
        return TrainConfig(
            model=self.model, dataset=self.dataset,
            epochs=defaults.epochs if self.epochs is None else self.epochs,
            lr=defaults.lr[self.optimizer] if self.lr is None else self.lr,
            optimizer=self.optimizer,
            batch_size=defaults.batch_size if self.batch_size is None else self.batch_size,
            seed=self.seed, out=self.out, progress=self.progress, diagnose=self.diagnose,
            arch={**default_arch(self.model, self.dataset), **self.arch},
        )


def check_compatible(model: str, dataset: str) -> None:
    """Raise ``ValueError`` (one line) unless ``model`` can be trained on ``dataset``."""
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; choose from {', '.join(MODELS)}")
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; choose from {', '.join(DATASETS)}")
    if dataset not in COMPATIBLE[model]:
        needs = {"cnn": "images", "rnn": "sequences"}.get(model, "vectors")
        raise ValueError(f"--model {model} cannot be trained on --dataset {dataset}: the "
                         f"{model} needs {needs} (--dataset {' or '.join(COMPATIBLE[model])})")


# --------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------


@dataclass
class Task:
    """A dataset split for training: inputs already shaped for the model that reads them."""

    name: str
    kind: str                   # "classification" or "regression"
    train: TensorDataset
    test: TensorDataset
    input_shape: tuple[int, ...]  # of one sample
    n_outputs: int              # classes, or regression targets
    # regression only: the test MSE of predicting the last input value (a trivial baseline)
    baseline_mse: float | None = None

    @property
    def n_features(self) -> int:
        return int(np.prod(self.input_shape))


def _split(x: np.ndarray, y: np.ndarray, seed: int,
           test_fraction: float = 0.2) -> tuple[np.ndarray, ...]:
    """A random train/test split, the same for the same ``seed``."""
    n_test = math.ceil(len(x) * test_fraction)
    perm = np.random.default_rng(seed).permutation(len(x))
    test, train = perm[:n_test], perm[n_test:]
    return x[train], y[train], x[test], y[test]


def _shape_for(model: str, dataset: str, x: np.ndarray) -> np.ndarray:
    """Reshape a batch of samples for ``model``: flat vectors, images or sequences."""
    if model == "mlp":
        return x.reshape(len(x), -1)
    if model == "cnn":                       # digits: (n, 64) -> (n, 1, 8, 8)
        return x.reshape(len(x), 1, 8, 8)
    if dataset == "digits":                  # rnn: 8 time steps of 8 pixels (one row each)
        return x.reshape(len(x), 8, 8)
    return x                                  # rnn on sine: (n, seq_len, 1) already


def load_task(dataset: str, model: str = "mlp", seed: int = 0) -> Task:
    """Load ``dataset``, hold out 20% as the test split (fixed by ``seed``), shape for ``model``.

    ``digits`` (1797 8×8 images, 10 classes), ``moons`` (1000 points, 2 classes),
    ``spirals`` (900 points, 3 classes) are classification; ``sine`` (1000 noisy sine
    windows of 20 steps; predict the next value) is regression.
    """
    check_compatible(model, dataset)
    baseline = None
    if dataset == "digits":
        split = cr.data.load_digits(test_fraction=0.2, seed=seed)
        x_train, y_train, x_test, y_test = split
        kind, n_outputs = "classification", 10
    elif dataset in ("moons", "spirals"):
        if dataset == "moons":
            x, y = cr.data.make_moons(n_samples=1000, noise=0.2, seed=seed)
        else:
            x, y = cr.data.make_spirals(n_samples=900, n_classes=3, noise=0.2, seed=seed)
        x_train, y_train, x_test, y_test = _split(x, y, seed)
        kind, n_outputs = "classification", int(y.max()) + 1
    else:
        x, y = cr.data.make_sine_sequences(n_sequences=1000, seq_len=20, seed=seed)
        x_train, y_train, x_test, y_test = _split(x, y, seed)
        kind, n_outputs = "regression", 1
        baseline = float(np.mean((x_test[:, -1, :] - y_test) ** 2))
    x_train, x_test = _shape_for(model, dataset, x_train), _shape_for(model, dataset, x_test)
    return Task(dataset, kind, cr.data.to_tensor_dataset(x_train, y_train),
                cr.data.to_tensor_dataset(x_test, y_test), tuple(x_train.shape[1:]),
                n_outputs, baseline)


# --------------------------------------------------------------------------------------
# models
# --------------------------------------------------------------------------------------


class SequenceModel(nn.Module):
    """A tanh RNN over the time steps, then a linear layer on the last hidden state.

    ``x`` has shape ``(batch, time, features)``; the output ``(batch, n_outputs)``.
    """

    def __init__(self, n_features: int, hidden: int, n_outputs: int) -> None:
        super().__init__()
        self.rnn = nn.RNN(n_features, hidden, batch_first=True)
        self.head = nn.Linear(hidden, n_outputs)

    def forward(self, x: cr.Tensor) -> cr.Tensor:
        outputs, _ = self.rnn(x)
        return self.head(outputs[:, -1])


def default_arch(model: str, dataset: str) -> dict[str, Any]:
    """The layer sizes used unless the config says otherwise."""
    if model == "mlp":
        return {"hidden": [256] if dataset == "digits" else [64, 64]}
    if model == "cnn":
        return {"channels": [32, 64]}
    return {"hidden": 128 if dataset == "digits" else 32}


def _mlp(n_features: int, hidden: Sequence[int], n_outputs: int) -> nn.Sequential:
    layers: dict[str, nn.Module] = {"flatten": nn.Flatten()}
    width = n_features
    for i, size in enumerate(hidden, start=1):
        layers[f"fc{i}"] = nn.Linear(width, int(size))
        layers[f"relu{i}"] = nn.ReLU()
        width = int(size)
    layers[f"fc{len(hidden) + 1}"] = nn.Linear(width, n_outputs)
    return nn.Sequential(layers)


def _cnn(input_shape: Sequence[int], channels: Sequence[int], n_outputs: int) -> nn.Sequential:
    layers: dict[str, nn.Module] = {}
    in_channels, height, width = input_shape
    for i, out_channels in enumerate(channels, start=1):
        layers[f"conv{i}"] = nn.Conv2d(in_channels, int(out_channels), 3, padding=1)
        layers[f"relu{i}"] = nn.ReLU()
        layers[f"pool{i}"] = nn.MaxPool2d(2)
        in_channels, height, width = int(out_channels), height // 2, width // 2
    layers["flatten"] = nn.Flatten()
    layers["fc"] = nn.Linear(in_channels * height * width, n_outputs)
    return nn.Sequential(layers)


def build_model(model: str, input_shape: Sequence[int], n_outputs: int,
                arch: dict[str, Any]) -> nn.Module:
    """An ``mlp``, ``cnn`` or ``rnn`` for samples of ``input_shape``:

    * mlp (``arch["hidden"]``: a list of sizes): ``Flatten``, then ``Linear → ReLU`` per
      hidden size, then ``Linear`` to the outputs;
    * cnn (``arch["channels"]``, input ``(C, H, W)``): ``Conv2d(3×3, padding 1) → ReLU →
      MaxPool2d(2)`` per channel count (8×8 → 4×4 → 2×2), then ``Flatten → Linear``;
    * rnn (``arch["hidden"]``: one size, input ``(time, features)``): :class:`SequenceModel`.

    Layers are named (``fc1``, ``conv2``...), which names the state dict's keys.
    """
    if model == "mlp":
        return _mlp(int(np.prod(input_shape)), arch["hidden"], n_outputs)
    if model == "cnn":
        return _cnn(input_shape, arch["channels"], n_outputs)
    if model == "rnn":
        return SequenceModel(input_shape[-1], int(arch["hidden"]), n_outputs)
    raise ValueError(f"unknown model {model!r}; choose from {', '.join(MODELS)}")


def model_spec(config: TrainConfig, task: Task) -> dict[str, Any]:
    """All :func:`build_model` needs, as JSON: stored in the checkpoint to rebuild the model."""
    return {"model": config.model, "input_shape": list(task.input_shape),
            "n_outputs": task.n_outputs,
            "arch": {**default_arch(config.model, config.dataset), **config.arch}}


def make_optimizer(name: str, params: Any, lr: float) -> optim.Optimizer:
    """``adam`` (PyTorch's defaults otherwise) or ``sgd`` with momentum 0.9."""
    if name == "adam":
        return optim.Adam(params, lr=lr)
    if name == "sgd":
        return optim.SGD(params, lr=lr, momentum=0.9)
    raise ValueError(f"unknown optimizer {name!r}; choose from {', '.join(OPTIMIZERS)}")


def make_scheduler(optimizer: optim.Optimizer, epochs: int) -> Any:
    """The learning rate decays from its initial value to 0 along half a cosine, stepped
    once per epoch: large steps first, small ones to settle at the end."""
    return optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)


# --------------------------------------------------------------------------------------
# the loop
# --------------------------------------------------------------------------------------


def loss_fn(task: Task, output: cr.Tensor, target: cr.Tensor) -> cr.Tensor:
    """Cross-entropy for classification, mean squared error for regression."""
    if task.kind == "classification":
        return nn.functional.cross_entropy(output, target)
    return nn.functional.mse_loss(output, target)


def _n_correct(output: cr.Tensor, target: cr.Tensor) -> int:
    return int(np.sum(output.numpy().argmax(axis=1) == target.numpy()))


def evaluate(model: nn.Module, task: Task, dataset: TensorDataset | None = None,
             batch_size: int = 512) -> dict[str, float]:
    """Mean loss (and accuracy, for classification) of ``model`` on ``dataset`` (default:
    the task's test split), without recording a graph."""
    dataset = task.test if dataset is None else dataset
    was_training = model.training
    model.eval()
    total_loss, correct, n = 0.0, 0, 0
    with cr.no_grad():
        for x, y in DataLoader(dataset, batch_size=batch_size):
            output = model(x)
            total_loss += float(loss_fn(task, output, y).item()) * len(y)
            if task.kind == "classification":
                correct += _n_correct(output, y)
            n += len(y)
    model.train(was_training)
    if n == 0:
        raise ValueError("evaluate: the dataset is empty; there is nothing to evaluate on")
    metrics = {"loss": total_loss / n}
    if task.kind == "classification":
        metrics["accuracy"] = correct / n
    return metrics


class _Progress:
    """A tqdm bar over every batch of every epoch, or one plain line per epoch."""

    def __init__(self, total: int, enabled: bool, log: Callable[[str], None],
                 desc: str = "") -> None:
        self.log = log
        self.bar: Any = None
        if enabled:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                log('(no progress bar: tqdm is not installed; pip install "chainrule[progress]")')
            else:
                self.bar = tqdm(total=total, desc=desc, unit="batch", dynamic_ncols=True)

    def batch(self, epoch: int, epochs: int, postfix: dict[str, str]) -> None:
        if self.bar is not None:
            self.bar.set_description(f"epoch {epoch}/{epochs}", refresh=False)
            self.bar.set_postfix(postfix, refresh=False)
            self.bar.update(1)

    def epoch(self, line: str, postfix: dict[str, str]) -> None:
        if self.bar is not None:
            self.bar.set_postfix(postfix)
        else:
            self.log(line)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _one_blas_thread() -> contextlib.AbstractContextManager[Any]:
    """Run NumPy's BLAS on one thread, where ``threadpoolctl`` is installed (it comes with
    scikit-learn). These models multiply small matrices, for which OpenBLAS's threads cost
    more than they save: on a busy 2-core machine the demo trains 3 to 10 times faster."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def train_one_epoch(model: nn.Module, task: Task, loader: DataLoader,
                    optimizer: optim.Optimizer,
                    after_backward: Callable[[], Any] | None = None,
                    on_batch: Callable[[dict[str, str]], Any] | None = None) -> dict[str, float]:
    """One pass over ``loader``: forward, loss, backward, step for each batch.

    Returns the mean training loss (and, for classification, the training accuracy) over
    the epoch. ``on_batch`` receives the running values, formatted, after every step.
    """
    model.train()
    total_loss, correct, n = 0.0, 0, 0
    for x, y in loader:
        output = model(x)
        loss = loss_fn(task, output, y)
        optimizer.zero_grad()
        loss.backward()                 # the chain rule, through every layer
        if after_backward is not None:
            after_backward()
        optimizer.step()
        total_loss += float(loss.item()) * len(y)
        n += len(y)
        running = {"loss": f"{total_loss / n:.4f}"}
        if task.kind == "classification":
            correct += _n_correct(output, y)
            running["acc"] = f"{100 * correct / n:.1f}%"
        if on_batch is not None:
            on_batch(running)
    if n == 0:
        raise ValueError("train_one_epoch: the loader gave no batch (an empty dataset, or "
                         "drop_last with fewer samples than batch_size)")
    metrics = {"loss": total_loss / n}
    if task.kind == "classification":
        metrics["accuracy"] = correct / n
    return metrics


def fit(model: nn.Module, task: Task, optimizer: optim.Optimizer, epochs: int, batch_size: int,
        seed: int = 0, progress: bool = True, log: Callable[[str], None] = print,
        after_backward: Callable[[], Any] | None = None,
        scheduler: Any = None) -> dict[str, list[float]]:
    """Train ``model`` for ``epochs`` passes over the shuffled training split.

    After every epoch ``scheduler`` (if any) takes its step and the model is evaluated on
    the test split. Returns the history: ``train_loss`` and ``test_loss`` per epoch, and
    for classification ``train_accuracy`` and ``test_accuracy`` (fractions).
    ``after_backward`` is called after each ``loss.backward()`` (e.g. a gradient
    monitor's ``step``).
    """
    loader = DataLoader(task.train, batch_size=batch_size, shuffle=True, seed=seed)
    keys = ["loss", "accuracy"] if task.kind == "classification" else ["loss"]
    history: dict[str, list[float]] = {f"{split}_{k}": [] for k in keys
                                       for split in ("train", "test")}
    bar = _Progress(epochs * len(loader), progress, log, desc=f"epoch 1/{epochs}")
    with _one_blas_thread(), contextlib.closing(bar):
        for epoch in range(1, epochs + 1):
            train = train_one_epoch(model, task, loader, optimizer, after_backward,
                                    on_batch=functools.partial(bar.batch, epoch, epochs))
            if scheduler is not None:
                scheduler.step()
            test = evaluate(model, task)
            for k in keys:
                history[f"train_{k}"].append(train[k])
                history[f"test_{k}"].append(test[k])
            line = f"epoch {epoch:3d}/{epochs}  train loss {train['loss']:.4f}"
            if task.kind == "classification":
                line += (f"  train acc {100 * train['accuracy']:5.1f}%  "
                         f"test acc {100 * test['accuracy']:5.1f}%")
                summary = {"loss": f"{train['loss']:.4f}",
                           "acc": f"{100 * train['accuracy']:.1f}%",
                           "test acc": f"{100 * test['accuracy']:.1f}%"}
            else:
                line += f"  test mse {test['loss']:.5f}"
                summary = {"loss": f"{train['loss']:.4f}", "test mse": f"{test['loss']:.5f}"}
            bar.epoch(line, summary)
    return history


# --------------------------------------------------------------------------------------
# checkpoints and curves
# --------------------------------------------------------------------------------------


def save_checkpoint(path: str | os.PathLike[str], model: nn.Module, spec: dict[str, Any],
                    optimizer: optim.Optimizer | None = None, scheduler: Any = None,
                    config: dict[str, Any] | None = None, metrics: dict[str, Any] | None = None,
                    history: dict[str, list[float]] | None = None) -> None:
    """Save a training run to one safetensors file with ``cr.save``: the model's,
    optimizer's and scheduler's state dicts, the model spec (what :func:`build_model`
    needs to rebuild it, see :func:`model_spec`), and the JSON-able config, final metrics
    and history.

    The file is replaced atomically: it appears only once completely written, and if
    anything fails an existing checkpoint at ``path`` is left as it was. The JSON parts
    are checked first, before anything is written.
    """
    extras = {"spec": spec, "config": config or {}, "metrics": metrics or {},
              "history": history or {}}
    json.dumps(extras, allow_nan=False)  # fail early, with json's message, on a bad value
    state = {
        "format": CHECKPOINT_FORMAT,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else {},
        "scheduler": scheduler.state_dict() if scheduler is not None else {},
        **extras,
    }
    cr.save(state, path)


def load_checkpoint(path: str | os.PathLike[str]) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model a checkpoint holds and load its weights.

    Returns ``(model, checkpoint)``: the model in eval mode, and everything that was saved
    (``checkpoint["config"]``, ``["metrics"]``, ``["optimizer"]``...)::

        model, ckpt = load_checkpoint("chainrule-demo/checkpoint.safetensors")
        predictions = model(x).argmax(dim=1)
    """
    checkpoint = cr.load(path)
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise cr.CheckpointError(
            f"{os.fspath(path)!r} was not written by chainrule.training.save_checkpoint")
    try:
        spec = checkpoint["spec"]
        model = build_model(spec["model"], spec["input_shape"], spec["n_outputs"],
                            spec["arch"])
        state = checkpoint["model"]
    except (KeyError, TypeError, ValueError) as e:  # an edited or damaged checkpoint
        raise cr.CheckpointError(
            f"{os.fspath(path)!r}: the model spec or state is missing or malformed "
            f"({type(e).__name__}: {e})") from e
    model.load_state_dict(state)
    model.eval()
    return model, checkpoint


def plot_curves(history: dict[str, list[float]], path: str | os.PathLike[str],
                title: str = "", baseline_mse: float | None = None) -> bool:
    """Draw loss (and accuracy) per epoch to a PNG. Returns False if matplotlib is missing."""
    try:  # the object-oriented API: no pyplot, so no global backend or figure state
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        return False
    epochs = np.arange(1, len(history["train_loss"]) + 1)
    classify = "test_accuracy" in history
    fig = Figure(figsize=(10 if classify else 5.5, 4))
    axes = fig.subplots(1, 2 if classify else 1, squeeze=False)
    ax = axes[0, 0]
    ax.plot(epochs, history["train_loss"], label="train")
    ax.plot(epochs, history["test_loss"], label="test")
    if baseline_mse is not None:
        ax.axhline(baseline_mse, color="gray", linestyle="--",
                   label="repeat last value (test)")
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("cross-entropy loss" if classify else "mean squared error")
    ax.set_yscale("log")
    ax.grid(True, alpha=0.3)
    ax.legend()
    if classify:
        ax = axes[0, 1]
        ax.plot(epochs, 100 * np.asarray(history["train_accuracy"]), label="train")
        ax.plot(epochs, 100 * np.asarray(history["test_accuracy"]), label="test")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("accuracy (%)")
        ax.grid(True, alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(os.fspath(path), dpi=100)
    return True


# --------------------------------------------------------------------------------------
# a whole run
# --------------------------------------------------------------------------------------


def make_out_dir(out: str | os.PathLike[str]) -> None:
    """Create the output directory (and its parents) unless it exists, and check that files
    can be created in it (so that a read-only ``out`` fails now, not after the training).

    Raises
    ------
    OSError
        With a one-line message naming ``out`` if it is a file, cannot be created or is not
        writable.
    """
    try:
        os.makedirs(out, exist_ok=True)
        # a real probe, not os.access: that says yes to root on a read-only file system
        with tempfile.NamedTemporaryFile(dir=out, prefix=".chainrule-probe-"):
            pass
    except OSError as e:
        reason = "it exists and is not a directory" if isinstance(e, FileExistsError) else (
            e.strerror or str(e))
        raise type(e)(e.errno, f"cannot use {os.fspath(out)!r} as the output directory: "
                               f"{reason}") from None
    for name in (CHECKPOINT_NAME, CURVES_NAME, GRADIENT_FLOW_NAME):  # written at the end
        if os.path.isdir(os.path.join(out, name)):
            raise IsADirectoryError(
                errno.EISDIR, f"cannot use {os.fspath(out)!r} as the output directory: "
                              f"{name} in it is a directory; remove it or choose another --out")


@dataclass
class TrainResult:
    """What :func:`train` produced: the trained model, its metrics and where files went."""

    model: nn.Module
    task: Task
    config: TrainConfig
    history: dict[str, list[float]]
    metrics: dict[str, float]
    seconds: float
    checkpoint: str | None = None
    curves: str | None = None
    gradient_flow: str | None = None
    gradient_report: str | None = None
    notes: list[str] = field(default_factory=list)


def train(config: TrainConfig, log: Callable[[str], None] = print) -> TrainResult:
    """Load the data, build the model, train it, evaluate it; then, if ``config.out`` is a
    directory, save the checkpoint and the curves there.

    ``log`` receives every line meant for the user (``print`` by default).
    """
    config = config.resolved()
    assert config.epochs is not None and config.batch_size is not None and config.lr is not None
    for name in ("epochs", "batch_size"):
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{name} must be an int, got {value!r}")
    check_seed(config.seed, "train")  # the one rule for seeds, as the data functions
    if config.seed > 2**64 - 1:  # what cr.manual_seed takes; checked before any file is made
        raise ValueError(f"train: seed must be at most 2**64 - 1, got {config.seed}")
    if config.epochs < 1 or config.batch_size < 1 or not config.lr > 0:
        raise ValueError("epochs and batch size must be at least 1 and lr positive")
    # plain Python numbers: the config goes into the checkpoint as JSON (np.int64 is not JSON);
    # ``resolved()`` gave a copy, so the caller's config is not changed
    config.epochs, config.batch_size = int(config.epochs), int(config.batch_size)
    config.seed, config.lr = int(config.seed), float(config.lr)
    if config.out is not None:  # before training: a bad --out must not cost a whole run
        make_out_dir(config.out)
    cr.manual_seed(config.seed)
    task = load_task(config.dataset, config.model, seed=config.seed)
    model = build_model(config.model, task.input_shape, task.n_outputs, config.arch)
    optimizer = make_optimizer(config.optimizer, model.parameters(), config.lr)
    scheduler = make_scheduler(optimizer, config.epochs)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"Training a {config.model} ({n_params:,} parameters) on {config.dataset}: "
        f"{len(task.train)} training / {len(task.test)} held-out test samples, "
        f"{config.epochs} epochs, {config.optimizer} lr={config.lr:g}, "
        f"batch size {config.batch_size}, seed {config.seed}")

    notes: list[str] = []
    # --diagnose: record every layer's gradients after each backward (cr.nn.utils too)
    monitor = GradientMonitor(model) if config.diagnose else None
    start = time.perf_counter()
    history = fit(model, task, optimizer, config.epochs, config.batch_size, seed=config.seed,
                  progress=config.progress, log=log,
                  after_backward=None if monitor is None else monitor.step, scheduler=scheduler)
    seconds = time.perf_counter() - start
    test = evaluate(model, task)
    metrics = {"test_loss": test["loss"], "train_seconds": seconds}
    if task.kind == "classification":
        metrics["test_accuracy"] = test["accuracy"]
    if task.baseline_mse is not None:
        metrics["test_mse"] = test["loss"]
        metrics["baseline_mse"] = task.baseline_mse

    result = TrainResult(model, task, config, history, metrics, seconds, notes=notes)
    if monitor is not None:
        result.gradient_report = monitor.report()
    if config.out is not None:
        result.checkpoint = os.path.join(config.out, CHECKPOINT_NAME)
        save_checkpoint(result.checkpoint, model, model_spec(config, task), optimizer,
                        scheduler, asdict(config), metrics, history)
        curves = os.path.join(config.out, CURVES_NAME)
        title = f"{config.model} on {config.dataset}"
        if plot_curves(history, curves, title, task.baseline_mse):
            result.curves = curves
        else:
            notes.append('no curves: matplotlib is not installed; '
                         'pip install "chainrule[plot]"')
        if monitor is not None:
            flow = os.path.join(config.out, GRADIENT_FLOW_NAME)
            try:
                monitor.plot(flow, title=f"{title}: gradient norm per layer")
            except ImportError as e:
                notes.append(f"no gradient-flow plot: {e}")
            else:
                result.gradient_flow = flow
    return result
