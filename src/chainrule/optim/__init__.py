"""Optimizers and learning-rate schedules, with PyTorch's names and formulas.

>>> import chainrule as cr
>>> w = cr.tensor([1.0, -2.0], requires_grad=True)
>>> opt = cr.optim.Adam([w], lr=0.1)
>>> for _ in range(3):
...     opt.zero_grad()
...     loss = (w ** 2).sum()
...     loss.backward()
...     opt.step()
>>> w
tensor([ 0.7016, -1.7006], requires_grad=True)

Each optimizer keeps its state (``optimizer.state``, ``optimizer.param_groups``); the update
itself is a pure function on NumPy arrays (:func:`sgd_step`, :func:`adam_step`,
:func:`rmsprop_step`, :func:`adagrad_step`) that changes the parameters in place.
"""

from __future__ import annotations

from . import lr_scheduler
from .adagrad import Adagrad, adagrad_step
from .adam import Adam, AdamW, adam_step
from .optimizer import Optimizer
from .rmsprop import RMSprop, rmsprop_step
from .sgd import SGD, sgd_step

__all__ = [
    "SGD",
    "Adagrad",
    "Adam",
    "AdamW",
    "Optimizer",
    "RMSprop",
    "adagrad_step",
    "adam_step",
    "lr_scheduler",
    "rmsprop_step",
    "sgd_step",
]
