"""The fast subset of benchmarks/zoo.py (every torchvision classifier, and a timm model of each family,
through pruneviz): a CNN evaluates at 50 % unstructured and loses 30 % of its filters for real, each step
in its own process, reloaded and verified, and a model with attention is refused in one line; the
benchmark runs the whole zoo."""

import os

from benchmarks.zoo import zoo_row


def test_a_zoo_cnn_prunes_and_shrinks_within_its_budget(tmp_path):
    row = zoo_row("squeezenet1_1", tmp_path)
    assert (row.evaluate.outcome, row.shrink.outcome) == ("ok", "ok"), (row.evaluate, row.shrink)
    assert 0 < row.evaluate.peak_mib < 4096 and (tmp_path / "squeezenet1_1.pt").is_file()


def test_a_timm_model_with_bottleneck_attention_is_refused_in_one_line_not_grown(tmp_path):
    """Regression (benchmarks/zoo.py --source timm): botnet26t's filter plan grew Torch-Pruning's graph
    past 9.5 GB in six minutes, still growing; its attention is now refused before any graph is built.
    (A small job budget: were the guard to let it through, the plan would stop with the budget's line,
    not this one, within seconds. Peak memory is not asserted: a child's counts its parent's, pytest's.)"""
    env = dict(os.environ, PRUNEVIZ_JOB_MEMORY_MB="1500")
    row = zoo_row("botnet26t_256", tmp_path, env=env, source="timm")
    assert row.evaluate.outcome == "ok" and row.size == 256  # it takes its own input size only
    assert row.shrink.outcome == "refused"
    assert row.shrink.said.startswith(
        "timm:botnet26t_256 has attention (BottleneckAttn 'stages.2.1.self_attn')"
    )
