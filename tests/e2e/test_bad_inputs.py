"""Every row of tests/bad_inputs.py through the CLI (one line on stderr, exit 2) and the dashboard
(a readable message, the session keeps its model and masks)."""

import pytest
from streamlit.testing.v1 import AppTest

from tests.bad_inputs import BAD_FILES, BAD_RECIPES, MARKER, image_folder_with_junk
from tests.e2e.test_cli import run
from tests.e2e.test_pages import PAGES, ROOT, WORKSPACE


def assert_one_line_error(proc, message: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pruneviz: error:") and message in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("row", BAD_FILES, ids=lambda r: r.name)
def test_bad_model_files_in_the_cli(tmp_path, row):
    path = row.make(tmp_path)
    extra = ["--arch", row.arch] if row.arch else []
    assert_one_line_error(run("evaluate", f"file:{path}", *extra, ok=False), row.message)
    assert not (tmp_path / MARKER).exists()  # nothing was unpickled


@pytest.mark.parametrize("row", [r for r in BAD_FILES if r.name != "missing file"], ids=lambda r: r.name)
def test_bad_model_files_in_the_dashboard(tmp_path, row):
    at = AppTest.from_file(str(ROOT / "pages/1_Model_and_data.py"), default_timeout=120).run()
    session = at.session_state[WORKSPACE].session
    at.radio(key="md_source").set_value("Upload a file").run()
    at.file_uploader(key="md_upload").upload(
        row.name.replace(" ", "_") + ".pt", row.make(tmp_path).read_bytes()
    )
    if row.arch:
        at.text_input(key="md_arch").input(row.arch)
    at.button(key="md_load").click().run()
    assert not at.exception
    assert any(row.message in e.value for e in at.error), [e.value for e in at.error]
    assert at.session_state[WORKSPACE].session is session  # the session and its masks are kept
    assert not (tmp_path / MARKER).exists()


def test_data_that_does_not_fit_and_image_folders(tmp_path):
    assert_one_line_error(run("evaluate", "demo:cnn", "--data", "synthetic:3x8x8:4", ok=False), "channel")
    folder = image_folder_with_junk(tmp_path)
    proc = run("evaluate", "torchvision:squeezenet1_0", "--data", f"folder:{folder}", ok=False)
    assert_one_line_error(proc, "cannot read image folder")  # the empty class folder
    (folder / "empty" / "c.jpg").parent.rmdir()
    ok = run("evaluate", "torchvision:squeezenet1_0", "--data", f"folder:{folder}", "--json")
    assert (
        '"samples": 2' in ok.stdout
    )  # mixed sizes and grayscale are resized and made RGB; notes.txt skipped


def load_in_dashboard(data: str, arch: str | None = None) -> tuple[AppTest, object]:
    """Model & data page: pick demo:cnn (or a random torchvision ``arch``) with ``data``, press Load;
    returns the page and the session it had before."""
    at = AppTest.from_file(str(ROOT / "pages/1_Model_and_data.py"), default_timeout=120).run()
    session = at.session_state[WORKSPACE].session
    if arch:
        at.radio(key="md_source").set_value("torchvision").run()
        at.selectbox(key="md_tv_arch").set_value(arch)
    at.text_input(key="md_data").input(data)
    at.button(key="md_load").click().run()
    assert not at.exception
    return at, session


def test_data_that_does_not_fit_and_image_folders_in_the_dashboard(tmp_path, monkeypatch):
    at, session = load_in_dashboard("synthetic:3x8x8:4")
    assert any("channel" in e.value for e in at.error) and at.session_state[WORKSPACE].session is session
    monkeypatch.setenv("PRUNEVIZ_DATA_ROOT", str(tmp_path))  # the folder the server shares
    folder = image_folder_with_junk(tmp_path)
    at, session = load_in_dashboard(f"folder:{folder}", arch="squeezenet1_0")
    assert any("cannot read image folder" in e.value for e in at.error)
    assert at.session_state[WORKSPACE].session is session
    (folder / "empty").rmdir()
    at, _ = load_in_dashboard(f"folder:{folder}", arch="squeezenet1_0")
    assert len(at.session_state[WORKSPACE].session.data) == 2  # resized, made RGB, notes.txt skipped
    at, session = load_in_dashboard(f"folder:{folder}/../..", arch="squeezenet1_0")
    assert any("outside the folders this server shares" in e.value for e in at.error)
    assert at.session_state[WORKSPACE].session is session


def test_a_model_without_prunable_layers(tmp_path, monkeypatch):
    (tmp_path / "flat_no_layers.py").write_text(
        "import torch\n"
        "class Avg(torch.nn.Module):\n"
        "    def forward(self, x):\n"
        "        return x.flatten(1)[:, :10]\n"
        "def build():\n"
        "    return Avg(), (torch.rand(8, 1, 8, 8), torch.arange(8) % 10)\n"
    )
    proc = run(
        "sensitivity", "python:flat_no_layers:build", "--out", str(tmp_path / "s.csv"), cwd=tmp_path, ok=False
    )
    assert_one_line_error(proc, "no prunable layers")
    monkeypatch.setenv("PRUNEVIZ_ALLOW_PYTHON", "1")
    monkeypatch.syspath_prepend(str(tmp_path))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    at.switch_page("pages/1_Model_and_data.py").run()
    at.radio(key="md_source").set_value("Python factory").run()
    at.text_input(key="md_python").input("flat_no_layers:build")
    at.button(key="md_load").click().run()
    for page in PAGES:
        at.switch_page(page).run()
        assert not at.exception and not at.error, page
    for page in (f"pages/{p}.py" for p in ("2_Importance", "3_Prune", "4_Structured", "5_Sensitivity")):
        at.switch_page(page).run()
        assert any("no prunable layers" in i.value for i in at.info), page


@pytest.mark.parametrize(("name", "text", "message"), BAD_RECIPES, ids=[r[0] for r in BAD_RECIPES])
def test_bad_recipes_in_the_cli_and_the_dashboard(tmp_path, name, text, message):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(text)
    assert_one_line_error(run("evaluate", "demo:cnn", "--recipe", str(recipe), ok=False), message)
    at = AppTest.from_file(str(ROOT / "pages/3_Prune.py"), default_timeout=120).run()
    at.slider(key="prune_layer_fc1").set_value(40).run()
    at.file_uploader(key="prune_recipe_upload").upload("r.yaml", text.encode()).run()
    assert any(message in e.value for e in at.error)
    assert at.slider(key="prune_layer_fc1").value == 40
    assert at.session_state[WORKSPACE].session.layer_sparsity()["fc1"] > 0.39
