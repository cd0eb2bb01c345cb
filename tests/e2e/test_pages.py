"""Every dashboard page through streamlit.testing.v1.AppTest, as a user would drive it."""

import re
import time
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.util import patch_config_options

from pruneviz.core.humanize import count, percent
from pruneviz.io.checkpoint import save_checkpoint
from pruneviz.io.demo import DemoCNN
from pruneviz.ui.state import NAVIGATION
from pruneviz.workflows.recipe import apply_recipe, parse_recipe_text
from pruneviz.workflows.sensitivity import SweepSpec, sweep
from pruneviz.workflows.session import open_session

ROOT = Path(__file__).resolve().parents[2]
PAGES = ["app.py", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "pages").glob("*.py"))]
WORKSPACE = "pruneviz_workspace"


def open_page(page: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / page), default_timeout=120)
    return at.run()


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


@pytest.mark.parametrize("page", PAGES)
def test_page_opened_directly_loads_the_default_demo(page):
    at = open_page(page)
    assert not at.exception, at.exception
    assert not at.error
    assert at.session_state[WORKSPACE].session.model.spec == "demo:cnn"


def test_prune_sliders_change_the_metrics():
    at = open_page("pages/3_Prune.py")
    at.session_state[WORKSPACE].history.settle_s = 0  # every configuration shown counts as tried
    assert metric(at, "Accuracy") == "98.3%" and metric(at, "Non-zero params") == "38.3 k"
    at.slider(key="prune_layer_fc1").set_value(90).run()
    assert metric(at, "Non-zero params") == "8.8 k"  # 38,282 - floor(0.9 * 32,768)
    at.slider(key="prune_layer_conv2").set_value(95).run()
    assert metric(at, "Accuracy") != "98.3%"
    session = at.session_state[WORKSPACE].session
    assert session.layer_sparsity()["fc1"] == 29491 / 32768
    assert len(at.session_state[WORKSPACE].history.trials) == 3


def test_a_refining_estimate_is_shown_first_and_never_enters_the_history(monkeypatch):
    """With PRUNEVIZ_LIVE_S=0 a slider move is first shown from one batch (256 of 360 digits), then
    refined (AppTest runs the fragment's reruns to the end); the history keeps a configuration's first
    score, so a partial figure recorded on the way would stay there."""
    monkeypatch.setenv("PRUNEVIZ_LIVE_S", "0")
    at = open_page("pages/3_Prune.py")
    at.session_state[WORKSPACE].history.settle_s = 0
    at.slider(key="prune_layer_conv2").set_value(95).run()
    assert not at.exception
    ws = at.session_state[WORKSPACE]
    full, first = ws.session.report(), ws.session.report(1)
    assert not first.complete and first.score != full.score  # the estimate on the way differed
    assert ws.history.trials[-1].score == full.score and len(ws.history.trials) == 2
    assert metric(at, "Accuracy") == f"{full.score:.1%}"


def test_prune_presets_and_reset():
    at = open_page("pages/3_Prune.py")
    at.slider(key="prune_global").set_value(60).run()
    layers = ["conv1", "conv2", "fc1", "fc2"]
    assert [at.slider(key=f"prune_layer_{n}").value for n in layers] == [60, 60, 60, 60]
    at.radio(key="prune_preset").set_value("deeper layers more").run()
    ramp = [at.slider(key=f"prune_layer_{n}").value for n in layers]
    assert ramp == sorted(ramp) and ramp[0] < ramp[-1]
    at.radio(key="prune_preset").set_value("global threshold").run()
    alloc = {n: at.slider(key=f"prune_layer_{n}").value for n in layers}
    assert alloc["fc1"] > alloc["conv1"]  # one magnitude threshold takes most from the big layer
    at.button(key="prune_reset").click().run()
    assert [at.slider(key=f"prune_layer_{n}").value for n in layers] == [0, 0, 0, 0]
    assert metric(at, "Accuracy") == "98.3%"


def test_prune_two_four_disables_layers_that_cannot_take_it():
    at = open_page("pages/3_Prune.py")
    at.selectbox(key="prune_granularity").set_value("2:4").run()
    assert at.slider(key="prune_layer_conv1").disabled  # one input channel
    at.slider(key="prune_layer_fc1").set_value(10).run()
    assert at.session_state[WORKSPACE].session.layer_sparsity()["fc1"] == 0.5


