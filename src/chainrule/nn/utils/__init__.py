"""``cr.nn.utils``: gradient clipping and parameter vectors (``clip_grad``), and the gradient
monitor (imported lazily from ``chainrule.diagnostics``).
"""

from typing import Any

from . import parametrizations, parametrize, rnn, stateless
from .clip_grad import *
from .spectral_norm import *
from .weight_norm import *


def __getattr__(name: str) -> Any:
    if name == "GradientMonitor":
        from ...diagnostics import GradientMonitor

        return GradientMonitor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
