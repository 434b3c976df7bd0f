"""Datasets and data loading (``torch.utils.data``-like), NumPy only.

``Dataset``, ``TensorDataset``, ``ConcatDataset``, ``Subset``, ``random_split``, the samplers
and ``DataLoader`` follow PyTorch; ``make_moons``, ``make_spirals``, ``make_sine_sequences``
and ``load_digits`` give small demo datasets; ``MNIST`` / ``FashionMNIST`` read local IDX files.
"""

from chainrule.data.dataset import ConcatDataset, Dataset, Subset, TensorDataset, random_split
from chainrule.data.datasets import (
    DigitsSplit,
    digits_images,
    load_digits,
    make_moons,
    make_sine_sequences,
    make_spirals,
    to_tensor_dataset,
)
from chainrule.data.idx import read_idx, write_idx
from chainrule.data.loader import DataLoader, default_collate, default_convert
from chainrule.data.mnist import MNIST, FashionMNIST
from chainrule.data.sampler import (
    BatchSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)

__all__ = [
    "MNIST",
    "BatchSampler",
    "ConcatDataset",
    "DataLoader",
    "Dataset",
    "DigitsSplit",
    "FashionMNIST",
    "RandomSampler",
    "Sampler",
    "SequentialSampler",
    "Subset",
    "SubsetRandomSampler",
    "TensorDataset",
    "WeightedRandomSampler",
    "default_collate",
    "default_convert",
    "digits_images",
    "load_digits",
    "make_moons",
    "make_sine_sequences",
    "make_spirals",
    "random_split",
    "read_idx",
    "to_tensor_dataset",
    "write_idx",
]
