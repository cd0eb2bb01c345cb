"""Every dashboard page with the shipped language model (demo:gpt), through AppTest."""

import json

import pytest
from streamlit.proto.Metric_pb2 import Metric as MetricProto
from streamlit.testing.v1 import AppTest

from tests.e2e.test_pages import PAGES, ROOT, WORKSPACE, metric


def open_gpt() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300).run()
    at.switch_page("pages/1_Model_and_data.py").run()
    at.selectbox(key="md_demo").set_value("gpt")
    at.button(key="md_load").click().run()
    assert not at.error and at.session_state[WORKSPACE].session.model.spec == "demo:gpt"
    return at


@pytest.fixture(scope="module")
def gpt() -> AppTest:
    return open_gpt()


@pytest.mark.parametrize("page", PAGES)
def test_every_page_works_with_the_language_model(gpt, page):
    gpt.switch_page(page).run()
    assert not gpt.exception, gpt.exception
    assert not gpt.error, [e.value for e in gpt.error]


def test_the_metric_row_shows_perplexity_lower_is_better(gpt):
    gpt.switch_page("pages/3_Prune.py").run()
    perplexity = float(metric(gpt, "Perplexity"))
    assert 3.0 < perplexity < 4.0 and metric(gpt, "Next-token accuracy").endswith("%")
    # Regression (issue 31): alphabetical; now in block order, read row by row over three columns
    every = [s.label.removeprefix("every ") for s in gpt.slider if s.label.startswith("every ")]
    block_order = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    assert every == [t for column in range(3) for t in block_order[column::3]]
    gpt.slider(key="prune_type_up_proj").set_value(90).run()  # every block's up_proj
    session = gpt.session_state[WORKSPACE].session
    assert all(
        s == pytest.approx(0.9, abs=1e-3)
        for n, s in session.layer_sparsity().items()
        if n.endswith("up_proj")
    )
    assert float(metric(gpt, "Perplexity")) > perplexity
    shown = next(d for d in gpt.get("metric") if d.label == "Perplexity").proto
    assert (shown.color, shown.direction) == (MetricProto.RED, MetricProto.UP)  # worse: red, arrow up
    gpt.slider(key="prune_type_up_proj").set_value(0).run()


def test_sparsegpt_live_and_sequential_say_which_numbers_they_are():
    at = open_gpt()
    at.switch_page("pages/3_Prune.py").run()
    at.selectbox(key="prune_criterion").set_value("sparsegpt").run()
    at.slider(key="prune_layer_model.layers.3.mlp.down_proj").set_value(70).run()
    session = at.session_state[WORKSPACE].session
    assert set(session.solved.values()) == {"one layer, against the dense model's inputs"}
    at.button(key="prune_sequential").click().run()
    assert set(session.solved.values()) == {"sequential"}
    assert any("Now shown: sequential." in c.value for c in at.caption)


def test_generate_shows_dense_and_pruned_side_by_side():
    at = open_gpt()
    at.switch_page("pages/3_Prune.py").run()
    at.slider(key="prune_global").set_value(90).run()
    at.switch_page("pages/10_Generate.py").run()
    at.button(key="gen_go").click().run()
    dense, pruned = (c.value for c in at.code)
    assert (
        dense.startswith("The for statement") and pruned.startswith("The for statement") and dense != pruned
    )


def test_importance_shows_the_wanda_view_and_outlier_ratios():
    at = open_gpt()
    at.switch_page("pages/2_Importance.py").run()
    job = at.session_state[WORKSPACE].jobs.get("importance")
    assert job is not None and job.wait(180) and job.error is None
    at.run()
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]
    assert any(t.endswith("|w|·‖x‖") for t in titles) and any(t.startswith("Outlier ratio") for t in titles)


def test_the_lottery_ticket_page_says_it_is_for_classifiers(gpt):
    gpt.switch_page("pages/7_Lottery_ticket.py").run()
    assert any("for language models" in i.value for i in gpt.info)


def test_structured_previews_builds_and_recovers_a_smaller_transformer():
    at = open_gpt()
    at.switch_page("pages/4_Structured.py").run()
    ws = at.session_state[WORKSPACE]
    dense = float(metric(at, "Perplexity (dense)"))  # nothing chosen: the session's model as it is
    at.slider(key="st_lm_channels").set_value(50).run()
    at.select_slider(key="st_lm_heads").set_value(0.5).run()
    at.checkbox(key="st_lm_drop_2").check().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    preview = float(metric(at, "Perplexity (preview)"))
    assert preview > dense and ws.structure.drop_blocks == (2,)
    at.button(key="st_apply").click().run()
    assert "as predicted" in at.success[0].value and "3 blocks, 2 heads, MLP width 256" in at.success[0].value
    assert ws.shrunk.pruned.score == pytest.approx(preview, rel=1e-4)  # the built model scores as previewed
    at.number_input(key="st_recover_steps").set_value(20)
    at.button(key="st_recover_start").click().run()
    assert ws.jobs["recover"].wait(300)
    at.run()
    assert float(metric(at, "Perplexity after fine-tuning")) < preview
    at.switch_page("pages/6_Recovery.py").run()
    assert any("under Recover on the Structured page" in i.value for i in at.info)
    assert any(b.key == "ft_back_to_masks" for b in at.button)  # and the way back to masks


def test_export_writes_compressed_tensors_and_offers_the_llm_compressor_recipe():
    at = open_gpt()
    at.switch_page("pages/3_Prune.py").run()
    at.slider(key="prune_global").set_value(50).run()
    at.selectbox(key="prune_weights").set_value("int8").run()
    at.switch_page("pages/8_Export.py").run()
    assert any("SparseGPTModifier" in c.value and "mask_structure: 0:0" in c.value for c in at.code)
    chosen = at.selectbox(key="ex_format")
    assert chosen.value == "compressed-tensors-dense"  # the serving export is the default
    assert "compressed-tensors (pruneviz only)" in chosen.options
    assert "compressed-tensors-dense (serving)" in chosen.options
    assert any(c.value.startswith("Read by transformers and vLLM") for c in at.caption)
    chosen.set_value("compressed-tensors").run()
    assert any("pruneviz only: vLLM removed its sparse kernels" in c.value for c in at.caption)
    at.button(key="ex_run").click().run()
    assert not at.exception and "verified" in at.success[0].value, [e.value for e in at.error]
    assert at.session_state[WORKSPACE].exported.name == "pruned.zip"  # the directory, zipped
