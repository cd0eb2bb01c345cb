"""Every dashboard page with the shipped vision transformer (demo:vit: torchvision's ViT), through AppTest."""

import pytest
import torch
from streamlit.testing.v1 import AppTest

from tests.e2e.test_pages import PAGES, ROOT, WORKSPACE, metric


def open_vit() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300).run()
    at.switch_page("pages/1_Model_and_data.py").run()
    at.selectbox(key="md_demo").set_value("vit")
    at.button(key="md_load").click().run()
    assert not at.error and at.session_state[WORKSPACE].session.model.spec == "demo:vit"
    return at


@pytest.fixture(scope="module")
def vit() -> AppTest:
    return open_vit()


@pytest.mark.parametrize("page", PAGES)
def test_every_page_works_with_the_vision_transformer(vit, page):
    vit.switch_page(page).run()
    assert not vit.exception, vit.exception
    assert not vit.error, [e.value for e in vit.error]


def test_a_slider_re_evaluates_the_vision_transformer_live(vit):
    vit.switch_page("pages/3_Prune.py").run()
    accuracy = metric(vit, "Accuracy")
    assert accuracy == "96.1%"
    vit.slider(key="prune_layer_encoder.layers.encoder_layer_0.mlp.0").set_value(95).run()
    session = vit.session_state[WORKSPACE].session
    assert session.evaluator.incremental  # the fx evaluator traced torchvision's ViT
    with torch.no_grad():  # what a plain forward of the pruned model gives
        full = (session.working(session.data.x).argmax(1) == session.data.y).float().mean().item()
    assert metric(vit, "Accuracy") == f"{full:.1%}" != accuracy
    vit.slider(key="prune_layer_encoder.layers.encoder_layer_0.mlp.0").set_value(0).run()


def test_the_importance_page_draws_what_the_vit_looks_at(vit):
    vit.switch_page("pages/2_Importance.py").run()
    assert any("Integrated Gradients" in c.proto.spec for c in vit.get("plotly_chart"))


def test_structured_removes_mlp_channels_and_says_why_heads_stay():
    at = open_vit()
    at.switch_page("pages/4_Structured.py").run()
    assert any("nn.MultiheadAttention" in c.value for c in at.caption)  # the heads' reason
    at.slider(key="st_vit_channels").set_value(50).run()
    session = at.session_state[WORKSPACE].session
    assert session.removal is not None and session.removal.describe()["structure"]["channels"] == {
        i: 0.5 for i in range(4)
    }
    previewed = session.report().score
    at.button(key="st_apply").click().run()
    assert not at.exception and not at.error
    built = at.session_state[WORKSPACE].shrunk
    assert built.as_predicted and built.shapes["encoder.layers.encoder_layer_0.mlp.0"] == (
        [128, 64],
        [64, 64],
    )
    assert built.pruned.score == pytest.approx(previewed)  # the preview was the smaller model's figure
