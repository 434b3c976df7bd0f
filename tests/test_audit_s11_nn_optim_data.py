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


def test_module_and_parameter_dict_orders_and_bad_update_elements_as_torch() -> None:
    torch = _torch()
    from collections import OrderedDict
    out = []
    for lib in (torch, cr):
        nn = lib.nn

        def p(n: int) -> Any:
            return nn.Parameter(lib.zeros(n))  # noqa: B023

        out.append((
            list(nn.ParameterDict({"b": p(1), "a": p(2), "c": p(3)}).keys()),
            list(nn.ParameterDict(OrderedDict([("b", p(1)), ("a", p(2))])).keys()),
            list(nn.ParameterDict([("b", p(1)), ("a", p(2))]).keys()),
            list(nn.ParameterDict(nn.ParameterDict([("b", p(1)), ("a", p(2))])).keys()),
            list(nn.ModuleDict({"b": nn.ReLU(), "a": nn.Tanh()}).keys()),
            [n for n, _ in nn.ParameterDict({"y": p(1), "x": p(2)}).named_parameters()],
        ))
        for container, value in ((nn.ParameterDict, p(1)), (nn.ModuleDict, nn.ReLU())):
            with pytest.raises(TypeError, match="element #1"):
                container().update([("a", value), 3])
            with pytest.raises(ValueError, match="element #0"):
                container().update([("a", value, 1)])
    assert out[1] == out[0]
    assert out[0][0] == ["a", "b", "c"] and out[0][4] == ["b", "a"]


def test_parameter_dict_setdefault_none_stores_none_as_torch() -> None:
    torch = _torch()
    out = []
    for lib in (torch, cr):
        pd = lib.nn.ParameterDict()
        got = pd.setdefault("k")
        pd["j"] = None
        out.append((got, pd["k"], pd["j"], "k" in pd, len(pd), list(pd.parameters()),
                    list(pd.keys()), "(k): Object of type: NoneType" in repr(pd)))
    assert out[1] == out[0]
    assert out[0][:3] == (None, None, None) and out[0][5] == [] and out[0][7]


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


def _failing_hooks_log(lib: Any, where: str) -> list[Any]:
    """Which always_call forward hooks run, and with what, when ``where`` (a pre-hook, the
    forward, an earlier forward hook, or an always_call hook itself) raises; the error
    that propagates; and the warnings given."""
    log: list[Any] = []
    m = lib.nn.Linear(2, 2)

    def fail(name: str) -> Any:
        def hook(*args: Any) -> Any:
            if where == name:
                raise KeyError(f"{name} failed")
            return None
        return hook

    m.register_forward_pre_hook(fail("pre"))
    m.register_forward_hook(lambda mod, args, out: log.append(("first", out is None)),
                            always_call=True)
    m.register_forward_hook(fail("hook"))

    def always_touching_out(mod: Any, args: Any, out: Any) -> Any:
        log.append(("second", out is None))
        return out * 2  # fails (TypeError) when forward failed: out is None

    m.register_forward_hook(always_touching_out, always_call=True)
    m.register_forward_hook(lambda mod, args, kw, out: log.append(("third", out is None)),
                            with_kwargs=True, always_call=True)
    x = lib.ones(1, 3) if where == "forward" else lib.ones(1, 2)
    with pytest.warns() if where in ("forward", "pre") else _no_warning() as record:
        with pytest.raises(Exception) as raised:
            m(x)
    log.append(type(raised.value).__name__)
    log.append([str(w.message).split(":")[0] for w in record or []])
    return log


class _no_warning:
    def __enter__(self) -> None:
        import warnings
        self._catcher = warnings.catch_warnings(record=True)
        self._record = self._catcher.__enter__()
        warnings.simplefilter("always")

    def __exit__(self, *exc: Any) -> None:
        self._catcher.__exit__(*exc)
        assert not self._record, [str(w.message) for w in self._record]