def test_prune_with_sparsegpt_greys_out_the_convs_and_solves_the_linear_layers():
    """Regression: with SparseGPT chosen, a conv's slider stayed live (an error on every move) and
    "Apply to all layers" died inside SparseGPT on conv1's 4-D weight."""
    at = open_page("pages/3_Prune.py")
    at.slider(key="prune_global").set_value(60).run()
    at.selectbox(key="prune_criterion").set_value("sparsegpt").run()
    for conv in ("conv1", "conv2"):
        assert at.slider(key=f"prune_layer_{conv}").disabled
        assert "SparseGPT prunes Linear layers only" in at.slider(key=f"prune_layer_{conv}").help
    assert not at.slider(key="prune_layer_fc1").disabled
    at.button(key="prune_sequential").click().run()
    assert not at.exception and not at.error, (at.exception, at.error)
    sparsity = at.session_state[WORKSPACE].session.layer_sparsity()
    assert sparsity["conv1"] == sparsity["conv2"] == 0.0 and sparsity["fc1"] == int(0.6 * 32768) / 32768


def test_prune_filter_granularity_switches_to_filter_criteria():
    at = open_page("pages/3_Prune.py")
    at.selectbox(key="prune_granularity").set_value("filter").run()
    assert at.selectbox(key="prune_criterion").value == "l1"
    at.slider(key="prune_layer_conv2").set_value(50).run()
    w = at.session_state[WORKSPACE].session.modules["conv2"].weight
    assert int((w.flatten(1).abs().sum(1) == 0).sum()) == 16


def test_two_sessions_never_see_each_others_numbers():
    a, b = open_page("pages/3_Prune.py"), open_page("pages/3_Prune.py")
    a.slider(key="prune_layer_fc1").set_value(99).run()
    b.slider(key="prune_layer_conv2").set_value(50).run()
    sa, sb = a.session_state[WORKSPACE].session, b.session_state[WORKSPACE].session
    assert sa.model is sb.model  # one shared, cached baseline...
    assert sa.working is not sb.working  # ...and a working copy each
    assert sa.layer_sparsity()["conv2"] == 0.0 and sb.layer_sparsity()["fc1"] == 0.0
    assert metric(a, "Non-zero params") != metric(b, "Non-zero params")
    base = sa.model.module.state_dict()
    assert all(bool(v.count_nonzero() == v.numel()) for k, v in base.items() if k.endswith("weight"))


def test_model_page_loads_another_demo():
    at = open_page("pages/1_Model_and_data.py")
    at.selectbox(key="md_demo").set_value("resnet")  # form widgets commit with the submit button
    at.button(key="md_load").click().run()
    assert not at.exception and at.session_state[WORKSPACE].session.model.spec == "demo:resnet"
    assert "layer2.shortcut.0" in at.dataframe[0].value["layer"].tolist()


def test_an_hf_directory_typed_as_the_readme_writes_it_loads_and_the_sidebar_follows(tiny_llama, monkeypatch):
    """Regression (issue 31): ``hf:PATH`` became ``hf:hf:PATH`` and was refused with advice about a CLI
    flag; right after Load the sidebar still named the old model; a folder outside the shared ones gave
    no hint of how to share it."""
    monkeypatch.setenv("PRUNEVIZ_DATA_ROOT", str(Path(tiny_llama).parent))
    at = open_page("pages/1_Model_and_data.py")
    at.radio(key="md_source").set_value("Hugging Face").run()
    assert any("PRUNEVIZ_DATA_ROOT" in c.value for c in at.caption)
    at.text_input(key="md_hf").input(ROOT.as_posix())  # a folder this server does not share
    at.button(key="md_load").click().run()
    assert any(
        "outside the folders this server shares" in e.value and "PRUNEVIZ_DATA_ROOT" in e.value
        for e in at.error
    )
    at.text_input(key="md_hf").input(f"hf:{tiny_llama}")
    at.button(key="md_load").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.session_state[WORKSPACE].session.model.spec == f"hf:{tiny_llama}"
    assert any(f"Loaded hf:{tiny_llama}" in s.value for s in at.success)
    assert any(f"`hf:{tiny_llama}`" in m.value for m in at.sidebar.markdown)  # not the demo's any more


def test_python_specs_are_refused_unless_the_server_allows_them(monkeypatch):
    monkeypatch.delenv("PRUNEVIZ_ALLOW_PYTHON", raising=False)
    at = open_page("pages/1_Model_and_data.py")
    assert "Python factory" not in at.radio(key="md_source").options
    at.text_input(key="md_data").input("python:os:getcwd")
    at.button(key="md_load").click().run()
    assert any("would run Python code on this machine" in e.value for e in at.error)
    assert at.session_state[WORKSPACE].session.data.spec == "digits"


