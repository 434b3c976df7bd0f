"""cr.autograd.functional against torch.autograd.functional: results and return structure."""

import numpy as np
import pytest

import chainrule as cr
from chainrule.autograd import functional as CF

torch = pytest.importorskip("torch")
from torch.autograd import functional as TF  # noqa: E402
from torch_parity_helpers import TOL, close  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def both(*shapes, dtype=np.float64, seed=0, requires_grad=False):
    rng = np.random.default_rng(seed)
    arrays = [rng.uniform(0.5, 1.5, s).astype(dtype) for s in shapes]
    return ([cr.tensor(a, requires_grad=requires_grad) for a in arrays],
            [torch.tensor(a, requires_grad=requires_grad) for a in arrays])


def same_structure(a, b, tol, what=""):
    if isinstance(b, list):  # (torch's forward-mode jacobian gives a list for a tuple)
        b = tuple(b)
    if isinstance(b, tuple):
        assert isinstance(a, tuple) and len(a) == len(b), f"{what}: {type(a)} vs tuple"
        for x, y in zip(a, b):
            same_structure(x, y, tol, what)
    else:
        assert isinstance(a, cr.Tensor), f"{what}: {type(a).__name__} where torch has a tensor"
        close(a, b, tol, what)


# each function written once, for both libraries (only operators and methods both have)
def f_single(x):
    return (x ** 2).sin() * x.exp()


def f_tuple_in(x, y):
    return (x[:, None] * y[None, :]).tanh()


def f_tuple_out(x):
    return x.exp(), (x * x).sum()


def f_tuple_both(x, y):
    return x * y.sum(), (x ** 3).sum() * y


def s_single(x):
    return (x.sin() * x ** 3).sum()


def s_tuple(x, y):
    return ((x[:, None] * y[None, :]) ** 2).sum() + (x ** 3).sum() * y.sum()


CASES = [(f_single, [(3,)]), (f_tuple_in, [(3,), (2,)]), (f_tuple_out, [(4,)]),
         (f_tuple_both, [(2,), (3,)])]


def inputs_for(shapes, as_tuple, **kw):
    c, t = both(*shapes, **kw)
    return (tuple(c), tuple(t)) if as_tuple else (c[0], t[0])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("strategy", ["reverse-mode", "forward-mode"])
@pytest.mark.parametrize("f, shapes", CASES)
def test_jacobian(f, shapes, strategy, dtype):
    ci, ti = inputs_for(shapes, len(shapes) > 1, dtype=dtype)
    got = CF.jacobian(f, ci, strategy=strategy, vectorize=True)
    same_structure(got, TF.jacobian(f, ti, strategy=strategy, vectorize=True), TOL[dtype],
                   "jacobian")


def test_jacobian_of_a_one_tuple_is_a_tuple():
    ci, ti = inputs_for([(3,)], True)
    same_structure(CF.jacobian(f_single, ci), TF.jacobian(f_single, ti), 1e-12)


@pytest.mark.parametrize("f, shapes", [(s_single, [(3,)]), (s_tuple, [(3,), (2,)])])
def test_hessian(f, shapes):
    ci, ti = inputs_for(shapes, len(shapes) > 1)
    same_structure(CF.hessian(f, ci), TF.hessian(f, ti), 1e-10, "hessian")
    fwd = CF.hessian(f, ci, vectorize=True, outer_jacobian_strategy="forward-mode")
    same_structure(fwd, TF.hessian(f, ti), 1e-10, "hessian (forward outer)")


@pytest.mark.parametrize("f, shapes", CASES)
def test_vjp(f, shapes):
    ci, ti = inputs_for(shapes, len(shapes) > 1)
    out_t = f(*ti) if isinstance(ti, tuple) else f(ti)
    outs = out_t if isinstance(out_t, tuple) else (out_t,)
    rng = np.random.default_rng(5)
    vs = [rng.standard_normal(tuple(o.shape)) for o in outs]
    v_c = tuple(cr.tensor(v) for v in vs) if isinstance(out_t, tuple) else cr.tensor(vs[0])
    v_t = tuple(torch.tensor(v) for v in vs) if isinstance(out_t, tuple) else torch.tensor(vs[0])
    got = CF.vjp(f, ci, v_c)
    assert isinstance(got, tuple) and len(got) == 2
    same_structure(got, TF.vjp(f, ti, v_t), 1e-10, "vjp")


@pytest.mark.parametrize("f, shapes", CASES)
def test_jvp(f, shapes):
    ci, ti = inputs_for(shapes, len(shapes) > 1)
    rng = np.random.default_rng(6)
    vs = [rng.standard_normal(s) for s in shapes]
    v_c = tuple(cr.tensor(v) for v in vs) if len(shapes) > 1 else cr.tensor(vs[0])
    v_t = tuple(torch.tensor(v) for v in vs) if len(shapes) > 1 else torch.tensor(vs[0])
    same_structure(CF.jvp(f, ci, v_c), TF.jvp(f, ti, v_t), 1e-10, "jvp")


