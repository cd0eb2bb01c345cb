"""The llm-compressor recipe: the per-layer sparsities chosen here, by method and mask structure, in the
order llm-compressor pairs targets with sparsities. (``benchmarks/llm_compressor_check.py`` runs such
recipes through llm-compressor itself, in a virtualenv of its own.)"""

import pytest
import yaml

from pruneviz.core.errors import PrunevizError
from pruneviz.io.data import DataOptions
from pruneviz.workflows.llm_compressor import (
    SPARSEGPT,
    WANDA,
    llm_compressor_recipe,
    write_llm_compressor_recipe,
)
from pruneviz.workflows.session import LayerPlan, open_session


@pytest.fixture
def gpt():
    return open_session("demo:gpt", data_options=DataOptions(limit=8, calibration=8), device="cpu")


def test_each_method_and_structure_is_one_modifier_with_its_layers_in_model_order(gpt):
    names = gpt.layer_names
    plans = {n: LayerPlan(0.4, "magnitude") for n in names[:7]}  # block 0
    plans |= {n: LayerPlan(0.5, "wanda", "2:4") for n in names[7:14]}  # block 1
    plans |= {names[20]: LayerPlan(0.7, "sparsegpt")}  # one layer of block 2; the rest stay dense
    gpt.apply_layer_plans(plans)
    modifiers = llm_compressor_recipe(gpt)["sparsity_stage"]["sparsity_modifiers"]
    assert set(modifiers) == {SPARSEGPT, WANDA}
    sgpt, wanda = modifiers[SPARSEGPT], modifiers[WANDA]
    assert sgpt["targets"] == [*names[:7], names[20]] and sgpt["sparsity"] == [0.4] * 7 + [0.7]
    assert sgpt["mask_structure"] == "0:0" and wanda["mask_structure"] == "2:4"
    assert wanda["targets"] == names[7:14] and wanda["sparsity"] == [0.5] * 7
    assert all(m["ignore"] == ["re:.*lm_head"] for m in modifiers.values())


def test_n_of_m_kept_is_m_minus_n_pruned_in_llm_compressors_words(gpt):
    gpt.apply_layer_plans({n: LayerPlan(0.3, "wanda", "4:8") for n in gpt.layer_names})
    wanda = llm_compressor_recipe(gpt)["sparsity_stage"]["sparsity_modifiers"][WANDA]
    assert wanda["mask_structure"] == "4:8" and set(wanda["sparsity"]) == {
        0.5
    }  # fixed by N and M, not the slider


def test_the_file_reads_back_and_says_how_criteria_map(gpt, tmp_path):
    gpt.apply_layer_plans({n: LayerPlan(0.5, "magnitude") for n in gpt.layer_names})
    path = write_llm_compressor_recipe(gpt, tmp_path / "recipe.yaml")
    text = path.read_text()
    assert "criteria magnitude are re-applied with SparseGPT" in text
    assert yaml.safe_load(text) == llm_compressor_recipe(gpt)


def test_what_llm_compressor_cannot_take_is_refused(gpt, cnn_session):
    with pytest.raises(PrunevizError, match="nothing is pruned"):
        llm_compressor_recipe(gpt)
    with pytest.raises(PrunevizError, match="is for language models"):
        llm_compressor_recipe(cnn_session)