def test_model_page_bad_input_shows_error_and_keeps_the_session(monkeypatch):
    monkeypatch.setenv("PRUNEVIZ_ALLOW_PYTHON", "1")
    at = open_page("app.py")
    at.switch_page("pages/3_Prune.py").run()
    at.slider(key="prune_layer_fc1").set_value(50).run()
    at.switch_page("pages/1_Model_and_data.py").run()
    at.radio(key="md_source").set_value("Python factory").run()
    at.text_input(key="md_python").input("no_such_module_xyz:build")
    at.button(key="md_load").click().run()
    assert not at.exception
    assert any("cannot import module 'no_such_module_xyz'" in e.value for e in at.error)
    session = at.session_state[WORKSPACE].session
    assert session.model.spec == "demo:cnn" and session.layer_sparsity()["fc1"] == 0.5


def test_model_page_upload_checkpoint_and_corrupt_file(tmp_path):
    at = open_page("pages/1_Model_and_data.py")
    at.radio(key="md_source").set_value("Upload a file").run()
    at.file_uploader(key="md_upload").upload("junk.pt", b"definitely not a checkpoint")
    at.button(key="md_load").click().run()
    assert any("corrupt" in e.value for e in at.error)
    assert at.session_state[WORKSPACE].session.model.spec == "demo:cnn"
    torch.manual_seed(0)
    path = save_checkpoint(tmp_path / "mine.pt", DemoCNN(), "demo:cnn", "digits")
    at.file_uploader(key="md_upload").clear().upload("mine.pt", path.read_bytes())
    at.button(key="md_load").click().run()
    assert not at.error
    assert at.session_state[WORKSPACE].session.model.spec.startswith("file:")
    assert metric(at, "Accuracy") != "98.3%"  # untrained weights


def test_importance_page_computes_gradients_in_the_background():
    at = open_page("pages/2_Importance.py")
    ws = at.session_state[WORKSPACE]
    assert ws.jobs["importance"].wait(120) and ws.jobs["importance"].error is None
    at.selectbox(key="imp_layer").set_value("conv2").run()
    assert not at.exception
    titles = [c.proto.spec for c in at.get("plotly_chart")]
    assert any("conv2: taylor importance" in t for t in titles)
    assert any("conv2: weight magnitude" in t for t in titles)
    attribution = next(c.proto.spec for c in at.get("plotly_chart") if "Integrated Gradients" in c.proto.spec)
    at.number_input(key="imp_sample").set_value(3).run()  # another sample: another map
    assert not at.exception
    assert next(c.proto.spec for c in at.get("plotly_chart") if "Integrated Gradients" in c.proto.spec) != (
        attribution
    )


def test_importance_page_compares_criteria_in_the_background_and_keeps_the_masks():
    at = open_page("app.py")
    at.switch_page("pages/3_Prune.py").run()
    at.slider(key="prune_layer_fc1").set_value(60).run()
    at.switch_page("pages/2_Importance.py").run()
    ws = at.session_state[WORKSPACE]
    masks = {n: m.clone() for n, m in ws.session.masks.items()}
    at.multiselect(key="imp_compare_criteria").set_value(["magnitude", "random"])
    at.slider(key="imp_compare_sparsity").set_value(30)
    at.button(key="imp_compare_run").click().run()
    assert ws.jobs["compare"].wait(120) and ws.jobs["compare"].error is None
    at.run()
    assert not at.exception
    assert ws.comparison.criteria == ("magnitude", "random") and ws.comparison.sparsity == 0.3
    assert any("Criteria at 30% unstructured" in c.proto.spec for c in at.get("plotly_chart"))
    assert ws.session.masks.keys() == masks.keys()  # compared on a copy: the user's masks stay
    assert all(torch.equal(ws.session.masks[n], m) for n, m in masks.items())


def test_learn_page_runs_an_example_and_checks_an_exercise():
    at = open_page("pages/9_Learn.py")
    at.button(key="learn_run_Techniques_0").click().run()
    assert "accuracy" in at.dataframe[0].value.columns
    at.button(key="learn_check_1").click().run()
    assert any(w.value.startswith("Not yet — 0.0% of prunable weights are zero") for w in at.warning)
    # Regression (issue 31): exercises 3 and 4 asked "which criterion?" with nowhere to answer
    assert not any("?" in m.value for m in at.markdown if "criterion" in m.value)


