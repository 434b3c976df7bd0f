"""MNIST and Fashion-MNIST read from local IDX files (nothing is downloaded)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from chainrule.data._convert import from_numpy
from chainrule.data.dataset import Dataset
from chainrule.data.idx import StrPath, read_idx


class MNIST(Dataset[tuple[Any, Any]]):
    """The MNIST handwritten digits, read from the IDX files in ``root``.

    The four standard files (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, each optionally ending in
    ``.gz``) are looked for in ``root`` and then in ``root/MNIST/raw`` (torchvision's
    layout).

    Parameters
    ----------
    root
        The folder holding the files (``~`` is expanded, as in torchvision).
    train
        The 60,000-image training split if true, else the 10,000-image test split.
    transform, target_transform
        Optional callables applied to the image tensor and to the int label.

    Attributes
    ----------
    data : numpy.ndarray
        uint8 images, shape ``(n, 28, 28)``.
    targets : numpy.ndarray
        int64 labels, shape ``(n,)``.
    classes : list of str
        Class names, indexed by label.

    Notes
    -----
    Item ``i`` is ``(image, label)``: a float32 tensor in [0, 1] of shape
    ``(1, 28, 28)`` and an int.

    Raises
    ------
    FileNotFoundError
        If a file is missing (the message names the files and folders searched).
    ValueError
        If a file is malformed or the image and label counts differ.
    """

    classes: ClassVar[list[str]] = [
        "0 - zero", "1 - one", "2 - two", "3 - three", "4 - four",
        "5 - five", "6 - six", "7 - seven", "8 - eight", "9 - nine",
    ]  # fmt: skip
    _folder: ClassVar[str] = "MNIST"
    _source: ClassVar[str] = "an MNIST mirror (the original is yann.lecun.com/exdb/mnist)"

    def __init__(
        self,
        root: StrPath,
        train: bool = True,
        transform: Callable[[Any], Any] | None = None,
        target_transform: Callable[[int], Any] | None = None,
    ) -> None:
        self.root = Path(root).expanduser()  # "~/data", as torchvision accepts
        self.train = bool(train)
        self.transform = transform
        self.target_transform = target_transform
        prefix = "train" if self.train else "t10k"
        images_path, labels_path = self._find(
            f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"
        )
        images = read_idx(images_path)
        labels = read_idx(labels_path)
        if images.ndim != 3 or images.dtype != np.uint8:
            raise ValueError(
                f"IDX file {images_path}: expected uint8 images of shape (n, rows, cols), "
                f"got {images.dtype} of shape {images.shape}"
            )
        if labels.ndim != 1 or labels.dtype != np.uint8:
            raise ValueError(
                f"IDX file {labels_path}: expected uint8 labels of shape (n,), got "
                f"{labels.dtype} of shape {labels.shape}"
            )
        if len(images) != len(labels):
            raise ValueError(
                f"{type(self).__name__}: {images_path} has {len(images)} images but "
                f"{labels_path} has {len(labels)} labels"
            )
        if len(labels) and int(labels.max()) >= len(self.classes):
            raise ValueError(
                f"IDX file {labels_path}: label {int(labels.max())} out of range; "
                f"{type(self).__name__} has {len(self.classes)} classes"
            )
        self.data: np.ndarray = images
        self.targets: np.ndarray = labels.astype(np.int64)

    def _search_dirs(self) -> list[Path]:
        return [self.root, self.root / self._folder / "raw"]

    def _find(self, *names: str) -> list[Path]:
        dirs = self._search_dirs()
        found: list[Path] = []
        missing: list[str] = []
        for name in names:
            hits = [p for d in dirs for p in (d / name, d / f"{name}.gz") if p.is_file()]
            if hits:
                found.append(hits[0])
            else:
                missing.append(f"{name!r} (or {name + '.gz'!r})")
        if missing:
            where = " or ".join(str(d) for d in dirs)
            raise FileNotFoundError(
                f"{type(self).__name__}: {' and '.join(missing)} not found in {where}. "
                f"Nothing is downloaded: get the IDX files ({self._file_list()}) from "
                f"{self._source} and put them in {self.root}"
            )
        return found

    @staticmethod
    def _file_list() -> str:
        return ", ".join(
            f"{p}-{k}-idx{d}-ubyte"
            for p in ("train", "t10k")
            for k, d in (("images", 3), ("labels", 1))
        )

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        image = self.data[index].astype(np.float32)[None] / np.float32(255.0)
        img: Any = from_numpy(image)
        label: Any = int(self.targets[index])
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            label = self.target_transform(label)
        return img, label

    def _get_batch(self, indices: np.ndarray) -> Any:
        """The default-collated batch ``(images (b,1,28,28) float32, labels (b,) int64)``."""
        if self.transform is not None or self.target_transform is not None:
            from chainrule.data.loader import default_collate

            return default_collate([self[int(i)] for i in indices])
        images = self.data[indices].astype(np.float32)[:, None] / np.float32(255.0)
        return from_numpy(images), from_numpy(self.targets[indices])

    def __repr__(self) -> str:
        split = "train" if self.train else "test"
        return f"{type(self).__name__}(root={str(self.root)!r}, split={split}, n={len(self)})"


class FashionMNIST(MNIST):
    """Fashion-MNIST (Zalando's clothing images), same files and format as ``MNIST``.

    The files are looked for in ``root`` and then in ``root/FashionMNIST/raw``.
    """

    classes: ClassVar[list[str]] = [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ]  # fmt: skip
    _folder: ClassVar[str] = "FashionMNIST"
    _source: ClassVar[str] = "https://github.com/zalandoresearch/fashion-mnist"
