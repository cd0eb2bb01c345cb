"""The generated snippet must reproduce pruneviz's weights using torch.nn.utils.prune alone."""

import subprocess
import sys

import pytest
import torch

from pruneviz.core.errors import PrunevizError
from pruneviz.workflows.recipe import apply_recipe, parse_recipe, resolve_for
from pruneviz.workflows.snippet import torch_prune_snippet

DRIVER = """
import sys, torch
from pruneviz.io.models import load_model
sys.path.insert(0, sys.argv[1])
from generated import apply_pruning  # the snippet itself imports only torch
model = load_model("demo:resnet").module
apply_pruning(model)
torch.save(model.state_dict(), sys.argv[2])
"""


FILTER_LAYER = {"sparsity": 0.5, "criterion": "l1", "granularity": "filter"}


@pytest.mark.parametrize(
    "doc",
    [
        {"pruneviz": 1, "default": {"sparsity": 0.6}, "layers": {"layer1.conv1": FILTER_LAYER}},
        {"pruneviz": 1, "global": {"sparsity": 0.7}, "pinned": ["fc"]},
    ],
)
def test_running_the_snippet_gives_pruneviz_weights(resnet_session, tmp_path, doc):
    recipe = parse_recipe(doc)
    (tmp_path / "generated.py").write_text(
        torch_prune_snippet(resolve_for(resnet_session, recipe), resnet_session.layers)
    )
    assert "pruneviz" not in (tmp_path / "generated.py").read_text().split('"""')[2]  # code, not docstring
    (tmp_path / "driver.py").write_text(DRIVER)
    out = tmp_path / "weights.pt"
    subprocess.run([sys.executable, tmp_path / "driver.py", str(tmp_path), str(out)], check=True, timeout=120)
    theirs = torch.load(out, weights_only=True)
    apply_recipe(resnet_session, recipe)
    for name in resnet_session.layer_names:
        assert torch.equal(theirs[f"{name}.weight"], resnet_session.modules[name].weight.cpu()), name


def test_unsupported_criteria_are_refused(resnet_session):
    recipe = parse_recipe({"pruneviz": 1, "default": {"sparsity": 0.5, "criterion": "taylor"}})
    with pytest.raises(PrunevizError, match="no unstructured taylor"):
        torch_prune_snippet(resolve_for(resnet_session, recipe), resnet_session.layers)