def test_structured_preview_apply_measure_and_export():
    at = open_page("pages/4_Structured.py")
    # the classifier is always kept whole: not offered, and said so
    assert "fc2" not in at.multiselect(key="st_pinned").options
    assert not any(s.key == "st_layer_fc2" for s in at.slider)
    assert any("`fc2` is the classifier and is always kept whole" in c.value for c in at.caption)
    at.slider(key="st_layer_conv2").set_value(50).run()
    assert metric(at, "Parameters after removal") == "19.6 k"  # conv2 16 of 32 filters, fc1 inputs with them
    session = at.session_state[WORKSPACE].session
    sparsity = session.layer_sparsity()
    assert sparsity["conv2"] == 0.5 and sparsity["fc1"] == 0.5  # filters zeroed, and fc1's inputs from them
    at.button(key="st_apply").click().run()
    assert "as predicted" in at.success[0].value
    shrunk = at.session_state[WORKSPACE].shrunk.model
    assert shrunk.conv2.out_channels == 16 and shrunk.fc1.in_features == 256
    at.button(key="st_measure").click().run()
    assert at.session_state[WORKSPACE].jobs["latency"].wait(120)
    at.run()
    assert any("Promised vs measured" in c.proto.spec for c in at.get("plotly_chart"))
    at.button(key="st_export_state_dict").click().run()
    assert not at.exception and len(at.session_state[WORKSPACE].structured_files["state_dict"]) > 1000


def test_structured_shows_the_coupled_group():
    at = open_page("pages/4_Structured.py")
    at.selectbox(key="st_group_layer").set_value("conv2").run()
    group = at.dataframe[-1].value
    assert {"conv2", "fc1"} <= set(group["layer"]) and set(group["channels"]) == {"out", "in"}


@pytest.mark.parametrize(
    ("choose", "layers"),
    [
        (lambda at: None, ("conv2", "fc1")),  # demo:cnn
        (lambda at: _load(at, "torchvision", "synthetic:3x96x96:32", "mobilenet_v3_small"), None),
    ],
    ids=["demo-cnn", "mobilenet-v3-small"],
)
def test_structured_figures_describe_one_model_from_the_first_render(choose, layers):
    """Regression (issue 17): after pruning on the Prune page, the Structured page showed the pruned
    accuracy next to the dense parameter and MAC counts."""
    at = open_page("app.py")
    choose(at)
    ws = at.session_state[WORKSPACE]
    layers = layers or tuple(ws.session.layer_names[1:3])
    at.switch_page("pages/3_Prune.py").run()
    for n in layers:
        at.slider(key=f"prune_layer_{n}").set_value(99).run()
    pruned = ws.session.report()
    assert pruned.score < ws.baseline.score
    at.switch_page("pages/4_Structured.py").run()
    assert not at.exception
    session = ws.session
    # nothing chosen here: nothing changes (issue 31), and every figure is the masked model's
    assert metric(at, "Accuracy (Prune page's masks)") == percent(pruned.score)
    assert metric(at, "Non-zero params") == count(pruned.params_nonzero)
    assert metric(at, "Effective MACs") == count(pruned.macs_effective)
    assert set(session.masks) == set(layers) and session.removal is None
    at.slider(key=f"st_layer_{layers[0]}").set_value(50).run()  # a preview sets the masks aside
    assert session.removal is not None and metric(at, "Accuracy (preview)") != percent(pruned.score)
    at.switch_page("pages/3_Prune.py").run()  # the Prune page brings its masks back, and says so
    assert session.report().score == pruned.score and session.removal is None
    assert any("Structured page's preview was showing" in i.value for i in at.info)


def test_a_timm_deits_heads_go_on_the_structured_page():
    at = open_page("app.py")
    _load(at, "timm", "synthetic:3x224x224:4", "deit_tiny_patch16_224")
    ws = at.session_state[WORKSPACE]
    assert ws.session.model.spec == "timm:deit_tiny_patch16_224"
    at.switch_page("pages/4_Structured.py").run()
    assert any("keeps its head size as an attribute" in c.value for c in at.caption)
    at.slider(key="st_vit_heads_removed").set_value(34).run()  # one of three heads in every block
    assert not at.exception and ws.structure.heads == 0.34
    removed = ws.session.removal.removed
    assert int(removed["blocks.0.attn.qkv.weight"].all(1).sum()) == 3 * 64  # its q, k and v rows
    assert int(removed["blocks.0.attn.proj.weight"].all(0).sum()) == 64  # its output columns


def test_an_eva02_on_the_structured_page_says_why_its_heads_and_channels_stay():
    """EVA-02's attention cannot hold fewer heads and its MLP packs gate and value in one Linear: no
    slider offers either, no button builds nothing, and the page says why and where to go instead."""
    at = open_page("app.py")
    _load(at, "timm", "synthetic:3x336x336:2", "eva02_tiny_patch14_336")
    at.switch_page("pages/4_Structured.py").run()
    assert not at.exception and not at.error
    captions = " ".join(c.value for c in at.caption)
    assert "Heads stay: timm's EvaAttention reshapes" in captions and "MLP channels stay:" in captions
    assert not {"st_vit_channels", "st_vit_heads_removed"} & {s.key for s in at.slider}
    assert "Nothing in this model's blocks can be removed for real" in at.info[0].value
    assert not any(b.label == "Build the smaller model" for b in at.button)  # nothing to build


