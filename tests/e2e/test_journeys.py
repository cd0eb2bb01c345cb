"""The journeys of tests/e2e/journeys.py, each in a fresh headless Chromium on one dashboard server:
multi-page paths a workshop walks, each ending with an export that ``pruneviz evaluate`` must measure as
the last page showed it. A screenshot of each journey's last page lands in tests/artifacts/."""

import pytest
from playwright.sync_api import sync_playwright

from pruneviz.io.data import load_data
from pruneviz.io.models import load_model
from pruneviz.workflows.exercises import SENSITIVITY_SPARSITY
from pruneviz.workflows.sensitivity import layer_sensitivity, most_sensitive
from pruneviz.workflows.session import PruneSession
from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, ROOT, dashboard_process
from tests.e2e.journeys import JOURNEYS, Walk, export_and_reload

pytestmark = pytest.mark.browser
ARTIFACTS = ROOT / "tests" / "artifacts"


@pytest.fixture(scope="module")
def server(tiny_llama, tmp_path_factory):
    """One dashboard for every journey, sharing this checkout and the saved Hugging Face directory, with
    a room of its own."""
    room = tmp_path_factory.mktemp("room") / "room.sqlite"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PRUNEVIZ_DATA_ROOT", f"{ROOT}:{tmp_path_factory.getbasetemp()}")
        env.setenv("PRUNEVIZ_ROOM_DB", str(room))
        env.delenv("PRUNEVIZ_INSTRUCTOR_TOKEN", raising=False)
        with dashboard_process() as running:
            running.room = room
            yield running


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def most_sensitive_layer() -> str:
    """The answer to the Learn page's first exercise, found by the engine the exercise checks with."""
    model = load_model("demo:cnn")
    session = PruneSession(model, load_data(None, model))
    return most_sensitive(layer_sensitivity(session, (SENSITIVITY_SPARSITY,)), SENSITIVITY_SPARSITY)


@pytest.mark.parametrize("journey", JOURNEYS, ids=lambda j: j.name)
def test_a_journey_exports_what_its_last_page_showed(
    journey, server, browser, tiny_llama, most_sensitive_layer, tmp_path
):
    contexts = [browser.new_context(viewport={"width": 1400, "height": 1400}, accept_downloads=True)
                for _ in range(2)]  # fmt: skip
    try:
        walk = Walk(server.url, [c.new_page() for c in contexts], tmp_path, tiny_llama)
        walk.saved["most sensitive"] = most_sensitive_layer
        walk.saved["room"] = server.room
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        try:
            for step in journey.steps:
                step(walk)
                assert walk.page.locator('[data-testid="stException"]').count() == 0, step.__name__
            export_and_reload(walk, journey, ARTIFACTS / f"journey_{journey.name}.png")
        except BaseException:  # where it stopped, for a person to look at
            walk.page.screenshot(path=str(ARTIFACTS / f"journey_{journey.name}_failed.png"), full_page=True)
            raise
    finally:
        for context in contexts:
            context.close()
