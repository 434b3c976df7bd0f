"""``cr.nn``: layers, losses and containers with PyTorch's names, shapes and state dicts.

>>> import chainrule as cr
>>> model = cr.nn.Sequential(cr.nn.Linear(4, 8), cr.nn.ReLU(), cr.nn.Linear(8, 2))
>>> list(model.state_dict())
['0.weight', '0.bias', '2.weight', '2.bias']
"""

from . import functional, init, utils
from .modules import *
from .parameter import Buffer, Parameter
