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
:func:`rmsprop_step`, :func:`adagrad_step`, :func:`adamax_step`, :func:`nadam_step`,
:func:`radam_step`, :func:`adadelta_step`, :func:`asgd_step`, :func:`rprop_step`) that changes
the parameters in place. :class:`LBFGS` re-evaluates the model through ``step(closure)``.
"""

from __future__ import annotations

from . import lr_scheduler
from .adadelta import Adadelta, adadelta_step
from .adagrad import Adagrad, adagrad_step
from .adam import Adam, AdamW, adam_step
from .adamax import Adamax, adamax_step
from .asgd import ASGD, asgd_step
from .lbfgs import LBFGS
from .nadam import NAdam, nadam_step
from .optimizer import Optimizer
from .radam import RAdam, radam_step
from .rmsprop import RMSprop, rmsprop_step
from .rprop import Rprop, rprop_step
from .sgd import SGD, sgd_step

__all__ = [
    "ASGD",
    "LBFGS",
    "SGD",
    "Adadelta",
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "NAdam",
    "Optimizer",
    "RAdam",
    "RMSprop",
    "Rprop",
    "adadelta_step",
    "adagrad_step",
    "adam_step",
    "adamax_step",
    "asgd_step",
    "lr_scheduler",
    "nadam_step",
    "radam_step",
    "rmsprop_step",
    "rprop_step",
    "sgd_step",
]
