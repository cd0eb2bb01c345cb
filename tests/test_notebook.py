"""examples/quickstart.ipynb runs top to bottom in a real Jupyter kernel (its cells assert what they
show), and is kept in git without outputs."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "quickstart.ipynb"


def test_the_quickstart_notebook_runs_and_draws_its_figures(tmp_path):
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    code = [c for c in notebook.cells if c.cell_type == "code"]
    shown = [o for c in code for o in c.outputs]
    assert not [o for o in shown if o.output_type == "error"]
    plots = [o for o in shown if "application/vnd.plotly.v1+json" in o.get("data", {})]
    assert len(plots) == 4  # importance, layers, sensitivity and pareto: the cells that end on a figure
    assert (tmp_path / "cnn-small.pt").is_file() and (tmp_path / "gpt-wanda50" / "config.json").is_file()


def test_the_notebook_is_committed_without_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert code and all(c.outputs == [] and c.execution_count is None for c in code)