@pytest.mark.parametrize("where", ["pre", "forward", "hook"])
def test_always_call_hooks_run_after_any_failure_and_keep_the_first_error(where: str) -> None:
    torch = _torch()
    expected = _failing_hooks_log(torch, where)
    got = _failing_hooks_log(cr, where)
    if where == "forward":  # the wrong input width: each library its own error type
        assert got[-2] in ("ValueError", "RuntimeError") and expected[-2] == "RuntimeError"
        got[-2] = expected[-2]
    assert got == expected
    silenced = ("module forward hook with ``always_call=True`` raised an exception that was "
                "silenced as another error was raised in forward")
    if where == "pre":
        assert expected == [("first", True), ("second", True), ("third", True), "KeyError",
                            [silenced]]
    if where == "hook":  # the hooks after the failing one see forward's output
        assert expected == [("first", False), ("second", False), ("third", False),
                            "KeyError", []]


def test_a_module_pickled_without_the_hook_option_sets_takes_hooks() -> None:
    import pickle
    old = cr.nn.ReLU()
    for name in ("_hooks_with_kwargs", "_hooks_always_called"):
        del old.__dict__[name]  # as a ReLU pickled by chainrule before they existed
    m = pickle.loads(pickle.dumps(old))
    m.register_forward_hook(lambda mod, args, out: out * 3, always_call=True)
    assert m(cr.ones(2)).numpy().tolist() == [3.0, 3.0]


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
    {"multiprocessing_context": "spawn"},
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


def _subclassed_samplers(lib: Any) -> dict[str, Any]:
    """Subclasses of each library sampler that override ``__iter__`` (the loader must use
    their order), over a dataset of 8 samples."""
    data = torch_data(lib)

    class Rev(data.SequentialSampler):
        def __iter__(self) -> Any:
            return iter(range(len(self.data_source) - 1, -1, -1))

    class Evens(data.RandomSampler):
        def __iter__(self) -> Any:
            return iter(range(0, len(self.data_source), 2))

        def __len__(self) -> int:
            return 4

    class Fixed(data.SubsetRandomSampler):
        def __iter__(self) -> Any:
            return iter(sorted(self.indices, reverse=True))

    class Ones(data.WeightedRandomSampler):
        def __iter__(self) -> Any:
            return iter([1] * self.num_samples)

    class Pairs(data.BatchSampler):
        def __iter__(self) -> Any:
            return iter([[7, 0], [6, 1], [5]])

        def __len__(self) -> int:
            return 3

    ds = data.TensorDataset(lib.arange(8))
    loader = data.DataLoader
    return {
        "sequential": loader(ds, batch_size=3, sampler=Rev(ds)),
        "random": loader(ds, batch_size=3, sampler=Evens(ds)),
        "subset": loader(ds, batch_size=2, sampler=Fixed([1, 5, 3])),
        "weighted": loader(ds, batch_size=2, sampler=Ones([1.0, 1.0, 1.0], 3)),
        "batch": loader(ds, batch_sampler=Pairs(data.SequentialSampler(ds), 2, False)),
        "unbatched": loader(ds, batch_size=None, sampler=Rev(ds)),
    }


def test_dataloader_uses_the_iter_of_sampler_subclasses_as_torch() -> None:
    torch = _torch()
    expected, got = _subclassed_samplers(torch), _subclassed_samplers(cr)
    for name in expected:
        assert len(got[name]) == len(expected[name]), name
        _assert_batches_equal(list(got[name]), list(expected[name]))
    first = [b[0].numpy().tolist() for b in got["sequential"]]
    assert first == [[7, 6, 5], [4, 3, 2], [1, 0]]


@pytest.mark.parametrize("args", [(2, False, True), (2, False, False), (2, True, False),
                                  (2, False, None, crd.default_collate),
                                  (2, False, crd.default_collate), (2, False, 3)])
def test_dataloader_refuses_the_former_positional_order_clearly(args: tuple) -> None:
    # chainrule's DataLoader(dataset, batch_size, shuffle, drop_last, collate_fn) callers:
    # drop_last / collate_fn now land on sampler / batch_sampler
    with pytest.raises(TypeError, match=r"follow PyTorch's order.*drop_last= and collate_fn= "
                                        r"by keyword"):
        crd.DataLoader(_dataset(cr), *args)


