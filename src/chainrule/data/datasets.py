"""Small datasets for demos: generated 2-D toys, sine sequences and sklearn's digits.

Every function is deterministic given ``seed`` and returns NumPy arrays with
float32 inputs; ``to_tensor_dataset`` wraps arrays in a ``TensorDataset``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from chainrule.data._random import check_seed
from chainrule.data.dataset import TensorDataset


def to_tensor_dataset(*arrays: np.ndarray) -> TensorDataset:
    """Wrap NumPy arrays (e.g. ``X, y``) in a ``TensorDataset`` of chainrule tensors.

    Dtypes are kept (``cr.tensor`` semantics): float32 inputs, int64 labels.
    """
    import chainrule as cr

    return TensorDataset(*(cr.tensor(np.asarray(a)) for a in arrays))


def _check_positive(name: str, value: int, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{where}: {name} must be an int, got {value!r}")
    if value < 1:
        raise ValueError(f"{where}: {name} must be at least 1, got {value}")


def _check_noise(noise: float, where: str) -> None:
    """The noise is a standard deviation: a finite number >= 0."""
    if not (isinstance(noise, (int, float, np.integer, np.floating)) and 0 <= noise < math.inf):
        raise ValueError(f"{where}: noise must be a finite number >= 0, got {noise!r}")


def _rng(seed: int | None, where: str) -> np.random.Generator:
    if seed is not None:
        check_seed(seed, where)
    return np.random.default_rng(seed)


def make_moons(
    n_samples: int = 100, noise: float = 0.1, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles (as ``sklearn.datasets.make_moons``).

    Parameters
    ----------
    n_samples
        Total number of points; class 0 gets ``n_samples // 2``, class 1 the rest.
    noise
        Standard deviation of Gaussian noise added to the points.
    seed
        Seed of the random generator (noise and the order of the samples).

    Returns
    -------
    X : numpy.ndarray
        float32, shape ``(n_samples, 2)``.
    y : numpy.ndarray
        int64 labels 0/1, shape ``(n_samples,)``, in shuffled order.
    """
    _check_positive("n_samples", n_samples, "make_moons")
    _check_noise(noise, "make_moons")
    rng = _rng(seed, "make_moons")
    n_out = n_samples // 2
    n_in = n_samples - n_out
    t_out = np.linspace(0.0, math.pi, n_out)
    t_in = np.linspace(0.0, math.pi, n_in)
    outer = np.stack([np.cos(t_out), np.sin(t_out)], axis=1)
    inner = np.stack([1.0 - np.cos(t_in), 0.5 - np.sin(t_in)], axis=1)
    x = np.concatenate([outer, inner])
    y = np.concatenate([np.zeros(n_out, np.int64), np.ones(n_in, np.int64)])
    if noise > 0:
        x = x + rng.normal(scale=noise, size=x.shape)
    perm = rng.permutation(n_samples)
    return x[perm].astype(np.float32), y[perm]


