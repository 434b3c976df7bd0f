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
    _float_warnings,
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
    can_cast,
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
    promote_types,
    set_default_dtype,
    short,
    uint8,
)
from ._printing import set_printoptions
from .creation import (
    arange,
    asarray,
    empty,
    empty_like,
    eye,
    full,
    full_like,
    linspace,
    logspace,
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
from .ops._util import is_tensor
from .ops.registry import OpError, OpIndexError
from .random import (
    Generator,
    bernoulli,
    get_rng_state,
    initial_seed,
    manual_seed,
    multinomial,
    normal,
    poisson,
    rand,
    rand_like,
    randint,
    randint_like,
    randn,
    randn_like,
    randperm,
    seed,
    set_rng_state,
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
_float_warnings.silence_float_warnings()  # inf and NaN as in PyTorch: silently
