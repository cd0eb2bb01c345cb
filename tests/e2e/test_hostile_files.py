"""The hostile-file table (tests/bad_inputs.py) against the command line and against the dashboard of a
server locked down as `make serve` locks it: every crafted file refused in one readable line, nothing it
names imported, the session's model and masks unchanged, and another session on the same server
unaffected; one of them also uploaded through a real Chromium to a server started with `make serve`."""

import sys

import pytest
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.util import patch_config_options

from pruneviz.workflows.session import LayerPlan
from tests.bad_inputs import HOSTILE_FILES, HOSTILE_RECIPES, SHARED, ZEN, hf_directory_naming
from tests.e2e.browser import ROOT, chromium_page, dashboard_process, idle, open_page
from tests.e2e.test_bad_inputs import assert_one_line_error
from tests.e2e.test_cli import run
from tests.e2e.test_pages import WORKSPACE

ROOM = {"server.address": "0.0.0.0"}  # where `make serve` listens: the room's policy applies


def assert_nothing_ran(output: str = "") -> None:
    assert "this" not in sys.modules and ZEN not in output


@pytest.mark.parametrize("row", HOSTILE_FILES, ids=lambda r: r.name)
def test_hostile_files_in_the_cli(tmp_path, row):
    proc = run("evaluate", f"file:{row.make(tmp_path)}", ok=False)
    expected = row.cli_message()
    if expected is None:  # the command line is the user's own process: no folder is off limits
        assert proc.returncode == 0, proc.stderr
    else:
        assert_one_line_error(proc, expected)
    assert ZEN not in proc.stdout + proc.stderr


def test_python_specs_in_files_run_only_when_the_user_trusts_the_file(tmp_path):
    path = HOSTILE_FILES[0].make(tmp_path)
    assert_one_line_error(
        run("evaluate", f"file:{path}", ok=False), "pass --trust-pickle if you trust the file"
    )
    trusted = run("evaluate", f"file:{path}", "--trust-pickle", ok=False)
    assert ZEN in trusted.stdout  # the user said so: `this` was imported (and is no model)


class Room:
    """Two sessions of one locked-down server: the attacker's (with masks set) and a bystander's."""

    def __init__(self) -> None:
        self.at = AppTest.from_file(str(ROOT / "pages/1_Model_and_data.py"), default_timeout=120).run()
        self.other = AppTest.from_file(str(ROOT / "pages/3_Prune.py"), default_timeout=120).run()
        self.other.slider(key="prune_layer_fc1").set_value(70).run()
        self.session = self.at.session_state[WORKSPACE].session
        self.session.prune_layer("conv2", LayerPlan(0.4))
        self.masks = {n: m.clone() for n, m in self.session.masks.items()}
        self.other_report = self.other.session_state[WORKSPACE].session.report()

    def assert_unchanged(self) -> None:
        ws = self.at.session_state[WORKSPACE]
        assert ws.session is self.session and ws.session.model.spec == "demo:cnn"
        assert self.session.masks.keys() == self.masks.keys()
        assert all(bool((self.session.masks[n] == m).all()) for n, m in self.masks.items())
        other = self.other.session_state[WORKSPACE].session
        assert other.layer_sparsity()["fc1"] > 0.69 and other.report() == self.other_report

    def errors(self) -> list[str]:
        return [e.value for e in self.at.error]


@pytest.fixture
def room(tmp_path, monkeypatch):
    (tmp_path / SHARED).mkdir()
    monkeypatch.setenv("PRUNEVIZ_DATA_ROOT", str(tmp_path / SHARED))
    with patch_config_options(ROOM):
        yield Room()


@pytest.mark.parametrize("row", HOSTILE_FILES, ids=lambda r: r.name)
def test_hostile_files_uploaded_to_a_rooms_dashboard(tmp_path, room, row):
    path = row.make(tmp_path)
    room.at.radio(key="md_source").set_value("Upload a file").run()
    room.at.file_uploader(key="md_upload").upload(path.name, path.read_bytes())
    room.at.button(key="md_load").click().run()
    assert not room.at.exception
    errors = room.errors()
    assert len(errors) == 1 and row.message in errors[0] and "\n" not in errors[0], errors
    room.assert_unchanged()
    assert_nothing_ran()


def test_an_hf_directory_naming_python_code_in_a_rooms_dashboard_and_the_cli(tmp_path, room):
    folder = hf_directory_naming(tmp_path)
    room.at.radio(key="md_source").set_value("Hugging Face").run()
    room.at.text_input(key="md_hf").input(str(folder))
    room.at.button(key="md_load").click().run()
    assert any("would run Python code" in e for e in room.errors()), room.errors()
    room.assert_unchanged()
    assert_nothing_ran()
    proc = run("evaluate", f"hf:{folder}", ok=False)
    assert_one_line_error(proc, "gpt names 'python:this:s': it would run Python code")


@pytest.mark.parametrize(
    ("name", "text", "message", "alone"), HOSTILE_RECIPES, ids=[r[0] for r in HOSTILE_RECIPES]
)
def test_hostile_recipes_in_a_rooms_dashboard_and_the_cli(tmp_path, name, text, message, alone):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(text)
    assert_one_line_error(run("evaluate", "demo:cnn", "--recipe", str(recipe), ok=False), message)
    proc = run("evaluate", "--recipe", str(recipe), ok=False)
    if alone is None:
        assert proc.returncode == 0, proc.stderr
    else:
        assert_one_line_error(proc, alone)
    assert ZEN not in proc.stdout + proc.stderr
    with patch_config_options(ROOM):
        at = AppTest.from_file(str(ROOT / "pages/3_Prune.py"), default_timeout=120).run()
        at.slider(key="prune_layer_fc1").set_value(40).run()
        at.file_uploader(key="prune_recipe_upload").upload("r.yaml", text.encode()).run()
    assert any(message in e.value for e in at.error), [e.value for e in at.error]
    assert at.slider(key="prune_layer_fc1").value == 40
    assert at.session_state[WORKSPACE].session.layer_sparsity()["fc1"] > 0.39
    assert_nothing_ran()


@pytest.mark.browser
def test_a_hostile_checkpoint_uploaded_through_chromium_to_make_serve(tmp_path):
    path = HOSTILE_FILES[0].make(tmp_path)
    with dashboard_process(make_target="serve") as server, chromium_page(1400, 1200) as page:
        open_page(page, server.url, "Model_and_data", "Model source")
        page.get_by_text("Upload a file", exact=True).click()
        idle(page)
        page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(str(path))
        page.get_by_text(path.name).first.wait_for(timeout=60_000)
        page.get_by_role("button", name="Load", exact=True).click()
        alert = page.locator('[data-testid="stAlertContentError"]').filter(has_text="would run Python code")
        alert.first.wait_for(timeout=120_000)
        (ROOT / "tests" / "artifacts").mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ROOT / "tests" / "artifacts" / "Hostile_upload.png"), full_page=True)
        text = alert.first.inner_text()
        log = server.output()
    assert "python:this:s" in text and "PRUNEVIZ_ALLOW_PYTHON=1" in text
    assert ZEN not in log and "Traceback" not in log
