"""``cr.nn.functional``: the functional form of every layer and loss (PyTorch's names).

A layer's ``forward`` is one call into this namespace. Everything here is composed from
chainrule ops (so gradients come for free), except the few fused primitives in ``ops/nn.py``
(cross-entropy from logits, normalisation, embedding) kept for stability and speed.
"""

from .activation import *
from .attention import *
from .conv import *
from .distance import *
from .dropout import *
from .embedding import *
from .linear import *
from .loss import *
from .normalization import *
from .pooling import *
from .recurrent import *
from .upsampling import *
from .vision import *