@pytest.mark.parametrize("name", ["hvp", "vhp"])
@pytest.mark.parametrize("f, shapes", [(s_single, [(3,)]), (s_tuple, [(3,), (2,)])])
def test_hvp_vhp(f, shapes, name):
    ci, ti = inputs_for(shapes, len(shapes) > 1)
    rng = np.random.default_rng(7)
    vs = [rng.standard_normal(s) for s in shapes]
    v_c = tuple(cr.tensor(v) for v in vs) if len(shapes) > 1 else cr.tensor(vs[0])
    v_t = tuple(torch.tensor(v) for v in vs) if len(shapes) > 1 else torch.tensor(vs[0])
    got = getattr(CF, name)(f, ci, v_c)
    same_structure(got, getattr(TF, name)(f, ti, v_t), 1e-10, name)


def test_v_may_be_none_for_one_element():
    x_c, x_t = cr.tensor([0.3], dtype=cr.float64), torch.tensor([0.3], dtype=torch.float64)
    for name in ("vjp", "jvp", "hvp", "vhp"):
        fn = (lambda a: (a ** 3).sum()) if name in ("hvp", "vhp") else (lambda a: a.sin())
        same_structure(getattr(CF, name)(fn, x_c), getattr(TF, name)(fn, x_t), 1e-12, name)


def test_create_graph_results_are_differentiable():
    xc, xt = both((3,), requires_grad=True)
    jc = CF.jacobian(f_single, xc[0], create_graph=True)
    jt = TF.jacobian(f_single, xt[0], create_graph=True)
    assert jc.requires_grad and jt.requires_grad
    (gc,) = cr.autograd.grad((jc ** 2).sum(), xc[0])
    (gt,) = torch.autograd.grad((jt ** 2).sum(), xt[0])
    close(gc, gt, 1e-10, "d/dx of the jacobian")
    out, v = CF.vjp(f_single, xc[0], cr.ones(3, dtype=cr.float64), create_graph=True)
    assert out.requires_grad and v.requires_grad
    hc = CF.hessian(s_single, xc[0], create_graph=True)
    ht = TF.hessian(s_single, xt[0], create_graph=True)
    (gc,) = cr.autograd.grad(hc.sum(), xc[0])
    (gt,) = torch.autograd.grad(ht.sum(), xt[0])
    close(gc, gt, 1e-10, "d/dx of the hessian")
    # without create_graph: plain values, even for inputs that require grad
    assert not CF.jacobian(f_single, xc[0]).requires_grad
    out, v = CF.vjp(f_single, xc[0], cr.ones(3, dtype=cr.float64))
    assert not out.requires_grad and not v.requires_grad


def test_independent_input_gives_zeros_or_strict_error():
    (x, y), (tx, ty) = both((2,), (3,))
    jc = CF.jacobian(lambda a, b: a * 2, (x, y))
    jt = TF.jacobian(lambda a, b: a * 2, (tx, ty))
    same_structure(jc, jt, 1e-12)
    with pytest.raises(RuntimeError, match="Output 0 of the user-provided function is "
                                           "independent of input 1. This is not allowed in "
                                           "strict mode."):
        CF.jacobian(lambda a, b: a * 2, (x, y), strict=True)
    with pytest.raises(RuntimeError, match="independent of input 1"):
        CF.vjp(lambda a, b: a * 2, (x, y), cr.ones(2, dtype=cr.float64), strict=True)
    with pytest.raises(RuntimeError, match="Output 1 of the user-provided function does not "
                                           "require gradients"):
        CF.jacobian(lambda a: (a * 2, cr.zeros(2)), x, strict=True)
    with pytest.raises(RuntimeError, match="jacobian of the user-provided function with "
                                           "respect to input 0 is independent of the input"):
        CF.vhp(lambda a: (a * 3).sum(), x, cr.ones(2, dtype=cr.float64), strict=True)


def test_errors_name_the_problem():
    x = cr.tensor([1.0, 2.0, 3.0])
    with pytest.raises(TypeError, match="The inputs given to jacobian must be either a Tensor "
                                        "or a tuple of Tensors but the given inputs has type "
                                        "<class 'list'>"):
        CF.jacobian(f_single, [x])
    with pytest.raises(TypeError, match="value at index 1 has type <class 'float'>"):
        CF.vjp(f_tuple_in, (x, 2.0))
    with pytest.raises(TypeError, match="The outputs of the user-provided function given to "
                                        "jacobian must be"):
        CF.jacobian(lambda a: 3.0, x)
    with pytest.raises(RuntimeError, match="The vector v can only be None if the "
                                           "user-provided function returns a single Tensor "
                                           "with a single element"):
        CF.vjp(f_single, x)
    with pytest.raises(RuntimeError, match="v can only be None if the input to the "
                                           "user-provided function is a single Tensor"):
        CF.jvp(f_single, x)
    with pytest.raises(RuntimeError, match=r"v has invalid size: should be \(3,\) but got "
                                           r"\(2,\)"):
        CF.vjp(f_single, x, cr.ones(2))
    with pytest.raises(RuntimeError, match="should contain a single element"):
        CF.hessian(f_single, x)
    with pytest.raises(NotImplementedError, match="only implemented for `vectorize=True`"):
        CF.jacobian(f_single, x, strategy="forward-mode")
    with pytest.raises(NotImplementedError, match="not supported together"):
        CF.jacobian(f_single, x, strategy="forward-mode", vectorize=True, create_graph=True)
    with pytest.raises(ValueError, match="strategy to be either"):
        CF.jacobian(f_single, x, strategy="sideways")
