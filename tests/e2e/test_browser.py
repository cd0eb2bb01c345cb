"""The dashboard in a real headless Chromium: what only a browser shows.

Screenshots of every page land in tests/artifacts/ (git-ignored) for a human to look at.
"""

import time
import tomllib
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import sync_playwright

from pruneviz.workflows.recipe import apply_recipe, parse_recipe_text
from pruneviz.workflows.session import open_session
from tests.e2e.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    ROOT,
    chromium_page,
    dashboard,
    dashboard_process,
    idle,
    load_demo,
    metric_value,
    open_page,
    slider_thumb,
    wait_until_changed,
)

pytestmark = pytest.mark.browser
ARTIFACTS = ROOT / "tests" / "artifacts"
PAGES = [
    ("", "Overview"),
    ("Model_and_data", "prunable layers"),
    ("Importance", "Per-filter importance"),
    ("Prune", "Per-layer sparsity"),
    ("Structured", "What shrinks together"),
    ("Sensitivity", "Run sweep"),
    ("Recovery", "Nothing is pruned yet"),
    ("Lottery_ticket", "Find a ticket"),
    ("Export", "torch.nn.utils.prune snippet"),
    ("Learn", "Exercises"),
    ("Room", "Your nickname in the room"),
]


@pytest.fixture(scope="module")
def server():
    with dashboard() as url:
        yield url


@pytest.fixture
def page():
    with chromium_page(1400, 1800) as p:
        yield p


def test_every_page_renders_without_error(server, page):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for path, ready in PAGES:
        open_page(page, server, path, ready)
        assert page.locator('[data-testid="stException"]').count() == 0, path
        page.wait_for_timeout(2000)  # let canvases (tables, charts) finish drawing for the screenshot
        page.screenshot(path=str(ARTIFACTS / f"{path or 'Overview'}.png"), full_page=True)
        assert Path(ARTIFACTS / f"{path or 'Overview'}.png").stat().st_size > 10_000


def test_moving_a_slider_updates_accuracy_and_parameters(server, page):
    open_page(page, server, "Prune", "Per-layer sparsity")
    accuracy, params = metric_value(page, "Accuracy"), metric_value(page, "Non-zero params")
    assert (accuracy, params) == ("98.3%", "38.3 k")
    thumb = slider_thumb(page, "fc1")
    thumb.focus()
    page.keyboard.press("End")  # fc1 to 99%
    params_after = wait_until_changed(page, "Non-zero params", params)
    assert params_after == "5.8 k"  # 38,282 - floor(0.99 * 32,768) = 5,842
    assert thumb.input_value() == "99"
    accuracy_fc1 = metric_value(page, "Accuracy")
    slider_thumb(page, "conv2").focus()
    page.keyboard.press("End")  # conv2 to 99% as well
    assert wait_until_changed(page, "Non-zero params", params_after) == "1.3 k"  # 5,842 - 4,561
    assert float(metric_value(page, "Accuracy").rstrip("%")) < float(accuracy_fc1.rstrip("%"))
    page.screenshot(path=str(ARTIFACTS / "Prune_after_sliders.png"), full_page=True)


def test_clicking_a_layer_bar_selects_it(server, page):
    open_page(page, server, "Importance", "Per-filter importance")
    layer = page.locator('[data-testid="stSelectbox"]').filter(has_text="Layer").first
    assert layer.locator("input").input_value() == "conv1"  # the first layer, before the click
    assert page.get_by_text("fc1: weight magnitude").count() == 0
    chart = page.locator('[data-testid="stPlotlyChart"]').first
    box = chart.locator("g.trace.bars path").nth(2).bounding_box()  # the third layer: fc1
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)  # through plotly's drag layer
    page.get_by_text("fc1: weight magnitude").wait_for(timeout=30_000)
    idle(page)
    assert layer.locator("input").input_value() == "fc1"  # the selector follows the click


def test_the_upload_limit_is_configured_and_stated_in_the_docs():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    limit = config["server"]["maxUploadSize"]
    assert f"Uploads are limited to {limit} MB" in (ROOT / "docs" / "dashboard" / "index.md").read_text()