def make_spirals(
    n_samples: int = 300, n_classes: int = 3, noise: float = 0.2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Interleaved 2-D spiral arms, one per class (the classic CS231n toy problem).

    Parameters
    ----------
    n_samples
        Total number of points, spread as evenly as possible over the classes.
    n_classes
        Number of spiral arms (classes).
    noise
        Standard deviation of the Gaussian noise on each point's angle (radians).
    seed
        Seed of the random generator.

    Returns
    -------
    X : numpy.ndarray
        float32, shape ``(n_samples, 2)``, inside the unit disc up to noise.
    y : numpy.ndarray
        int64 labels in ``range(n_classes)``, shape ``(n_samples,)``, shuffled.
    """
    _check_positive("n_samples", n_samples, "make_spirals")
    _check_positive("n_classes", n_classes, "make_spirals")
    _check_noise(noise, "make_spirals")
    rng = _rng(seed, "make_spirals")
    counts = [n_samples // n_classes + (k < n_samples % n_classes) for k in range(n_classes)]
    turn = 4.0  # radians of angle each arm sweeps
    xs, ys = [], []
    for k, m in enumerate(counts):
        r = np.linspace(0.0, 1.0, m)
        start = 2.0 * math.pi * k / n_classes
        theta = start + turn * r + rng.normal(scale=noise, size=m)
        xs.append(np.stack([r * np.sin(theta), r * np.cos(theta)], axis=1))
        ys.append(np.full(m, k, dtype=np.int64))
    x = np.concatenate(xs)
    y = np.concatenate(ys)
    perm = rng.permutation(n_samples)
    return x[perm].astype(np.float32), y[perm]


def make_sine_sequences(
    n_sequences: int = 512,
    seq_len: int = 20,
    noise: float = 0.05,
    step: float = 0.25,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Windows of phase-shifted sine waves, for next-value prediction with an RNN.

    Sequence ``i`` samples ``sin(step * t + phase_i)`` at ``t = 0 .. seq_len - 1``
    with a random phase and Gaussian noise; its target is the noise-free next value
    ``sin(step * seq_len + phase_i)``.

    Parameters
    ----------
    n_sequences
        Number of windows.
    seq_len
        Time steps per window.
    noise
        Standard deviation of the noise added to the inputs.
    step
        Phase advance per time step in radians (period ``2 * pi / step`` steps).
    seed
        Seed of the random generator.

    Returns
    -------
    X : numpy.ndarray
        float32, shape ``(n_sequences, seq_len, 1)`` (batch first, one feature).
    y : numpy.ndarray
        float32, shape ``(n_sequences, 1)``.
    """
    _check_positive("n_sequences", n_sequences, "make_sine_sequences")
    _check_positive("seq_len", seq_len, "make_sine_sequences")
    _check_noise(noise, "make_sine_sequences")
    if not math.isfinite(step):
        raise ValueError(f"make_sine_sequences: step must be finite, got {step!r}")
    rng = _rng(seed, "make_sine_sequences")
    phase = rng.uniform(0.0, 2.0 * math.pi, size=(n_sequences, 1))
    t = np.arange(seq_len + 1) * step
    clean = np.sin(t[None, :] + phase)
    x = clean[:, :seq_len] + rng.normal(scale=noise, size=(n_sequences, seq_len))
    return x[:, :, None].astype(np.float32), clean[:, seq_len:].astype(np.float32)


class DigitsSplit(NamedTuple):
    """Train/test split of the 8x8 digits: ``x_*`` float32 in [0, 1], ``y_*`` int64."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    def datasets(self, images: bool = False) -> tuple[TensorDataset, TensorDataset]:
        """``(train, test)`` as ``TensorDataset``; ``images`` gives ``(n, 1, 8, 8)`` inputs."""
        x_train, x_test = self.x_train, self.x_test
        if images:
            x_train, x_test = digits_images(x_train), digits_images(x_test)
        return to_tensor_dataset(x_train, self.y_train), to_tensor_dataset(x_test, self.y_test)


def digits_images(x: np.ndarray) -> np.ndarray:
    """Reshape flat digits ``(n, 64)`` into images ``(n, 1, 8, 8)`` (no copy)."""
    return np.asarray(x).reshape(-1, 1, 8, 8)


def load_digits(test_fraction: float = 0.2, seed: int = 0, images: bool = False) -> DigitsSplit:
    """scikit-learn's bundled 8x8 handwritten digits (1797 images), split at random.

    Needs scikit-learn (``pip install "chainrule[data]"``); nothing is downloaded.

    Parameters
    ----------
    test_fraction
        Fraction of the samples in the test split, in (0, 1); the test size is
        ``ceil(n * test_fraction)``.
    seed
        Seed of the random split.
    images
        If true, ``x_*`` have shape ``(n, 1, 8, 8)`` instead of ``(n, 64)``.

    Returns
    -------
    DigitsSplit
        ``(x_train, y_train, x_test, y_test)``; ``x`` float32 scaled to [0, 1],
        ``y`` int64 in 0..9.

    Raises
    ------
    ImportError
        If scikit-learn is not installed.
    """
    if not (isinstance(test_fraction, (int, float, np.floating)) and 0.0 < test_fraction < 1.0):
        raise ValueError(f"load_digits: test_fraction must be in (0, 1), got {test_fraction!r}")
    check_seed(seed, "load_digits")
    try:
        from sklearn.datasets import load_digits as _sk_load_digits
    except ImportError as e:
        raise ImportError(
            'load_digits needs scikit-learn: pip install "chainrule[data]" '
            "(or pip install scikit-learn)"
        ) from e
    bunch = _sk_load_digits()
    x = (np.asarray(bunch.data, dtype=np.float64) / 16.0).astype(np.float32)
    y = np.asarray(bunch.target, dtype=np.int64)
    n = len(y)
    n_test = math.ceil(n * test_fraction)
    if n_test >= n:
        raise ValueError(f"load_digits: test_fraction {test_fraction} leaves no training data")
    perm = np.random.default_rng(seed).permutation(n)
    test_idx, train_idx = perm[:n_test], perm[n_test:]
    if images:
        x = digits_images(x)
    return DigitsSplit(x[train_idx], y[train_idx], x[test_idx], y[test_idx])