def _load(at: AppTest, source: str, data: str, arch: str | None = None) -> None:
    """Load a model on the Model & data page (``arch``: a torchvision or timm architecture)."""
    at.switch_page("pages/1_Model_and_data.py").run()
    at.radio(key="md_source").set_value(source).run()
    if arch:
        at.selectbox(key="md_tv_arch" if source == "torchvision" else "md_timm_arch").set_value(arch)
    at.text_input(key="md_data").input(data)
    at.button(key="md_load").click().run()
    assert not at.error, [e.value for e in at.error]


EXHAUSTIVE = "exhaustive: every level"


def _run_sweep(at: AppTest, mode: str = EXHAUSTIVE, levels: str = "every 10% (10 levels)") -> None:
    at.selectbox(key="sens_levels").set_value(levels)
    at.radio(key="sens_mode").set_value(mode)
    next(b for b in at.button if b.label == "Run sweep").click().run()
    job = at.session_state[WORKSPACE].jobs.get("sweep")  # None: the server had this sweep cached
    if job is not None:
        assert job.wait(120) and job.error is None
        at.run()
    assert at.session_state[WORKSPACE].sensitivity is not None


def test_sensitivity_sweep_table_and_send_to_prune():
    at = open_page("app.py")
    at.switch_page("pages/5_Sensitivity.py").run()
    _run_sweep(at)
    ws = at.session_state[WORKSPACE]
    assert len(ws.sensitivity.rows) == 4 * 10 and ws.sensitivity.spec.levels[1] == 0.1
    assert any("Rank correlation" in c.value for c in at.caption)
    table = at.dataframe[0].value
    assert list(table["layer"]) == ["conv1", "conv2", "fc1", "fc2"]
    assert ws.session.layer_sparsity() == dict.fromkeys(
        ws.session.layer_names, 0.0
    )  # sweep used a scratch copy
    at.button(key="sens_send").click().run()
    within = ws.sensitivity.max_sparsity_within(0.01)
    assert [at.slider(key=f"prune_layer_{n}").value for n in within] == [
        round(100 * s) for s in within.values()
    ]


def test_the_adaptive_sweep_is_the_default_and_finds_the_exhaustive_answers():
    at = open_page("app.py")
    at.switch_page("pages/5_Sensitivity.py").run()
    assert at.radio(key="sens_mode").value.startswith("adaptive")
    _run_sweep(at, at.radio(key="sens_mode").value, at.selectbox(key="sens_levels").value)
    adaptive = at.session_state[WORKSPACE].sensitivity
    assert adaptive.spec.drop == 0.01 and len(adaptive.rows) <= 4 * 20 / 3
    assert any("Adaptive sweep for a drop of 1.0 pt" in c.value for c in at.caption)
    assert "points measured" in at.dataframe[0].value.columns
    exhaustive = sweep(open_session("demo:cnn"), SweepSpec(adaptive.spec.levels))
    assert adaptive.max_sparsity_within(0.01) == exhaustive.max_sparsity_within(0.01)
    assert {(r.layer, r.sparsity, r.score) for r in adaptive.rows} <= {
        (r.layer, r.sparsity, r.score) for r in exhaustive.rows
    }  # every adaptive point is the exhaustive sweep's point


def test_sensitivity_auto_allocation_verifies_and_feeds_the_prune_preset():
    at = open_page("app.py")
    at.switch_page("pages/5_Sensitivity.py").run()
    _run_sweep(at)
    at.radio(key="sens_goal").set_value("max accuracy drop (points)").run()
    at.number_input(key="sens_goal_value").set_value(1.0)
    at.button(key="sens_auto").click().run()
    measured = float(metric(at, "Measured accuracy").rstrip("%"))
    assert measured >= 98.3 - 1.0 - 0.05
    at.switch_page("pages/3_Prune.py").run()
    assert "from sensitivity" in at.radio(key="prune_preset").options
    at.radio(key="prune_preset").set_value("from sensitivity").run()
    at.slider(key="prune_global").set_value(60).run()
    sliders = [at.slider(key=f"prune_layer_{n}").value for n in ("conv1", "conv2", "fc1", "fc2")]
    assert len(set(sliders)) > 1  # not uniform: driven by the curves


