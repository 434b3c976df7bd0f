"""inf and NaN come out silently, as in PyTorch: NumPy's floating-point warnings about
chainrule's own arithmetic are filtered; the user's own NumPy code still warns."""

from __future__ import annotations

import warnings

import numpy as np

import chainrule as cr
from chainrule._float_warnings import silence_float_warnings


def test_ops_giving_inf_or_nan_do_not_warn_but_the_users_numpy_still_does():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # (every warning recorded, each time) ...
        silence_float_warnings()  # ... but chainrule's filter in front, as after import
        x = cr.tensor([0.0, -1.0, 1000.0], requires_grad=True)
        y = x.log().sum() + (1 / x).sum() + x.sqrt().sum() + x.exp().sum() + (x / 0).sum()
        y.backward()
        values = (cr.tensor([1.0]).std(), cr.empty(0).mean(), cr.tensor([1e308]) * 10)
        assert not caught, [str(w.message) for w in caught]
        np.log(np.zeros(1))  # the caller's own NumPy call
    assert [w.category for w in caught] == [RuntimeWarning]
    assert np.isnan(y.item()) and np.isnan(x.grad.data[1])
    assert np.isnan(values[0].item()) and np.isnan(values[1].item())
    assert np.isinf(values[2].item())