def test_an_upload_over_the_limit_is_refused_and_the_session_keeps_its_model(page):
    # The same check Streamlit makes at the configured 200 MB, at 1 MB so the test file stays small.
    with dashboard(("--server.maxUploadSize", "1")) as url:
        open_page(page, url, "Prune", "Per-layer sparsity")
        slider_thumb(page, "fc1").focus()
        page.keyboard.press("End")
        wait_until_changed(page, "Non-zero params", "38.3 k")
        page.get_by_role("link", name="Model & data").click()
        page.get_by_text("Upload a file").click()
        page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(
            files=[{"name": "big.pt", "mimeType": "application/octet-stream", "buffer": bytes(2 * 2**20)}]
        )
        page.get_by_text("must be 1.0MB or smaller").wait_for(timeout=30_000)
        page.get_by_role("link", name="Prune").click()
        page.get_by_text("Per-layer sparsity").first.wait_for(timeout=60_000)
        assert metric_value(page, "Non-zero params") == "5.8 k"  # fc1 still at 99%: nothing lost
        assert page.locator('[data-testid="stException"]').count() == 0


def test_a_small_room_of_browsers_each_sees_the_numbers_of_its_own_sliders():
    # benchmarks/workshop_load.py, short: three sessions moving sliders at once for ten seconds.
    from benchmarks.workshop_load import run

    assert run(sessions=3, seconds=10) == []


def test_a_recipe_saved_from_the_sidebar_survives_a_reload(server, page):
    open_page(page, server, "Prune", "Per-layer sparsity")
    slider_thumb(page, "conv2").focus()
    page.keyboard.press("PageUp")  # +10%
    wait_until_changed(page, "Non-zero params", "38.3 k")
    with page.expect_download(timeout=30_000) as download:
        page.get_by_role("button", name="Save session as recipe").click()
    saved = Path(download.value.path()).read_text()
    recipe = parse_recipe_text(saved)
    assert recipe.model == "demo:cnn" and recipe.layers["conv2"].sparsity == 0.1
    assert recipe.layers["fc1"].sparsity == 0.0
    params = metric_value(page, "Non-zero params")
    page.reload()  # a new session: nothing comes back by surprise...
    open_page(page, server, "Prune", "Per-layer sparsity")
    assert metric_value(page, "Non-zero params") == "38.3 k"
    page.get_by_text("Recipe: save, load, compare").click()  # ...and what was saved loads back
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(
        files=[{"name": "recipe.yaml", "mimeType": "application/yaml", "buffer": saved.encode()}]
    )
    assert wait_until_changed(page, "Non-zero params", "38.3 k") == params
    assert slider_thumb(page, "conv2").input_value() == "10"


def test_the_prune_pages_recipe_download_with_two_four_applies(server, page):
    """Regression (issue 12): with 2:4 selected, the downloaded recipe gave conv1 (one input channel,
    its slider disabled but not at 0) granularity 2:4, so `pruneviz apply` failed on it."""
    open_page(page, server, "Prune", "Per-layer sparsity")
    slider_thumb(page, "conv1").focus()
    page.keyboard.press("End")  # conv1 at 99%, unstructured
    params = wait_until_changed(page, "Non-zero params", "38.3 k")
    page.locator('[data-testid="stSelectbox"]').filter(has_text="Granularity").click()
    page.get_by_role("option", name="2:4").click()
    page.get_by_text("a layer at 0% stays dense").wait_for(timeout=30_000)
    slider_thumb(page, "fc1").focus()
    page.keyboard.press("PageUp")
    wait_until_changed(page, "Non-zero params", params)
    page.get_by_text("Recipe: save, load, compare").click()
    with page.expect_download(timeout=30_000) as download:
        page.get_by_role("button", name="Download this configuration as a recipe").click()
    recipe = parse_recipe_text(Path(download.value.path()).read_text())
    assert recipe.layers["conv1"].dense and str(recipe.layers["fc1"].granularity) == "2:4"
    session = open_session("demo:cnn", device="cpu")
    apply_recipe(session, recipe)
    assert session.layer_sparsity()["conv1"] == 0.0 and session.layer_sparsity()["fc1"] == 0.5


