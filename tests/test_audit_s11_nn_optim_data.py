"""Audit s11: ``cr.nn`` containers and modes, and ``cr.data`` samplers / loader options,
each compared with PyTorch 2.13 doing the same call."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import data as crd


def _torch() -> Any:
    return pytest.importorskip("torch")


def _arrays(batch: Any) -> Any:
    """A batch (tensors in lists / tuples / dicts) as nested lists of NumPy arrays, so
    chainrule's and torch's batches compare (chainrule keeps tuples where torch gives lists)."""
    if isinstance(batch, (list, tuple)):
        return [_arrays(b) for b in batch]
    if isinstance(batch, dict):
        return {k: _arrays(v) for k, v in batch.items()}
    return np.asarray(batch.numpy())


def _assert_batches_equal(got: list[Any], expected: list[Any]) -> None:
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        np.testing.assert_equal(_arrays(g), _arrays(e))


# ---------------------------------------------------------------------------- nn
def _frozen_bn_model(lib: Any, calls: list[bool]) -> Any:
    class FrozenBN(lib.nn.Module):
        """The common pattern: a block whose batch norm stays in eval mode."""

        def __init__(self) -> None:
            super().__init__()
            self.bn = lib.nn.BatchNorm1d(2)

        def train(self, mode: bool = True) -> Any:
            calls.append(mode)
            super().train(mode)
            self.bn.eval()
            return self

    return lib.nn.Sequential(lib.nn.Linear(2, 2), FrozenBN())


def test_train_and_eval_go_through_each_submodules_own_train() -> None:
    torch = _torch()
    results = []
    for lib in (torch, cr):
        calls: list[bool] = []
        model = _frozen_bn_model(lib, calls)
        model.train()
        model.eval()
        model.train()
        results.append((calls, model[1].bn.training, model[1].training, model[0].training))
    assert results[1] == results[0] == ([True, False, True], False, True, True)


def test_module_dict_from_and_updated_with_a_module_dict() -> None:
    torch = _torch()
    reprs = []
    for lib in (torch, cr):
        nn = lib.nn
        d = nn.ModuleDict({"a": nn.ReLU(), "b": nn.Tanh()})
        copy = nn.ModuleDict(d)
        d.update(copy)
        d.update([("c", nn.ELU())])
        assert copy["a"] is d["a"]
        reprs.append(repr(d))
    assert reprs[1] == reprs[0]
    with pytest.raises(TypeError, match="ModuleDict.update"):
        cr.nn.ModuleDict().update(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="element #0"):
        cr.nn.ModuleDict().update([("a", cr.nn.ReLU(), 1)])  # type: ignore[list-item]


def test_sequential_in_place_add_and_repetition_as_torch() -> None:
    torch = _torch()
    out = []
    for lib in (torch, cr):
        nn = lib.nn
        seq = nn.Sequential(nn.ReLU(), nn.Tanh())
        alias = seq
        seq += nn.Sequential(nn.Sigmoid())
        tripled = 3 * nn.Sequential(nn.ReLU())
        doubled = nn.Sequential(nn.ReLU(), nn.Tanh()) * 2
        alias2 = doubled
        doubled *= 2
        out.append((repr(alias), alias is seq, repr(tripled), len(alias2), alias2 is doubled,
                    tripled[0] is tripled[2]))
    assert out[1] == out[0]
    seq = cr.nn.Sequential(cr.nn.ReLU())
    with pytest.raises(ValueError, match="Non-positive multiplication factor 0"):
        seq * 0
    with pytest.raises(TypeError, match="unsupported operand"):
        seq * 1.5  # type: ignore[operator]
    with pytest.raises(ValueError, match="only objects of Sequential"):
        seq += [cr.nn.Tanh()]  # type: ignore[arg-type]


def test_parameter_dict_has_the_dict_methods_of_torch() -> None:
    torch = _torch()
    out = []
    for lib in (torch, cr):
        nn = lib.nn
        pd = nn.ParameterDict([("a", nn.Parameter(lib.zeros(2)))])
        pd.update({"b": nn.Parameter(lib.ones(1))})
        pd.update(nn.ParameterDict({"c": nn.Parameter(lib.ones(3))}))
        b = pd.setdefault("b", nn.Parameter(lib.zeros(5)))
        d = pd.setdefault("d", nn.Parameter(lib.zeros(4)))
        popped = pd.pop("a")
        out.append((list(pd.keys()), pd.get("zz"), tuple(b.shape), tuple(d.shape),
                    tuple(popped.shape), [n for n, _ in pd.named_parameters()]))
        pd.clear()
        assert len(pd) == 0
    assert out[1] == out[0]


def _hook_log(lib: Any) -> list[Any]:
    """What forward hooks registered with torch's options see on a Linear layer."""
    log: list[Any] = []
    m = lib.nn.Linear(2, 2)
    m.register_forward_pre_hook(lambda mod, args: log.append("pre1"))
    m.register_forward_pre_hook(lambda mod, args: log.append("pre0"), prepend=True)
    m.register_forward_pre_hook(lambda mod, args, kw: ((args[0] * 0,), kw), with_kwargs=True)
    m.register_forward_hook(lambda mod, args, kw, out: log.append(("kw", dict(kw))),
                            with_kwargs=True)
    handle = m.register_forward_hook(lambda mod, args, out: out * 2, prepend=True)
    first = m(lib.ones(1, 2)).detach().numpy()
    handle.remove()
    second = m(lib.ones(1, 2)).detach().numpy()
    m.register_forward_hook(lambda mod, args, out: log.append(("always", out)),
                            always_call=True)
    with pytest.raises((RuntimeError, ValueError)):  # a wrong input width
        m(lib.ones(1, 3))
    bias = m.bias.detach().numpy()
    np.testing.assert_allclose(first, 2 * bias[None], rtol=1e-6)
    np.testing.assert_allclose(second, bias[None], rtol=1e-6)
    return log


