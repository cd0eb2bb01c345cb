"""compressed-tensors checkpoints: bitmask (2:4 when every sparse layer is 2:4) and int8 layouts that
decompress, with the library, to exactly the weights written; the dense variant loads in plain
transformers."""

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from pruneviz.core.errors import PrunevizError
from pruneviz.io.data import DataOptions
from pruneviz.workflows.apply import apply_and_measure, export_and_verify, verify_export
from pruneviz.workflows.recipe import parse_recipe
from pruneviz.workflows.session import open_session

UNSTRUCTURED = {"default": {"sparsity": 0.5}}
TWO_FOUR = {"default": {"sparsity": 0.5, "granularity": "2:4"}}
INT8 = {"quantize": {"weights": "int8"}}


@pytest.fixture(scope="module")
def gpt():
    """demo:gpt on 16 validation windows: every export here is reloaded and evaluated on them."""
    return open_session("demo:gpt", data_options=DataOptions(limit=16), device="cpu")


def _export(session, tmp_path, fmt: str, recipe: dict, name: str = "out"):
    applied = apply_and_measure(session, parse_recipe({"pruneviz": 1} | recipe))
    path = tmp_path / name
    return applied, path, export_and_verify(session, applied, path, fmt)


@pytest.mark.parametrize(
    ("recipe", "sparsity", "weight_keys"),
    [
        (
            UNSTRUCTURED,
            "sparse-bitmask",
            {"weight.shape", "weight.compressed", "weight.bitmask", "weight.row_offsets"},
        ),
        (TWO_FOUR, "sparse-24-bitmask", {"shape", "compressed", "bitmask"}),
        (
            UNSTRUCTURED | INT8,
            "sparse-bitmask",
            {"weight.shape", "weight.compressed", "weight.bitmask", "weight.row_offsets", "weight_scale"},
        ),
        (TWO_FOUR | INT8, "sparse-24-bitmask", {"shape", "compressed", "bitmask", "weight_scale"}),
    ],
)
def test_bitmask_layouts_decompress_to_exactly_the_weights_written(
    gpt, tmp_path, recipe, sparsity, weight_keys
):
    path, check = _export(gpt, tmp_path, "compressed-tensors", recipe)[1:]
    assert check.ok and check.differing == []
    config = json.loads((path / "config.json").read_text())["quantization_config"]
    assert config["quant_method"] == "compressed-tensors" and config["sparsity_config"]["format"] == sparsity
    assert config["sparsity_config"]["global_sparsity"] == pytest.approx(0.5, abs=0.01)
    state = load_file(str(path / "model.safetensors"))
    layer = "model.layers.0.mlp.up_proj"
    assert {k.removeprefix(f"{layer}.") for k in state if k.startswith(f"{layer}.")} == weight_keys
    if "weight_scale" in weight_keys:
        assert config["config_groups"]["group_0"]["weights"]["num_bits"] == 8
        assert state.get(f"{layer}.compressed", state.get(f"{layer}.weight.compressed")).dtype == torch.int8


def test_a_flipped_stored_value_is_caught_weight_by_weight(gpt, tmp_path):
    applied, path, _ = _export(gpt, tmp_path, "compressed-tensors", UNSTRUCTURED)
    shard = path / "model.safetensors"
    state = load_file(str(shard))
    key = "model.layers.1.self_attn.v_proj.weight.compressed"
    state[key] = state[key].clone()
    state[key][0] += 1e-3
    save_file(state, str(shard), metadata={"format": "pt"})
    again = verify_export(gpt, path, "compressed-tensors", applied.pruned.score, applied.model)
    assert again.differing == ["model.layers.1.self_attn.v_proj"] and not again.ok


def test_sizes_on_disk_follow_the_compression(gpt, tmp_path):
    sizes = {}
    for name, recipe in {"bitmask": UNSTRUCTURED, "24": TWO_FOUR, "int8": UNSTRUCTURED | INT8}.items():
        path = _export(gpt, tmp_path, "compressed-tensors", recipe, name)[1]
        sizes[name] = (path / "model.safetensors").stat().st_size
    dense_path = _export(gpt, tmp_path, "hf", {}, "dense")[1]
    dense = (dense_path / "model.safetensors").stat().st_size
    assert sizes["int8"] < sizes["24"] < sizes["bitmask"] < 0.7 * dense


def test_the_dense_variant_is_what_plain_transformers_loads(gpt, tmp_path):
    path, check = _export(gpt, tmp_path, "compressed-tensors-dense", UNSTRUCTURED | INT8)[1:]
    assert check.ok and check.differing == []  # verified by transformers' own loader, weight by weight
    config = json.loads((path / "config.json").read_text())["quantization_config"]
    assert config["format"] == "pack-quantized" and config["sparsity_config"]["format"] == "dense"
    reloaded = open_session(f"file:{path}", data_options=DataOptions(limit=16), device="cpu")  # pruneviz too
    assert reloaded.report().score == pytest.approx(gpt.report().score, rel=1e-4)


def test_models_it_cannot_hold_are_refused_in_one_line(tmp_path):
    session = open_session("demo:cnn", device="cpu")
    applied = apply_and_measure(session, None)
    with pytest.raises(PrunevizError, match="compressed-tensors checkpoints hold language models"):
        export_and_verify(session, applied, tmp_path / "x", "compressed-tensors")
