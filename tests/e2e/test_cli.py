"""The pruneviz command line, end to end, as a script or pipeline would run it."""

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from pruneviz.io.room import RoomStore, Share
from pruneviz.io.semistructured import unsupported_reason

PRUNEVIZ = shutil.which("pruneviz", path=str(Path(sys.executable).parent)) or "pruneviz"


def run(*args, cwd=None, ok=True):
    proc = subprocess.run([PRUNEVIZ, *args], capture_output=True, text=True, cwd=cwd, timeout=300)
    if ok:
        assert proc.returncode == 0, proc.stderr
    return proc


def test_info_table_and_json():
    table = run("info", "demo:cnn").stdout
    assert "conv2" in table and "Conv2d" in table and "4,608" in table
    layers = json.loads(run("info", "demo:resnet", "--json").stdout)
    assert layers[0] == {
        "name": "conv1",
        "type": "Conv2d",
        "shape": [16, 1, 3, 3],
        "params": 144,
        "macs": layers[0]["macs"],
        "macs_share": layers[0]["macs_share"],
        "linear": False,
        "called": True,
    }
    assert layers[-1]["type"] == "Linear" and layers[-1]["linear"]
    assert "layer2.shortcut.0" in [x["name"] for x in layers]


def test_evaluate_json_contract():
    out = json.loads(run("evaluate", "demo:cnn", "--json").stdout)
    for key in (
        "accuracy",
        "loss",
        "params_total",
        "params_nonzero",
        "macs_dense",
        "macs_effective",
        "size_bytes_dense",
        "size_bytes_sparse",
        "layers",
    ):
        assert key in out, key
    assert out["accuracy"] >= 0.95 and out["samples"] == 360
    assert out["params_total"] == out["params_nonzero"] and set(out["layers"]) == {
        "conv1",
        "conv2",
        "fc1",
        "fc2",
    }


def test_evaluate_progress_prints_estimates_then_the_exact_figure():
    proc = run("evaluate", "demo:cnn", "--progress", "--json")
    estimates = [line for line in proc.stderr.splitlines() if line.startswith("accuracy")]
    assert len(estimates) == 1 and estimates[0].endswith("on 256 of 360 samples"), proc.stderr
    low, high = (float(p.rstrip("%")) for p in estimates[0].split("95%: ")[1].split(")")[0].split("-"))
    exact = json.loads(proc.stdout)["accuracy"] * 100
    assert low < exact < high  # the interval held the figure all 360 digits give


def test_evaluate_with_recipe_limit_and_save_then_reload(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "pruneviz: 1\nmodel: demo:cnn\n"
        "default: {sparsity: 0.5, criterion: magnitude, granularity: unstructured}\n"
        "pinned: [fc2]\nlayers:\n  conv1: {sparsity: 0.2}\n"
    )
    saved = tmp_path / "pruned.pt"
    out = json.loads(run("evaluate", "--recipe", str(recipe), "--save", str(saved), "--json").stdout)
    # floor(0.2 * 144) = 28 of conv1's weights are zeroed
    assert out["layers"] == {"conv1": 28 / 144, "conv2": 0.5, "fc1": 0.5, "fc2": 0.0}
    assert out["macs_effective"] < out["macs_dense"]
    reloaded = json.loads(run("evaluate", f"file:{saved}", "--json").stdout)  # no more flags needed
    assert reloaded["data"] == "digits" and reloaded["accuracy"] == out["accuracy"]
    assert reloaded["layers"] == out["layers"]
    limited = json.loads(run("evaluate", f"file:{saved}", "--limit", "100", "--json").stdout)
    assert limited["samples"] == 100


def test_python_dash_m_is_the_same_command():
    proc = subprocess.run(
        [sys.executable, "-m", "pruneviz", "info", "demo:mlp", "--json"], capture_output=True, text=True
    )
    assert proc.returncode == 0 and [x["name"] for x in json.loads(proc.stdout)] == ["fc1", "fc2", "fc3"]


def test_torchvision_model_on_synthetic_data():
    out = json.loads(
        run("evaluate", "torchvision:resnet18", "--data", "synthetic:3x64x64:16", "--json").stdout
    )
    assert out["accuracy"] == 1.0  # labels are the unpruned model's own predictions
    assert out["params_total"] == 11689512


def test_user_python_factory(tmp_path):
    (tmp_path / "mine.py").write_text(
        "import torch\n"
        "def build():\n"
        "    torch.manual_seed(0)\n"
        "    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(8, 4)), torch.randn(20, 8)\n"
    )
    out = json.loads(run("evaluate", "python:mine:build", "--json", cwd=tmp_path).stdout)
    assert out["data"] == "model" and out["accuracy"] == 1.0 and out["samples"] == 20