def test_a_language_models_slider_moves_its_perplexity(server, page):
    page.set_viewport_size({"width": 1400, "height": 900})  # a laptop: block 3's sliders are below the fold
    open_page(page, server, "Model_and_data", "prunable layers")
    load_demo(page, "gpt")
    page.get_by_role("link", name="Prune").click()  # the same session: a typed URL would start a new one
    page.get_by_text("block 3", exact=True).click()
    dense = metric_value(page, "Perplexity")
    assert 3.0 < float(dense) < 4.0
    slider_thumb(page, "model.layers.3.mlp.down_proj").focus()
    page.keyboard.press("End")
    pruned = wait_until_changed(page, "Perplexity", dense)
    assert float(pruned) > float(dense)
    idle(page)
    # Regression (issue 31): the figures scrolled out of view while a slider far down the page moved
    box = page.locator('[data-testid="stMetric"]').filter(has_text="Perplexity").first.bounding_box()
    assert box["y"] >= 0 and box["y"] + box["height"] <= page.viewport_size["height"], box
    page.screenshot(path=str(ARTIFACTS / "Prune_gpt.png"), full_page=True)


def test_a_transformers_structured_page_drops_a_clicked_head_group_and_a_toggled_block(server, page):
    open_page(page, server, "Model_and_data", "prunable layers")
    load_demo(page, "gpt")
    page.get_by_role("link", name="Structured").click()
    page.get_by_text("Heads by").first.wait_for(timeout=120_000)
    page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=120_000)
    dense = metric_value(page, "Perplexity (dense)")  # nothing chosen yet: the model held
    heatmap = page.locator('[data-testid="stPlotlyChart"]').filter(has_text="Heads by")
    area = heatmap.locator("rect.nsewdrag").first.bounding_box()  # 4 blocks (rows) x 2 groups (columns)
    page.mouse.click(
        area["x"] + area["width"] * 0.25, area["y"] + area["height"] * 0.125
    )  # block 0, heads 0-1
    dropped = wait_until_changed(page, "Perplexity (preview)", dense)
    assert float(dropped) > float(dense)
    heatmap.get_by_text("✕").first.wait_for(timeout=30_000)  # the removed group is marked
    page.locator('[data-testid="stCheckbox"]').filter(has_text="block 1").click()  # "Blocks to drop"
    assert float(wait_until_changed(page, "Perplexity (preview)", dropped)) > float(dropped)
    page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=120_000)
    page.wait_for_timeout(1500)
    page.screenshot(path=str(ARTIFACTS / "Structured_gpt.png"), full_page=True)


def test_a_vision_transformers_structured_page_removes_mlp_channels(server, page):
    open_page(page, server, "Model_and_data", "prunable layers")
    load_demo(page, "vit")
    page.get_by_role("link", name="Structured").click()
    page.get_by_text("Heads by").first.wait_for(timeout=120_000)
    idle(page)
    dense = metric_value(page, "Accuracy (dense)")
    slider_thumb(page, "MLP channels removed in every block").focus()
    for _ in range(9):  # Page Up moves the slider by a tenth of its range: 9 points each
        page.keyboard.press("PageUp")
    previewed = wait_until_changed(page, "Accuracy (preview)", dense)
    assert previewed != dense
    page.get_by_text("attention computes the head size").first.wait_for(timeout=30_000)  # why heads stay
    idle(page)
    page.wait_for_timeout(1500)
    page.screenshot(path=str(ARTIFACTS / "Structured_vit.png"), full_page=True)


def test_the_importance_page_compares_criteria_and_draws_both_maps(server, page):
    open_page(page, server, "Importance", "Criteria compared")
    page.get_by_role("button", name="Compare").click()
    page.get_by_text("Criteria at 50% unstructured, each layer pruned alone").wait_for(timeout=120_000)
    idle(page)
    assert page.get_by_text("pruned weights shared (Jaccard)").count() >= 1
    assert page.get_by_text("Accuracy worse by (points)").count() >= 1
    chart = page.locator('[data-testid="stPlotlyChart"]').filter(has_text="pruned weights shared").first
    chart.scroll_into_view_if_needed()
    page.wait_for_timeout(1500)
    chart.screenshot(path=str(ARTIFACTS / "Importance_compare.png"))


def test_an_adaptive_sweep_draws_its_measured_points_and_says_how_many(server, page):
    open_page(page, server, "Sensitivity", "Run sweep")
    page.get_by_role("button", name="Run sweep").click()
    page.get_by_text("Adaptive sweep for a drop of 1.0 pt").wait_for(timeout=120_000)
    idle(page)
    assert page.get_by_text("markers measured, dotted lines interpolated").count() >= 1  # the chart's title
    assert page.get_by_text("points measured").count() >= 1  # the table's column
    page.wait_for_timeout(1500)
    page.screenshot(path=str(ARTIFACTS / "Sensitivity_adaptive.png"), full_page=True)


