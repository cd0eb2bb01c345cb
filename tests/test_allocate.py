import pytest
import torch

from pruneviz import allocate as A


def test_uniform_and_ramp():
    names = ["a", "b", "c"]
    assert A.uniform(names, 0.4) == {"a": 0.4, "b": 0.4, "c": 0.4}
    ramp = A.ramp(names, 0.4)
    assert ramp["a"] < ramp["b"] < ramp["c"]
    assert sum(ramp.values()) / 3 == pytest.approx(0.4)
    assert max(A.ramp(names, 0.9).values()) == A.MAX_SPARSITY


def test_global_threshold_matches_one_threshold_over_all_scores():
    scores = {"small": torch.arange(10.0), "large": torch.arange(10.0) + 5}
    alloc = A.global_threshold(scores, 0.5)
    # the 10 lowest of 0..9 and 5..14: 0..7 from "small", 5 and 6 from "large" (ties go to the earlier layer)
    assert alloc == {"small": 0.8, "large": 0.2}
    assert A.overall_sparsity(alloc, {"small": 10, "large": 10}) == pytest.approx(0.5)
