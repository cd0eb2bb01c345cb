import importlib.util

from pruneviz.views.report import html_report, write_png
from pruneviz.workflows.recipe import apply_recipe, parse_recipe


def test_html_report_is_self_contained_with_tables_and_charts(cnn_session, tmp_path):
    baseline = cnn_session.report()
    apply_recipe(cnn_session, parse_recipe({"pruneviz": 1, "default": {"sparsity": 0.7}}))
    page = html_report(cnn_session, baseline, "demo report")
    assert page.startswith("<!doctype html>") and "<title>demo report</title>" in page
    assert page.count('class="plotly-graph-div"') == 3 and "<script src=" not in page
    assert len(page) > 3_000_000  # plotly.js is inline: the file opens offline
    assert "<td>conv2</td><td>Conv2d</td><td>32×16×3×3</td><td>4,608</td><td>70.0%</td>" in page
    assert "98.3%" in page


def test_a_png_is_refused_in_one_line_without_kaleido(cnn_session, tmp_path):
    """kaleido is not installed here (not in requirements): the PNG export says so and writes nothing;
    where it is installed, the file is a real PNG."""
    baseline = cnn_session.report()
    problem = write_png(cnn_session, baseline, tmp_path / "r.png")
    if importlib.util.find_spec("kaleido") is None:
        assert problem.startswith("PNG not written") and "kaleido" in problem.lower() and "\n" not in problem
        assert not (tmp_path / "r.png").exists()
    else:
        assert problem is None and (tmp_path / "r.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