def test_the_export_pages_hardware_section_measures_this_machine(server, page):
    open_page(page, server, "Export", "Hardware: what these choices buy on this device")
    page.get_by_role("button", name="Measure on this device").click()
    page.get_by_text("Break-even sparsity, measured").wait_for(timeout=120_000)
    idle(page)
    page.get_by_text("Measured vs promised speed-up per layer").first.wait_for(timeout=30_000)  # the chart
    assert page.locator('[data-testid="stException"]').count() == 0
    chart = page.locator('[data-testid="stPlotlyChart"]').filter(has_text="Measured vs promised").first
    assert chart.locator("g.trace.bars path").count() >= 4  # a bar per prunable layer at least
    totals = page.locator('[data-testid="stDataFrame"]').first
    assert totals.bounding_box()["height"] > 60  # the totals table has rows, not just a header
    page.get_by_text("Hardware: what these choices buy on this device").scroll_into_view_if_needed()
    page.wait_for_timeout(1500)
    page.screenshot(path=str(ARTIFACTS / "Export_hardware.png"), full_page=True)


def shared_or_refused(page, server) -> None:
    """Wait for the share's confirmation; without it, fail with what the page's alerts and the server
    said (and a screenshot)."""
    try:
        page.get_by_text("Shared with the room").wait_for(timeout=30_000)
    except PlaywrightTimeout:
        page.screenshot(path=str(ARTIFACTS / "Room_share_failed.png"), full_page=True)
        alerts = page.locator('[data-testid="stAlert"], [data-testid="stException"]').all_inner_texts()
        pytest.fail(f"no confirmation of the share; alerts: {alerts}\nserver: {server.output()[-1500:]}")


def test_a_room_of_three_browsers_two_attendees_share_the_instructor_sees_both_and_clears(
    tmp_path, monkeypatch
):
    token = "room-token-for-the-test"
    monkeypatch.setenv("PRUNEVIZ_ROOM_DB", str(tmp_path / "room.sqlite"))
    monkeypatch.setenv("PRUNEVIZ_INSTRUCTOR_TOKEN", token)
    with dashboard_process() as server, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            instructor, ada, bob = (
                browser.new_context(viewport={"width": 1400, "height": 1600}).new_page() for _ in range(3)
            )
            open_page(instructor, server.url, "Room", "Nobody has shared yet")
            instructor.get_by_text("Instructor", exact=True).click()
            instructor.get_by_label("Instructor token").fill(token)
            instructor.get_by_role("button", name="Unlock").click()
            instructor.get_by_role("button", name="Clear the room").wait_for(timeout=30_000)
            for page, name, key in ((ada, "ada", "End"), (bob, "bob", "PageUp")):
                open_page(page, server.url, "Prune", "Per-layer sparsity")
                params = metric_value(page, "Non-zero params")
                slider_thumb(page, "fc1").focus()
                page.keyboard.press(key)  # each their own configuration
                wait_until_changed(page, "Non-zero params", params)
                idle(page)  # the slider's run has ended: the form below is the one that stays
                page.get_by_text("Share with the room", exact=True).first.click()  # the expander
                page.get_by_role("textbox", name="Your nickname in the room").fill(name)
                page.get_by_test_id("stFormSubmitButton").filter(has_text="Share with the room").click()
                shared_or_refused(page, server)
            shared = time.monotonic()
            for name in ("ada", "bob"):  # the instructor's page polls the store: no reload
                # .first: while the fragment re-renders, the old chart and the new one can both be
                # in the page for a moment (CI saw two "ada" legends at once)
                legend = instructor.locator("g.legend text.legendtext", has_text=name).first
                legend.wait_for(timeout=10_000)
            assert time.monotonic() - shared < 10
            instructor.screenshot(path=str(ARTIFACTS / "Room.png"), full_page=True)
            instructor.get_by_text("Yes, delete every share").click()
            instructor.get_by_role("button", name="Clear the room").click()
            instructor.get_by_text("Cleared 2 share(s).").wait_for(timeout=30_000)
            instructor.get_by_text("Nobody has shared yet.").wait_for(timeout=10_000)
        finally:
            browser.close()
