"""``pruneviz hardware`` and the serving-stack exports, end to end as a script would run them."""

import json
import os
from pathlib import Path

import pytest

from tests.e2e.test_cli import run


def _recipe(tmp_path, text: str):
    path = tmp_path / "r.yaml"
    path.write_text(text)
    return str(path)


def test_hardware_report_times_the_recipes_masks_on_this_device(tmp_path):
    recipe = _recipe(tmp_path, "pruneviz: 1\ndefault: {sparsity: 0.95}\n")
    out = json.loads(
        run("hardware", "demo:cnn", "--recipe", recipe, "--batch", "4", "--repeats", "2", "--json").stdout
    )
    assert out["model"] == "demo:cnn" and out["batches"] == [1, 4] and "(CPU)" in out["device"]
    fc1 = next(x for x in out["layers"] if x["name"] == "fc1")
    assert fc1["sparsity"] == pytest.approx(0.95, abs=0.01)
    kernels = {r["kernel"]: r for r in fc1["rows"]}
    assert kernels["csr"]["ms"]["4"] > 0 and kernels["csr"]["promised_macs"] == pytest.approx(20, rel=0.05)
    assert "not a CUDA GPU" in kernels["2:4"]["unavailable"]
    assert set(out["totals"]) == {"dense", "csr", "bsr", "shrunk", "int8"}
    assert (Path(os.environ["PRUNEVIZ_CACHE_DIR"]) / "kernels.json").is_file()

    table = run("hardware", "demo:cnn", "--recipe", recipe, "--batch", "4", "--repeats", "2").stdout
    assert "break-even sparsity, measured" in table
    assert "CSR (torch.sparse)" in table and "for fc1 at batch 4 on this CPU" in table
    assert (
        "no 2:4 sparse tensor cores kernel for any layer on this device: device cpu is not a CUDA GPU"
        in table
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--batch", "1"), "--batch is the larger batch beside batch 1"),
        (("--kernels", "csr,warp"), "unknown kernel 'warp'"),
    ],
)
def test_hardware_bad_options_are_one_line(args, message):
    proc = run("hardware", "demo:cnn", "--repeats", "1", "--no-break-even", *args, ok=False)
    assert proc.returncode == 2 and message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_apply_writes_compressed_tensors_and_an_llm_compressor_recipe(tmp_path):
    recipe = _recipe(tmp_path, "pruneviz: 1\ndefault: {sparsity: 0.5}\nquantize: {weights: int8}\n")
    out = tmp_path / "compressed"
    common = ("demo:gpt", "--recipe", recipe, "--limit", "8", "--calibration", "8")
    summary = json.loads(
        run("apply", *common, "--format", "compressed-tensors", "--out", str(out), "--json").stdout
    )
    assert summary["verified"] and summary["format"] == "compressed-tensors"
    assert summary["bytes_on_disk"] < summary["bytes_dense_export"] / 3  # half the weights, one byte each
    again = json.loads(run("evaluate", f"file:{out}", "--limit", "8", "--json").stdout)
    assert again["perplexity"] == pytest.approx(summary["perplexity_pruned"], rel=1e-4)

    written = tmp_path / "llm-compressor.yaml"
    layers = json.loads(
        run("apply", *common, "--format", "llm-compressor-recipe", "--out", str(written), "--json").stdout
    )["layers"]
    assert len(layers) == 28 and set(layers.values()) == {0.5}
    assert "SparseGPTModifier" in written.read_text()


def test_a_classifier_in_compressed_tensors_is_refused_in_one_line(tmp_path):
    recipe = _recipe(tmp_path, "pruneviz: 1\ndefault: {sparsity: 0.5}\n")
    out = str(tmp_path / "x")
    proc = run(
        "apply", "demo:cnn", "--recipe", recipe, "--format", "compressed-tensors", "--out", out, ok=False
    )
    assert proc.returncode == 2 and "compressed-tensors checkpoints hold language models" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
