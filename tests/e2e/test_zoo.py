"""The fast subset of benchmarks/zoo.py (every torchvision classifier through pruneviz): a CNN evaluates
at 50 % unstructured and loses 30 % of its filters for real, each step in its own process, reloaded and
verified; the benchmark runs the whole zoo."""

from benchmarks.zoo import zoo_row


def test_a_zoo_cnn_prunes_and_shrinks_within_its_budget(tmp_path):
    row = zoo_row("squeezenet1_1", tmp_path)
    assert (row.evaluate.outcome, row.shrink.outcome) == ("ok", "ok"), (row.evaluate, row.shrink)
    assert 0 < row.evaluate.peak_mib < 4096 and (tmp_path / "squeezenet1_1.pt").is_file()