def start_finetune(at: AppTest, layers: tuple[str, ...], steps: int):
    """Prune ``layers`` to 90% on the Prune page and start a fine-tune of ``steps`` on Recovery;
    returns the session, its accuracy before the fine-tune, and the running job."""
    at.switch_page("pages/3_Prune.py").run()
    for n in layers:
        at.slider(key=f"prune_layer_{n}").set_value(90).run()
    session = at.session_state[WORKSPACE].session
    pruned = session.report().score
    at.switch_page("pages/6_Recovery.py").run()
    at.number_input(key="ft_steps").set_value(steps)
    next(b for b in at.button if b.label == "Fine-tune").click().run()
    return session, pruned, at.session_state[WORKSPACE].jobs["finetune"]


def test_recovery_finetunes_the_prune_configuration_and_can_undo():
    at = open_page("app.py")
    at.switch_page("pages/6_Recovery.py").run()
    assert "Nothing is pruned yet" in at.info[0].value
    session, pruned, job = start_finetune(at, ("conv1", "conv2", "fc1", "fc2"), steps=100)
    assert job.wait(120) and job.error is None
    at.run()
    tuned = session.report()
    assert tuned.score > pruned + 0.2  # measured: 23.3% -> 87.5% in 100 steps
    assert all(bool((session.modules[n].weight[~m] == 0).all()) for n, m in session.masks.items())
    assert metric(at, "Accuracy after fine-tuning") == f"{100 * tuned.score:.1f}%"
    recipe = parse_recipe_text(at.session_state[WORKSPACE].recipe())
    assert recipe.training.settings() == {
        "steps": 100, "lr": 0.001, "batch_size": 64, "optimizer": "adam", "schedule": "oneshot", "rounds": 3,
        "seed": 0,
    }  # fmt: skip
    assert recipe.training.target == session.plans  # what it pruned towards
    at.button(key="ft_undo_button").click().run()
    assert session.report().score == pruned
    assert parse_recipe_text(at.session_state[WORKSPACE].recipe()).training is None


def test_the_session_saved_as_a_recipe_from_any_page_restores_the_same_masks():
    at = open_page("app.py")
    at.switch_page("pages/3_Prune.py").run()
    at.selectbox(key="prune_criterion").set_value("taylor").run()
    at.slider(key="prune_layer_fc1").set_value(30).run()
    at.slider(key="prune_layer_conv2").set_value(70).run()
    at.switch_page("pages/9_Learn.py").run()
    assert any(b.label == "Save session as recipe" for b in at.get("download_button"))
    ws = at.session_state[WORKSPACE]
    fresh = open_session("demo:cnn", device="cpu")
    apply_recipe(fresh, parse_recipe_text(ws.recipe()))
    assert fresh.masks.keys() == ws.session.masks.keys()
    assert all(torch.equal(fresh.masks[n], m) for n, m in ws.session.masks.items())


def start_lottery(rounds: int, steps: int) -> tuple[AppTest, object]:
    """Open the Lottery ticket page and start a run; returns the page and the running job."""
    at = open_page("pages/7_Lottery_ticket.py")
    at.number_input(key="lt_rounds").set_value(rounds)
    at.number_input(key="lt_steps").set_value(steps)
    next(b for b in at.button if b.label == "Find a ticket").click().run()
    return at, at.session_state[WORKSPACE].jobs["lottery"]


def test_lottery_page_runs_rounds_and_loads_the_ticket():
    at, job = start_lottery(rounds=2, steps=60)
    assert job.wait(120) and job.error is None and len(job.partial) == 3
    at.run()
    assert list(at.dataframe[0].value["round"]) == [0, 1, 2]
    at.button(key="lt_load").click().run()
    session = at.session_state[WORKSPACE].session
    remaining = job.result.rounds[-1].remaining
    sizes = {x.name: x.params for x in session.layers}
    zeros = sum(session.layer_sparsity()[n] * sizes[n] for n in sizes)
    assert 1 - zeros / sum(sizes.values()) == pytest.approx(remaining, abs=1e-6)


def test_prune_recipe_upload_restores_sliders_and_bad_ones_are_shown():
    at = open_page("pages/3_Prune.py")
    good = b"""pruneviz: 1
default: {sparsity: 0.4, criterion: l1, granularity: filter}
layers:
  fc1: {sparsity: 0.7}
"""
    at.file_uploader(key="prune_recipe_upload").upload("r.yaml", good).run()
    assert at.selectbox(key="prune_granularity").value == "filter"
    assert [at.slider(key=f"prune_layer_{n}").value for n in ("conv1", "conv2", "fc1", "fc2")] == [
        40,
        40,
        70,
        40,
    ]
    at.file_uploader(key="prune_recipe_upload").clear().upload(
        "bad.yaml", b"pruneviz: 1\nlayers: {conv9: {sparsity: 0.5}}\n"
    )
    at.run()
    assert any("unknown layer 'conv9'" in e.value for e in at.error)
    assert at.slider(key="prune_layer_fc1").value == 70  # kept