def test_dataloader_refuses_a_seed_it_would_ignore_and_shows_its_sampler() -> None:
    for kwargs in ({"sampler": [0, 1]}, {"batch_sampler": [[0, 1]]}):
        with pytest.raises(ValueError, match="seed"):
            crd.DataLoader(_dataset(cr), seed=1, **kwargs)
    loader = crd.DataLoader(_dataset(cr), batch_size=2, shuffle=True)
    assert "sampler=RandomSampler" in repr(loader)
    weighted = crd.WeightedRandomSampler([1.0] * 5, 3)
    assert "sampler=WeightedRandomSampler" in repr(crd.DataLoader(_dataset(cr),
                                                                  sampler=weighted))
    assert "batch_sampler=list" in repr(crd.DataLoader(_dataset(cr), batch_sampler=[[0]]))


def test_weighted_sampler_errors_name_the_bad_weight_not_all_of_them() -> None:
    weights = np.ones(100_000)
    weights[70_001] = -2.0
    weights[90_000] = np.nan
    with pytest.raises(ValueError, match=r"weights\[70001\] = -2.0 \(2 of 100000") as info:
        crd.WeightedRandomSampler(weights, 3)
    assert len(str(info.value)) < 200
    with pytest.raises(ValueError, match="all 100000 weights are zero") as info:
        crd.WeightedRandomSampler(np.zeros(100_000), 3)
    assert len(str(info.value)) < 200
    # huge weights whose sum overflows still sample
    assert set(crd.WeightedRandomSampler([1e308, 1e308, 0.0], 20)) <= {0, 1}


def test_subset_random_sampler_yields_its_elements_unchanged_as_torch() -> None:
    torch = _torch()
    out = []
    for lib in (torch, cr):
        data = torch_data(lib)
        strings = list(data.SubsetRandomSampler(["a", "b", "c"]))
        floats = list(data.SubsetRandomSampler([0.9, 2.7]))
        ints = list(data.SubsetRandomSampler([4, 2, 9]))
        out.append((sorted(strings), sorted(floats), sorted(ints),
                    {type(i).__name__ for i in floats + ints}))
    assert out[1] == out[0] == (["a", "b", "c"], [0.9, 2.7], [2, 4, 9], {"float", "int"})
    loader = crd.DataLoader(_dataset(cr), batch_size=3,
                            sampler=crd.SubsetRandomSampler(np.array([4, 0, 2])))
    assert sorted(int(i) for b in loader for i in b[1].numpy()) == [0, 2, 4]


def test_random_sampler_on_an_empty_dataset_with_num_samples_fails_as_torch() -> None:
    torch = _torch()
    for replacement in (True, False):
        samplers = [torch_data(lib).RandomSampler([], replacement=replacement, num_samples=3)
                    for lib in (torch, cr)]
        assert len(samplers[1]) == len(samplers[0]) == 3
        with pytest.raises((RuntimeError, ZeroDivisionError)):
            list(samplers[0])
        with pytest.raises(RuntimeError, match="empty"):
            list(samplers[1])
        assert list(torch_data(cr).RandomSampler([], replacement=replacement)) == []


def test_seeded_shuffle_is_reproducible_and_a_new_order_each_epoch() -> None:
    first = crd.DataLoader(_dataset(cr), batch_size=5, shuffle=True, seed=3)
    second = crd.DataLoader(_dataset(cr), batch_size=5, shuffle=True, seed=3)
    epochs = [[b[1].numpy().tolist() for b in loader] for loader in (first, second)
              for _ in range(2)]
    assert epochs[0] == epochs[2] and epochs[1] == epochs[3]
    assert sorted(epochs[0][0]) == [0, 1, 2, 3, 4]
    # a new order each epoch (fixed seed: these two orders of 5 differ)
    assert epochs[0] != epochs[1]


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