def test_forward_hooks_take_torchs_prepend_with_kwargs_and_always_call() -> None:
    torch = _torch()
    assert _hook_log(cr) == _hook_log(torch)
    m = cr.nn.Linear(2, 2)
    m.register_forward_pre_hook(lambda mod, args, kw: 3, with_kwargs=True)
    with pytest.raises(RuntimeError, match=r"tuple of \(new_args, new_kwargs\), but got 3"):
        m(cr.ones(1, 2))


# ---------------------------------------------------------------------------- data
def torch_data(lib: Any) -> Any:
    """``torch.utils.data`` or ``chainrule.data``."""
    return lib.utils.data if lib is not cr else crd


def _dataset(lib: Any) -> Any:
    return torch_data(lib).TensorDataset(lib.arange(10).reshape(5, 2), lib.arange(5))


def test_dataloader_sampler_and_batch_sampler_as_torch() -> None:
    torch = _torch()
    for kwargs in ({"batch_size": 2, "sampler": [4, 3, 2, 1, 0]},
                   {"batch_sampler": [[0, 1], [4], [3, 3]]},
                   {"batch_size": None, "sampler": [2, 0]},
                   {"batch_size": 2, "drop_last": True, "sampler": [4, 0, 1]}):
        loaders = [torch_data(lib).DataLoader(_dataset(lib), **kwargs) for lib in (torch, cr)]
        assert len(loaders[1]) == len(loaders[0])
        _assert_batches_equal(list(loaders[1]), list(loaders[0]))
    # the sampler classes themselves, with a loader: a sampler that only picks sample 2
    loaders = [torch_data(lib).DataLoader(
        _dataset(lib), batch_size=3,
        sampler=torch_data(lib).WeightedRandomSampler([0, 0, 1.0, 0, 0], 7))
        for lib in (torch, cr)]
    _assert_batches_equal(list(loaders[1]), list(loaders[0]))


def test_dataloader_builds_torchs_default_samplers() -> None:
    torch = _torch()
    for lib in (torch, cr):
        loader = torch_data(lib).DataLoader(_dataset(lib), batch_size=2, shuffle=True)
        assert type(loader.sampler).__name__ == "RandomSampler"
        assert type(loader.batch_sampler).__name__ == "BatchSampler"
        unbatched = torch_data(lib).DataLoader(_dataset(lib), batch_size=None)
        assert type(unbatched.sampler).__name__ == "SequentialSampler"
        assert unbatched.batch_sampler is None
    cr.manual_seed(0)
    batches = list(crd.DataLoader(_dataset(cr), batch_size=2, shuffle=True))
    assert sorted(int(i) for b in batches for i in b[1].numpy()) == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("kwargs", [
    {"sampler": [0], "shuffle": True},
    {"batch_sampler": [[0]], "batch_size": 2},
    {"batch_sampler": [[0]], "shuffle": True},
    {"batch_sampler": [[0]], "drop_last": True},
    {"batch_size": None, "drop_last": True},
    {"num_workers": -1},
    {"timeout": -1},
    {"prefetch_factor": 2},
    {"persistent_workers": True},
])
def test_dataloader_refuses_what_torch_refuses(kwargs: dict[str, Any]) -> None:
    torch = _torch()
    with pytest.raises(ValueError):
        torch.utils.data.DataLoader(_dataset(torch), **kwargs)
    with pytest.raises(ValueError, match="DataLoader"):
        crd.DataLoader(_dataset(cr), **kwargs)