def test_export_page_writes_verifies_and_offers_snippet_and_report():
    at = open_page("app.py")
    at.switch_page("pages/3_Prune.py").run()
    at.slider(key="prune_layer_fc1").set_value(80).run()
    at.switch_page("pages/8_Export.py").run()
    for fmt in ("state_dict", "onnx", "torch-prune"):
        at.selectbox(key="ex_format").set_value(fmt)
        at.button(key="ex_run").click().run()
        assert not at.exception and "verified" in at.success[0].value, fmt
    assert "prune.l1_unstructured(modules['fc1'], 'weight', amount=26214)" in at.code[0].value
    at.button(key="ex_report").click().run()
    assert not at.exception and at.session_state[WORKSPACE].report_html.startswith("<!doctype html>")


def wait_for(condition, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_stopped_sweep_keeps_the_layers_it_finished():
    at = open_page("app.py")
    at.switch_page("pages/1_Model_and_data.py").run()
    _load(at, "torchvision", "synthetic:3x64x64:64")  # resnet18: 21 layers, a sweep of ~20 s
    at.switch_page("pages/5_Sensitivity.py").run()
    at.radio(key="sens_mode").set_value(EXHAUSTIVE)
    next(b for b in at.button if b.label == "Run sweep").click().run()
    ws = at.session_state[WORKSPACE]
    job = ws.jobs["sweep"]
    wait_for(lambda: ws.live.result is not None and ws.live.result.finished_layers().rows)
    at.button(key="sens_sweep_stop").click().run()
    assert job.wait(60) and job.cancelled
    at.run()
    kept = ws.sensitivity.curves()
    assert 1 <= len(kept) < len(ws.session.layer_names)
    assert all(len(curve) == 20 for curve in kept.values())  # whole layers only
    assert any("Stopped: the" in w.value for w in at.warning)
    assert list(at.dataframe[0].value["layer"]) == list(kept)


def test_a_stopped_finetune_keeps_what_it_trained_and_can_be_undone():
    at = open_page("app.py")
    session, pruned, job = start_finetune(at, ("conv2", "fc1"), steps=20_000)
    wait_for(lambda: len(job.partial) >= 2)
    at.button(key="ft_finetune_stop").click().run()
    assert job.wait(60) and job.cancelled and job.result is not None
    at.run()
    assert any("Stopped early" in w.value for w in at.warning)
    assert session.report().score != pruned
    assert all(bool((session.modules[n].weight[~m] == 0).all()) for n, m in session.masks.items())
    at.button(key="ft_undo_button").click().run()
    assert session.report().score == pruned


def test_a_stopped_lottery_run_keeps_its_rounds():
    at, job = start_lottery(rounds=20, steps=300)
    wait_for(lambda: len(job.partial) >= 2)
    at.button(key="lt_lottery_stop").click().run()
    assert job.wait(60) and job.cancelled
    at.run()
    rounds = len(job.partial)
    assert any(f"Stopped after {rounds} round(s)" in w.value for w in at.warning)
    assert len(at.dataframe[0].value) == rounds
    assert not any(b.key == "lt_load" for b in at.button)  # no ticket from an unfinished run


def test_switching_models_leaves_nothing_of_the_old_one():
    """Regression: the undo of a fine-tune, lottery results, structured pins and sliders, and an
    automatic allocation survived a model switch (undo would load the old model's weights)."""
    at = open_page("app.py")
    _, _, job = start_finetune(at, ("fc1",), steps=25)
    assert job.wait(120)
    at.run()
    old = at.session_state[WORKSPACE]
    assert old.undo is not None and any(b.key == "ft_undo_button" for b in at.button)
    at.switch_page("pages/4_Structured.py").run()
    at.slider(key="st_layer_conv2").set_value(40).run()
    _load(at, "Demo model", "digits")  # demo:cnn again: a new model load all the same
    fresh = at.session_state[WORKSPACE]
    assert fresh is not old and fresh.undo is None and fresh.curve is None and fresh.lottery is None
    assert fresh.session.working is not old.session.working and fresh.session.origin is None
    leftovers = [k for k in at.session_state if str(k).startswith(("st_", "prune_", "ft_", "lt_", "sens_"))]
    assert leftovers == []
    at.switch_page("pages/6_Recovery.py").run()
    assert not any(b.key == "ft_undo_button" for b in at.button)
    at.switch_page("pages/4_Structured.py").run()
    assert at.slider(key="st_layer_conv2").value == 0


def test_the_session_recipe_of_a_two_four_prune_page_applies():
    """Regression: with 2:4 selected, the session's recipe gave conv1 (one input channel) 2:4."""
    at = open_page("pages/3_Prune.py")
    at.slider(key="prune_layer_conv1").set_value(30).run()  # set while unstructured...
    at.selectbox(key="prune_granularity").set_value("2:4").run()  # ...then disabled, still at 30
    at.slider(key="prune_layer_fc1").set_value(30).run()
    assert at.slider(key="prune_layer_conv1").disabled and at.slider(key="prune_layer_conv1").value == 30
    ws = at.session_state[WORKSPACE]
    assert ws.session.plans["conv1"].dense and ws.session.layer_sparsity()["fc1"] == 0.5
    recipe = parse_recipe_text(ws.recipe())
    fresh = open_session("demo:cnn", device="cpu")
    apply_recipe(fresh, recipe)  # what `pruneviz apply` does with the downloaded file
    assert fresh.layer_sparsity() == ws.session.layer_sparsity()


@pytest.mark.parametrize("address", ["0.0.0.0", "127.0.0.1"])
def test_pickles_are_offered_to_one_user_and_refused_in_a_room(address, tmp_path, monkeypatch):
    monkeypatch.delenv("PRUNEVIZ_ALLOW_PICKLE", raising=False)
    at = AppTest.from_file(str(ROOT / "pages/1_Model_and_data.py"), default_timeout=120)
    with patch_config_options({"server.address": address}):
        at.run()
        at.radio(key="md_source").set_value("Upload a file").run()
        offered = any(c.key == "md_trust" for c in at.checkbox)
        module = torch.nn.Sequential(torch.nn.Linear(64, 10))
        path = tmp_path / "module.pt"
        torch.save(module, path)  # a pickled module: loading it runs code from the file
        at.file_uploader(key="md_upload").upload("module.pt", path.read_bytes())
        at.button(key="md_load").click().run()
    errors = [e.value for e in at.error]
    if address == "0.0.0.0":
        assert not offered
        assert any("does not unpickle uploaded files" in e and "PRUNEVIZ_ALLOW_PICKLE=1" in e for e in errors)
    else:
        assert offered
        assert any("contains pickled Python objects" in e and "'Trust' in the dashboard" in e for e in errors)
    assert at.session_state[WORKSPACE].session.model.spec == "demo:cnn"  # the session keeps its model


def test_the_overview_lists_the_pages_in_the_sidebars_order_and_colours_no_zero_change():
    """Regression (issue 31): at the baseline the Overview showed '+0.0 pt' as a green rise and
    '+0.000' loss as a red one, and its numbered list missed Export and had another order."""
    at = open_page("app.py")
    colour = at.metric[0].proto.DESCRIPTOR.fields_by_name["color"].enum_type.values_by_name["GRAY"].number
    for label in ("Accuracy", "Loss"):
        shown = next(m for m in at.metric if m.label == label)
        assert not any(c in "123456789" for c in shown.delta) and shown.proto.color == colour, label
    listed = re.findall(r"^\d+\. \*\*(.+?)\*\*", at.markdown[0].value, flags=re.MULTILINE)
    assert listed == [p.label for p in NAVIGATION[1:]] and "Export" in listed
    at.switch_page("pages/3_Prune.py").run()
    at.slider(key="prune_layer_conv2").set_value(95).run()
    accuracy = next(m for m in at.metric if m.label == "Accuracy")
    assert accuracy.delta.startswith("-") and accuracy.proto.color != colour  # a real change is coloured


def test_a_plan_over_the_job_memory_budget_is_refused_and_the_session_keeps_its_masks(monkeypatch):
    """Issue 34: structured planning runs in the server's process; past the budget it stops with one
    line on the page, and the session keeps the Prune page's masks."""
    at = open_page("app.py")
    at.switch_page("pages/3_Prune.py").run()
    at.slider(key="prune_layer_fc1").set_value(90).run()
    monkeypatch.setenv("PRUNEVIZ_JOB_MEMORY_MB", "0.1")  # demo:cnn's copies alone need more
    at.switch_page("pages/4_Structured.py").run()
    at.slider(key="st_layer_conv2").set_value(50).run()
    assert not at.exception
    assert any("over the job memory budget of 0.1 MiB (PRUNEVIZ_JOB_MEMORY_MB)" in e.value for e in at.error)
    session = at.session_state[WORKSPACE].session
    assert session.removal is None and session.layer_sparsity()["fc1"] == pytest.approx(0.9, abs=1e-3)
    monkeypatch.delenv("PRUNEVIZ_JOB_MEMORY_MB")
    at.slider(key="st_layer_conv2").set_value(40).run()  # within the budget again: planned and previewed
    assert not at.error and at.session_state[WORKSPACE].session.removal is not None