def test_train_demo_writes_loadable_weights(tmp_path):
    proc = run("train-demo", "--models", "mlp", "--epochs", "1", "--out", str(tmp_path))
    assert "epoch 1/1" in proc.stderr
    out = json.loads(run("evaluate", f"file:{tmp_path / 'demo_mlp.pt'}", "--json").stdout)
    assert out["model"].startswith("file:") and 0.0 <= out["accuracy"] <= 1.0


def _corrupt(tmp_path):
    path = tmp_path / "corrupt.pt"
    path.write_bytes(b"PK\x03\x04garbage" * 50)
    return f"file:{path}"


def _wrong_arch(tmp_path):
    from pruneviz.io.demo import DemoMLP

    path = tmp_path / "mlp_sd.pt"
    torch.save(DemoMLP().state_dict(), path)
    return f"file:{path}"


def _pickled(tmp_path):
    path = tmp_path / "pickled.pt"
    torch.save(torch.nn.Linear(2, 2), path)
    return f"file:{path}"


@pytest.mark.parametrize(
    ("make_args", "message"),
    [
        (lambda t: ["evaluate", f"file:{t / 'missing.pt'}"], "not found"),
        (lambda t: ["evaluate", _corrupt(t)], "corrupt"),
        (lambda t: ["evaluate", _wrong_arch(t), "--arch", "demo:cnn"], "does not fit"),
        (lambda t: ["evaluate", _pickled(t)], "--trust-pickle"),
        (lambda t: ["evaluate", "demo:cnn", "--data", "synthetic:3x32x32:8"], "channel"),
        (lambda t: ["evaluate", "demo:cnn", "--data", "synthetic:1x20x20:8"], "cannot take samples"),
        (lambda t: ["evaluate", "demo:nope"], "unknown demo model 'nope'"),
        (lambda t: ["evaluate", "demo:cnn", "--limit", "0"], "positive"),
        (lambda t: ["evaluate", "demo:cnn", "--device", "cuda:7"], "CUDA is not available"),
        (lambda t: ["evaluate", "demo:cnn", "--recipe", str(t / "none.yaml")], "recipe file not found"),
        (lambda t: ["info"], "arguments are required"),
        (lambda t: ["frobnicate"], "invalid choice"),
    ],
)
def test_bad_input_is_one_line_on_stderr_with_exit_2(tmp_path, make_args, message):
    if "cuda" in str(make_args(tmp_path)) and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    proc = run(*make_args(tmp_path), ok=False)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pruneviz: error:"), proc.stderr
    assert message in lines[0]
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_bad_recipe_names_the_problem(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("pruneviz: 1\nlayers:\n  conv7: {sparsity: 0.3}\n")
    proc = run("evaluate", "demo:cnn", "--recipe", str(recipe), ok=False)
    assert proc.returncode == 2 and "unknown layer 'conv7'" in proc.stderr


def test_debug_shows_the_traceback(tmp_path):
    proc = run("evaluate", f"file:{tmp_path / 'missing.pt'}", "--debug", ok=False)
    assert proc.returncode == 2 and "Traceback" in proc.stderr


def test_extra_layer_makes_a_named_module_prunable():
    names = [
        x["name"] for x in json.loads(run("info", "demo:resnet", "--extra-layer", "bn1", "--json").stdout)
    ]
    assert "bn1" in names and names[0] == "conv1"


FILTER_RECIPE = """\
pruneviz: 1
model: demo:resnet
round_to: 2
global: {sparsity: 0.5, granularity: filter, criterion: l1}
"""


@pytest.mark.parametrize("fmt", ["state_dict", "torchscript", "onnx", "full"])
def test_apply_removes_filters_and_the_file_evaluates(tmp_path, fmt):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(FILTER_RECIPE)
    out = tmp_path / ("small.onnx" if fmt == "onnx" else "small.pt")
    summary = json.loads(
        run("apply", "--recipe", str(recipe), "--out", str(out), "--format", fmt, "--json").stdout
    )
    assert summary["params_pruned"] == summary["params_predicted"] < summary["params_dense"]
    assert summary["macs_pruned"] == summary["macs_predicted"] < summary["macs_dense"]
    assert all(after[0] % 2 == 0 for _, after in summary["layers"].values() if after[0] != 10)
    extra = ["--trust-pickle"] if fmt == "full" else []
    reloaded = json.loads(run("evaluate", f"file:{out}", "--json", *extra).stdout)
    assert reloaded["data"] == "digits"
    assert reloaded["accuracy"] == pytest.approx(summary["accuracy_pruned"], abs=1e-6)


@pytest.mark.parametrize("fmt", ["state_dict", "safetensors", "torch-prune", "full", "torchscript", "onnx"])
def test_apply_exports_masked_models_in_every_format_verified(tmp_path, fmt):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("pruneviz: 1\nmodel: demo:cnn\ndefault: {sparsity: 0.7}\npinned: [fc2]\n")
    out = tmp_path / {"onnx": "m.onnx", "safetensors": "m.safetensors"}.get(fmt, "m.pt")
    summary = json.loads(
        run("apply", "--recipe", str(recipe), "--out", str(out), "--format", fmt, "--json").stdout
    )
    assert summary["kind"] == "masked" and summary["verified"]
    assert summary["accuracy_reloaded"] == pytest.approx(summary["accuracy_pruned"], abs=1 / 360)
    extra = ["--trust-pickle"] if fmt == "full" else []
    reloaded = json.loads(run("evaluate", f"file:{out}", "--json", *extra).stdout)
    assert reloaded["data"] == "digits"
    if fmt not in ("onnx", "torchscript"):  # those keep no parameters pruneviz can count
        assert reloaded["params_nonzero"] == summary["params_pruned"]


@pytest.mark.skipif(unsupported_reason("cuda") is None, reason="this machine's GPU takes 2:4 tensors")
def test_semi_structured_export_without_a_gpu_is_one_clear_line(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("pruneviz: 1\nmodel: demo:cnn\nlayers: {fc1: {sparsity: 0.5, granularity: '2:4'}}\n")
    out = tmp_path / "m.pt"
    proc = run("apply", "--recipe", str(recipe), "--out", str(out), "--format", "semi-structured", ok=False)
    assert proc.returncode == 2 and not out.exists()
    assert proc.stderr.count("\n") == 1 and "compute capability 8.0+" in proc.stderr


def test_safetensors_cannot_hold_a_shrunk_model(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(FILTER_RECIPE)
    proc = run(
        "apply",
        "--recipe",
        str(recipe),
        "--out",
        str(tmp_path / "x.safetensors"),
        "--format",
        "safetensors",
        ok=False,
    )
    assert proc.returncode == 2 and "tensors only" in proc.stderr


def test_latency_json_for_structured_and_unstructured(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(FILTER_RECIPE)
    out = json.loads(run("latency", "--recipe", str(recipe), "--repeats", "3", "--json").stdout)
    for key in (
        "params_dense",
        "params_pruned",
        "macs_dense",
        "macs_pruned",
        "latency_ms_dense",
        "latency_ms_pruned",
    ):
        assert key in out
    assert (
        out["kind"] == "structured" and out["params_pruned"] < out["params_dense"] and out["batch_size"] == 64
    )
    assert set(out["latency_ms"]) == {"1", "64"}
    recipe.write_text("pruneviz: 1\nmodel: demo:cnn\ndefault: {sparsity: 0.9}\n")
    out = json.loads(
        run("latency", "--recipe", str(recipe), "--repeats", "3", "--batch-sizes", "8", "--json").stdout
    )
    assert out["kind"] == "unstructured" and out["macs_pruned"] < out["macs_dense"] and out["batch_size"] == 8


def test_sensitivity_writes_one_row_per_layer_and_level(tmp_path):
    out = tmp_path / "sens.csv"
    run("sensitivity", "demo:cnn", "--levels", "0,0.5,0.9", "--out", str(out))
    lines = out.read_text().splitlines()
    assert lines[0] == "layer,sparsity,accuracy,loss,criterion,granularity" and len(lines) == 1 + 4 * 3
    run(
        "sensitivity",
        "demo:cnn",
        "--levels",
        "0,0.5",
        "--granularity",
        "filter",
        "--out",
        str(tmp_path / "s.json"),
    )
    doc = json.loads((tmp_path / "s.json").read_text())
    assert doc["spec"]["criterion"] == "l1" and len(doc["rows"]) == 8


def test_an_adaptive_sweep_says_how_many_points_it_measured_and_auto_says_it_used_one(tmp_path):
    out = tmp_path / "a.csv"
    proc = run("sensitivity", "demo:cnn", "--adaptive", "--drop", "0.02", "--out", str(out))
    rows = out.read_text().splitlines()[1:]
    assert f"adaptive: {len(rows)} of the exhaustive sweep's 80 points" in proc.stderr
    assert "points measured" in proc.stdout and len(rows) <= 80 / 3
    summary = json.loads(
        run("auto", "demo:cnn", "--adaptive", "--max-drop", "0.01", "--out", str(tmp_path / "r.yaml"),
            "--json").stdout
    )  # fmt: skip
    assert summary["sweep"]["adaptive"] and summary["sweep"]["drop"] == 0.01
    assert summary["sweep"]["points"] < summary["sweep"]["exhaustive_points"] / 3
    text = run(
        "auto", "demo:cnn", "--adaptive", "--max-drop", "0.01", "--out", str(tmp_path / "r.yaml")
    ).stdout
    assert "from an adaptive (drop 1.0%) sweep:" in text
    refused = run("sensitivity", "demo:cnn", "--adaptive", "--naive", "--out", str(out), ok=False)
    assert refused.returncode != 0 and "--naive measures every point" in refused.stderr


def test_auto_writes_a_recipe_that_evaluate_and_apply_accept(tmp_path):
    recipe = tmp_path / "auto.yaml"
    summary = json.loads(
        run(
            "auto",
            "demo:cnn",
            "--max-drop",
            "0.01",
            "--levels",
            "0,0.25,0.5,0.75,0.9",
            "--out",
            str(recipe),
            "--json",
        ).stdout
    )
    evaluated = json.loads(run("evaluate", "--recipe", str(recipe), "--json").stdout)
    assert evaluated["accuracy"] == pytest.approx(summary["measured_accuracy"])
    assert evaluated["accuracy"] >= 0.9833 - 0.01 - 1e-6
    filters = tmp_path / "filters.yaml"
    run(
        "auto",
        "demo:resnet",
        "--target-params",
        "0.3",
        "--granularity",
        "filter",
        "--levels",
        "0,0.25,0.5",
        "--out",
        str(filters),
    )
    applied = json.loads(
        run("apply", "--recipe", str(filters), "--out", str(tmp_path / "s.pt"), "--json").stdout
    )
    assert applied["params_pruned"] < applied["params_dense"]


def test_auto_needs_exactly_one_target(tmp_path):
    proc = run("auto", "demo:cnn", "--out", str(tmp_path / "r.yaml"), ok=False)
    assert proc.returncode == 2 and "one of the arguments" in proc.stderr


def test_finetune_writes_a_model_that_evaluates(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("pruneviz: 1\nmodel: demo:mlp\ndefault: {sparsity: 0.9}\n")
    out = tmp_path / "ft.pt"
    summary = json.loads(
        run(
            "finetune",
            "--recipe",
            str(recipe),
            "--steps",
            "150",
            "--schedule",
            "gradual",
            "--out",
            str(out),
            "--json",
        ).stdout
    )
    assert summary["accuracy_finetuned"] > summary["accuracy_pruned"] + 0.1
    evaluated = json.loads(run("evaluate", f"file:{out}", "--json").stdout)
    assert evaluated["accuracy"] == pytest.approx(summary["accuracy_finetuned"])
    assert evaluated["params_nonzero"] == summary["params_nonzero"] < 0.12 * evaluated["params_total"]


def test_lottery_csv_columns(tmp_path):
    out = tmp_path / "lt.csv"
    run("lottery", "demo:mlp", "--rounds", "2", "--steps", "40", "--out", str(out))
    lines = out.read_text().splitlines()
    assert lines[0] == "round,remaining,accuracy,early_stop_iter,control_accuracy,control_early_stop_iter"
    assert len(lines) == 4


def test_finetune_a_filter_recipe_trains_the_shrunk_model(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("pruneviz: 1\nmodel: demo:resnet\nglobal: {sparsity: 0.5, granularity: filter}\n")
    out = tmp_path / "small.pt"
    summary = json.loads(
        run("finetune", "--recipe", str(recipe), "--steps", "150", "--out", str(out), "--json").stdout
    )
    assert (
        summary["accuracy_finetuned"] > summary["accuracy_pruned"] + 0.3
    )  # measured 10.6% -> 97.8% (200 steps)
    evaluated = json.loads(run("evaluate", f"file:{out}", "--json").stdout)
    assert evaluated["params_total"] == summary["params_total"] < 38266 * 0.5
    assert evaluated["accuracy"] == pytest.approx(summary["accuracy_finetuned"])


def test_a_two_four_default_leaves_ineligible_layers_dense_and_says_so(tmp_path):
    """Regression: `default: {granularity: '2:4'}` failed on demo:cnn's conv1 (one input channel)."""
    recipe = tmp_path / "r.yaml"
    recipe.write_text("pruneviz: 1\nmodel: demo:cnn\ndefault: {sparsity: 0.5, granularity: '2:4'}\n")
    proc = run("evaluate", "--recipe", str(recipe), "--json")
    assert "left dense: conv1 (2:4 needs the input dimension to be a multiple of 4)" in proc.stderr
    layers = json.loads(proc.stdout)["layers"]
    assert layers == {"conv1": 0.0, "conv2": 0.5, "fc1": 0.5, "fc2": 0.5}
    out = tmp_path / "m.pt"
    assert run("apply", "--recipe", str(recipe), "--out", str(out)).returncode == 0
    explicit = tmp_path / "bad.yaml"
    explicit.write_text(
        "pruneviz: 1\nmodel: demo:cnn\nlayers: {conv1: {sparsity: 0.5, granularity: '2:4'}}\n"
    )
    proc = run("evaluate", "--recipe", str(explicit), ok=False)
    assert proc.returncode == 2 and "layer 'conv1' cannot take 2:4" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_a_sparsegpt_default_on_a_cnn_solves_its_linear_layers_and_leaves_the_convs_dense(tmp_path):
    """Regression: the sequential path handed conv1's 4-D weight to SparseGPT and the command died on
    'ValueError: too many values to unpack'."""
    recipe = tmp_path / "r.yaml"
    recipe.write_text("pruneviz: 1\nmodel: demo:cnn\ndefault: {sparsity: 0.5, criterion: sparsegpt}\n")
    proc = run("evaluate", "--recipe", str(recipe), "--json")
    for conv in ("conv1", "conv2"):
        assert f"left dense: {conv} (SparseGPT prunes Linear layers only, not a Conv2d)" in proc.stderr
    assert json.loads(proc.stdout)["layers"] == {"conv1": 0.0, "conv2": 0.0, "fc1": 0.5, "fc2": 0.5}


def test_room_export_and_clear(tmp_path):
    db = tmp_path / "room.sqlite"
    store = RoomStore(db)
    for name in ("ada", "<b>bob</b>"):
        store.add(Share(0, 0.0, "s", name, "demo:cnn", "digits", "accuracy", 0.97, 1000, 2000, ("A",), "r"))
    out = tmp_path / "room.csv"
    run("room", "export", "--db", str(db), "--out", str(out))
    rows = list(csv.DictReader(out.open()))
    assert [r["nickname"] for r in rows] == ["ada", "<b>bob</b>"] and rows[0]["exercises"] == "A"
    assert "deleted 2 share(s)" in run("room", "clear", "--db", str(db)).stderr
    assert RoomStore(db).shares() == []
    missing = run("room", "clear", "--db", str(tmp_path / "typo.sqlite"), ok=False)
    assert missing.returncode == 2 and "there is no room store at" in missing.stderr
    assert not (tmp_path / "typo.sqlite").exists()


def test_compare_criteria_prints_the_overlaps_and_writes_the_table_and_the_heatmap(tmp_path):
    shown = run(
        "compare-criteria", "demo:cnn", "--criteria", "magnitude,l2,random", "--out", str(tmp_path / "c.csv")
    )
    lines = shown.stdout.splitlines()
    assert lines[0] == "Accuracy dense 98.3%; each layer alone at 50%"
    assert lines[1].split() == [
        "layer", "magnitude~l2", "magnitude~random", "l2~random",
        "magnitude", "accuracy", "l2", "accuracy", "random", "accuracy",
    ]  # fmt: skip
    fc1 = next(line.split() for line in lines if line.startswith("fc1"))
    assert fc1[1] == "1.00" and 0.3 < float(fc1[2]) < 0.37  # magnitude and l2 agree; random: about 1/3
    rows = (tmp_path / "c.csv").read_text().splitlines()
    pairs = "magnitude ~ l2,magnitude ~ random,l2 ~ random"
    assert rows[0] == f"layer,{pairs},accuracy magnitude,accuracy l2,accuracy random"
    assert len(rows) == 1 + 4
    run("compare-criteria", "demo:cnn", "--criteria", "magnitude,random", "--out", str(tmp_path / "c.html"))
    assert "criteria at 50% unstructured" in (tmp_path / "c.html").read_text().lower()
    data = json.loads(run("compare-criteria", "demo:cnn", "--criteria", "magnitude,random", "--json").stdout)
    assert data["metric"] == "accuracy" and [r["layer"] for r in data["layers"]] == [
        "conv1",
        "conv2",
        "fc1",
        "fc2",
    ]
    for args, said in ((("--criteria", "magnitude"), "at least two"), (("--sparsity", "1.5"), "sparsity")):
        refused = run("compare-criteria", "demo:cnn", *args, ok=False)
        assert refused.returncode == 2 and said in refused.stderr and len(refused.stderr.splitlines()) == 1