@pytest.mark.filterwarnings("ignore:'pin_memory' argument is set as true")
def test_dataloader_accepts_torchs_worker_options() -> None:
    torch = _torch()
    kwargs = {"batch_size": 2, "num_workers": 2, "pin_memory": True, "prefetch_factor": 2,
              "persistent_workers": True, "timeout": 0, "worker_init_fn": print}
    loaders = [torch_data(lib).DataLoader(_dataset(lib), **kwargs) for lib in (torch, cr)]
    assert len(loaders[1]) == len(loaders[0]) == 3
    _assert_batches_equal(list(loaders[1]), list(loaders[0]))


def test_samplers_as_torch() -> None:
    torch = _torch()
    out = []
    for lib in (torch, cr):
        data = torch_data(lib)
        batches = data.BatchSampler(data.SequentialSampler(range(7)), 3, drop_last=True)
        rand = data.RandomSampler(range(6))
        with_replacement = data.RandomSampler(range(3), replacement=True, num_samples=20)
        longer = data.RandomSampler(range(3), num_samples=7)
        subset = data.SubsetRandomSampler([5, 7, 9])
        weighted = data.WeightedRandomSampler([0.0, 1.0, 0.0, 2.0], 2, replacement=False)
        out.append((list(batches), len(batches), list(data.BatchSampler(range(7), 3, False)),
                    len(rand), sorted(rand), len(with_replacement),
                    set(with_replacement) <= {0, 1, 2}, len(longer), len(list(longer)),
                    sorted(subset), sorted(weighted)))
    assert out[1] == out[0]
    for make in (lambda d: d.BatchSampler(range(3), 0, False),
                 lambda d: d.BatchSampler(range(3), 2, 1),
                 lambda d: d.RandomSampler(range(3), num_samples=0),
                 lambda d: d.WeightedRandomSampler([[1.0, 2.0]], 2)):
        with pytest.raises(ValueError) as expected:
            make(torch.utils.data)
        with pytest.raises(ValueError) as got:
            make(crd)
        assert str(got.value) == str(expected.value)


def test_seeded_shuffle_is_reproducible_and_a_new_order_each_epoch() -> None:
    first = crd.DataLoader(_dataset(cr), batch_size=5, shuffle=True, seed=3)
    second = crd.DataLoader(_dataset(cr), batch_size=5, shuffle=True, seed=3)
    epochs = [[b[1].numpy().tolist() for b in loader] for loader in (first, second)
              for _ in range(2)]
    assert epochs[0] == epochs[2] and epochs[1] == epochs[3]
    assert sorted(epochs[0][0]) == [0, 1, 2, 3, 4]


def test_concat_dataset_and_dataset_add_as_torch() -> None:
    torch = _torch()
    out = []
    for lib in (torch, cr):
        data = torch_data(lib)
        extra = data.TensorDataset(lib.arange(6).reshape(3, 2) + 100, lib.arange(3) + 50)
        joined = data.ConcatDataset([_dataset(lib), extra])
        added = _dataset(lib) + extra
        loader = data.DataLoader(joined, batch_size=4)
        out.append((len(joined), joined.cumulative_sizes, _arrays(joined[-1]),
                    _arrays(joined[5]), _arrays(added[6]), [_arrays(b) for b in loader]))
    np.testing.assert_equal(out[1], out[0])
    with pytest.raises(IndexError, match="out of range for 10 samples"):
        (_dataset(cr) + _dataset(cr))[10]
    with pytest.raises(ValueError, match="empty"):
        crd.ConcatDataset([])
