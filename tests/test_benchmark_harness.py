"""The benchmark harness's statistics (benchmarks/_harness.py), on made-up samples."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from _harness import Row, Timing  # noqa: E402


def _timing(samples):
    return Timing(sorted(samples)[len(samples) // 2], min(samples), list(samples), 1)


def test_paired_ratio_cancels_a_drift_that_moves_the_ratio_of_medians():
    """The machine slows 3× in round 8, between torch's sample and chainrule's: torch has 7
    fast samples and 8 slow ones, chainrule 8 fast and 7 slow, so their medians come from
    different speeds (ratio 1/6) while every round but one pairs like with like (0.5)."""
    torch_speed = [1.0] * 7 + [3.0] * 8
    chainrule_speed = [1.0] * 8 + [3.0] * 7
    row = Row("drift", "", target=0.5,
              torch=_timing([2.0 * s for s in torch_speed]),
              chainrule=_timing([1.0 * s for s in chainrule_speed]))
    assert row.ratio == 1.0 / 6.0
    assert row.ratio_paired == 0.5
    assert row.finish().status == "pass"  # the verdict is on the ratio of medians


def test_paired_ratio_is_none_without_both_sides():
    assert Row("x", "", torch=_timing([1.0, 2.0])).ratio_paired is None


def test_instruction_count_workloads_run_and_count_collections():
    """benchmarks/instructions.py's steps (run under valgrind there) run as they are, for
    chainrule and torch, and the op chain's graph is what makes the collector run."""
    pytest.importorskip("torch")
    import instructions

    for make in instructions.WORKLOADS.values():
        for lib in ("chainrule", "torch"):
            make(lib)()
    gens = instructions.collections_per_step("op_overhead", "chainrule", steps=5)
    assert len(gens) == 3 and gens[0] > 1  # ~4 young collections per 1,000-op step
    assert instructions.collections_per_step("micrograd", "chainrule", steps=5)[0] < 1
