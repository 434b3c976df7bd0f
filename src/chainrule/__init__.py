"""chainrule: the chain rule, made real.

Reverse- and forward-mode automatic differentiation on NumPy, with PyTorch's names:

>>> import chainrule as cr
>>> x = cr.tensor(1.5, requires_grad=True)
>>> y = cr.sin(x ** 2)
>>> y.backward()
>>> round(x.grad.item(), 6)  # 2x·cos(x²)
-1.884477
"""

from __future__ import annotations

from . import (
    _memory,
    autograd,  # noqa: E402
    data,
    diagnostics,
    func,
    nn,
    optim,
    special,
    utils,
)
from . import linalg_namespace as linalg
from ._dtypes import (
    bool_,
    double,
    float,
    float16,
    float32,
    float64,
    get_default_dtype,
    half,
    int8,
    int16,
    int32,
    int64,
    long,
    set_default_dtype,
    short,
    uint8,
)
from .creation import (
    arange,
    empty,
    empty_like,
    eye,
    full,
    full_like,
    linspace,
    ones,
    ones_like,
    zeros,
    zeros_like,
)
from .custom import CustomOp, custom_op
from .engine import (
    ChainruleError,
    detect_anomaly,
    enable_grad,
    is_grad_enabled,
    name_scope,
    no_grad,
    set_grad_enabled,
)
from .explain import draw, explain
from .func import vmap
from .functional import *  # noqa: F403 - the op functions are the public API
from .functional import __all__ as _functional_all
from .gradcheck import GradcheckError, check_grads, gradcheck, gradgradcheck
from .ops.registry import OpError, OpIndexError
from .random import (
    Generator,
    bernoulli,
    manual_seed,
    normal,
    rand,
    rand_like,
    randint,
    randn,
    randn_like,
    randperm,
    seed,
)
from .serialization import CheckpointError, StateDictError, load, save
from .tensor import Tensor, as_tensor, from_numpy, tensor
from .transforms import grad, hessian, jacfwd, jacobian, jacrev, jvp, value_and_grad, vjp

bool = bool_  # noqa: A001 - PyTorch's name
__version__ = "0.1.0"
__all__ = [n for n in dir() if not n.startswith("_")] + list(_functional_all)

# Large temporaries (convolutions, attention, big batches) are freed and allocated again every
# step; keep glibc from handing them back to the system each time (see _memory.py).
_memory.keep_freed_memory()
