"""Which page owns which model, through the pages (AppTest): a page that shows the model another page
made says so and gives the way back, and the Export page writes the model the last page showed.

Regressions of issue 31: opening the Structured page replaced the Prune page's masks with the dense
model (so Export wrote a dense file and called it verified), the Recovery page was a dead end while a
preview showed, and the Export page rebuilt the smaller model without the fine-tune the Structured page
had given it.
"""

from pathlib import Path

import torch

from pruneviz.core.humanize import count, percent
from pruneviz.workflows.apply import verify_export
from tests.e2e.test_pages import WORKSPACE, metric, open_page


def _pruned_on_the_prune_page(at, fc1: int = 90, conv2: int = 60):
    at.switch_page("pages/3_Prune.py").run()
    at.slider(key="prune_layer_fc1").set_value(fc1).run()
    at.slider(key="prune_layer_conv2").set_value(conv2).run()
    return at.session_state[WORKSPACE].session.report()


def _export(at, tmp_path: Path, fmt: str = "state_dict"):
    """Export on the Export page; the file written, and the page's own verification of it."""
    at.switch_page("pages/8_Export.py").run()
    at.selectbox(key="ex_format").set_value(fmt)
    at.button(key="ex_run").click().run()
    assert not at.exception and at.success, [e.value for e in at.error]
    exported = at.session_state[WORKSPACE].exported
    path = tmp_path / exported.name
    path.write_bytes(exported.data)
    return path, exported.check


def test_opening_the_structured_page_keeps_the_prune_pages_masks_and_export_writes_them(tmp_path):
    at = open_page("app.py")
    pruned = _pruned_on_the_prune_page(at)
    at.switch_page("pages/4_Structured.py").run()  # every control at 0
    assert not at.exception
    at.switch_page("pages/8_Export.py").run()
    caption = next(c.value for c in at.caption if "what Export writes" in c.value)
    assert "Holds `demo:cnn`: the Prune page's masks" in caption and percent(pruned.score) in caption
    assert count(pruned.params_nonzero) in caption
    path, check = _export(at, tmp_path)
    assert check.ok and check.expected == pruned.score
    state = torch.load(path, weights_only=True)
    weights = state.get("state_dict", state)
    zeros = int((weights["fc1.weight"] == 0).sum())
    assert zeros == 29491  # floor(0.9 * 32,768): the masks, not the dense model
    session = at.session_state[WORKSPACE].session
    assert verify_export(session, path, "state_dict", pruned.score).ok


def test_a_preview_says_what_it_set_aside_and_one_button_brings_the_masks_back():
    at = open_page("app.py")
    pruned = _pruned_on_the_prune_page(at)
    at.switch_page("pages/4_Structured.py").run()
    at.slider(key="st_layer_conv1").set_value(50).run()
    session = at.session_state[WORKSPACE].session
    assert session.removal is not None and session.report().score != pruned.score
    assert any("set aside the Prune page's masks on 2 layer(s)" in i.value for i in at.info)
    at.switch_page("pages/6_Recovery.py").run()  # not a dead end: the way back is on the page
    assert any("Structured page's preview" in i.value for i in at.info)
    at.button(key="ft_back_to_masks").click().run()
    assert session.removal is None and session.report().score == pruned.score
    assert any(f.key == "ft_form" for f in at.get("form"))  # the fine-tune controls are there again
    at.switch_page("pages/4_Structured.py").run()  # its controls went back to nothing: no preview
    assert at.slider(key="st_layer_conv1").value == 0 and session.removal is None
    assert metric(at, "Accuracy (Prune page's masks)") == percent(pruned.score)


def test_export_writes_the_smaller_model_the_structured_page_fine_tuned(tmp_path):
    at = open_page("app.py")
    at.switch_page("pages/4_Structured.py").run()
    at.slider(key="st_layer_conv2").set_value(50).run()
    at.button(key="st_apply").click().run()
    ws = at.session_state[WORKSPACE]
    at.number_input(key="st_recover_steps").set_value(30)
    at.button(key="st_recover_start").click().run()
    assert ws.jobs["recover"].wait(120)
    at.run()
    tuned = ws.shrunk.pruned.score
    assert ws.shrunk_undo is not None and tuned != ws.shrunk_undo.pruned.score
    assert metric(at, "Accuracy after fine-tuning") == percent(tuned)
    at.switch_page("pages/8_Export.py").run()
    caption = next(c.value for c in at.caption if "what Export writes" in c.value)
    assert "fine-tuned under Recover" in caption and percent(tuned) in caption
    path, check = _export(at, tmp_path)
    assert check.ok and check.expected == tuned
    assert verify_export(ws.session, path, "state_dict", tuned).ok
