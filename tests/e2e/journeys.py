"""The table of journeys a workshop walks across pages, in a real browser (tests/e2e/test_journeys.py).

Each row is a sequence of steps on one or two browser sessions of one dashboard server. Every step says
what the page it ends on showed (:attr:`Walk.shown`: the metric and the non-zero parameters, as the page
wrote them) and checks that the page names the model the session holds. Every journey ends on the
Export page, whose file is reloaded with ``pruneviz evaluate``: it must give what the last page showed.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pruneviz.core.humanize import count
from pruneviz.io.room import RoomStore
from tests.e2e.browser import (
    ROOT,
    idle,
    metric_value,
    open_page,
    settled,
    slider_thumb,
    wait_until_changed,
)

PRUNEVIZ = str(Path(ROOT) / ".venv" / "bin" / "pruneviz")
HELD = "Holds "  # how every page's caption names the model the session holds: "Holds demo:cnn: …"


@dataclass
class Walk:
    """One journey under way: the server, the browser's pages (a second session where a journey needs
    one), a folder for downloads, and what the last page showed."""

    url: str
    pages: list
    tmp: Path
    hf_dir: str
    shown: tuple[str, str] | None = None  # (metric, non-zero parameters) as the last page wrote them
    saved: dict = field(default_factory=dict)

    @property
    def page(self):
        return self.pages[0]


@dataclass(frozen=True)
class Journey:
    """A row: its name, the model its pages show (named in every held caption; ``{hf_dir}`` stands for
    the saved Hugging Face directory), its steps, and the format the Export page writes at the end (with
    the options ``pruneviz evaluate`` needs to measure it on the data the dashboard measured)."""

    name: str
    model: str
    steps: tuple[Callable[[Walk], None], ...]
    fmt: str = "state_dict"
    evaluate: tuple[str, ...] = ()


def go(page, label: str, ready: str) -> None:
    """Open a page from the sidebar (the same session: a typed URL would start a new one)."""
    page.locator('[data-testid="stSidebarNav"], [data-testid="stSidebar"]').get_by_role(
        "link", name=label, exact=True
    ).first.click()
    page.get_by_text(ready).first.wait_for(timeout=120_000)
    idle(page)


def held(page) -> str:
    """The caption naming the model the session holds (every page has one)."""
    caption = page.locator('[data-testid="stCaptionContainer"]').filter(has_text=re.compile(rf"\b{HELD}"))
    caption = caption.first
    caption.wait_for(timeout=60_000)
    return caption.inner_text()


def expect_held(page, model: str, *phrases: str) -> None:
    text = held(page)
    assert f"{HELD}{model}:" in text, text
    for phrase in phrases:
        assert phrase in text, (phrase, text)


def move(page, slider: str, key: str, metric: str = "Non-zero params") -> None:
    """Press ``key`` on a slider and wait until ``metric`` changes."""
    before = metric_value(page, metric)
    slider_thumb(page, slider).focus()
    page.keyboard.press(key)
    wait_until_changed(page, metric, before)
    idle(page)


def remember(walk: Walk, metric: str, params: str = "Non-zero params") -> None:
    walk.shown = (metric_value(walk.page, metric), metric_value(walk.page, params))


# --- steps ------------------------------------------------------------------------------------------


def prune_fc1_and_conv2(walk: Walk) -> None:
    page = walk.page
    open_page(page, walk.url, "Prune", "Per-layer sparsity")
    expect_held(page, "demo:cnn", "the dense model")
    move(page, "fc1", "End")  # 99 %
    move(page, "conv2", "PageUp")  # 10 %
    expect_held(page, "demo:cnn", "the Prune page's masks")
    remember(walk, "Accuracy")


def open_structured_and_choose_nothing(walk: Walk) -> None:
    go(walk.page, "Structured", "What shrinks together")
    expect_held(walk.page, "demo:cnn", "the Prune page's masks")
    assert metric_value(walk.page, "Non-zero params") == walk.shown[1]  # nothing changed here


def structured_build(walk: Walk) -> None:
    page = walk.page
    open_page(page, walk.url, "Structured", "What shrinks together")
    slider_thumb(page, "conv2").focus()
    for _ in range(3):  # 27 % of conv2's filters
        page.keyboard.press("PageUp")
    page.get_by_text("Parameters after removal").wait_for(timeout=120_000)  # the preview's row
    idle(page)
    expect_held(page, "demo:cnn", "the Structured page's preview")
    page.get_by_role("button", name="Build the smaller model").click()
    page.get_by_text("as predicted").first.wait_for(timeout=120_000)
    idle(page)


def structured_recover(walk: Walk) -> None:
    page = walk.page
    form = page.locator('[data-testid="stForm"]').filter(has_text="Fine-tune the smaller model")
    form.get_by_label("Steps").fill("40")
    form.get_by_role("button", name="Fine-tune the smaller model").click()
    page.get_by_text("Undo the fine-tune").wait_for(timeout=180_000)
    idle(page)
    expect_held(page, "demo:cnn", "fine-tuned under Recover")
    built = page.locator('[data-testid="stAlert"]').filter(has_text="parameters,").first.inner_text()
    walk.shown = (metric_value(page, "Accuracy after fine-tuning"), built.split(" parameters")[0].strip())


def recovery_finetune(walk: Walk) -> None:
    page = walk.page
    go(page, "Recovery", "Target: the Prune page's configuration")
    expect_held(page, "demo:cnn", "the Prune page's masks")
    form = page.locator('[data-testid="stForm"]')
    form.get_by_label("Steps").fill("60")
    form.get_by_role("button", name="Fine-tune").click()
    page.get_by_role("button", name="Undo the fine-tune").wait_for(timeout=180_000)
    idle(page)
    expect_held(page, "demo:cnn", "the Prune page's masks", "on trained weights")
    remember(walk, "Accuracy after fine-tuning")


def sensitivity_send_to_prune(walk: Walk) -> None:
    page = walk.page
    open_page(page, walk.url, "Sensitivity", "Run sweep")
    expect_held(page, "demo:cnn", "the dense model")
    page.get_by_role("button", name="Run sweep").click()
    send = page.get_by_role("button", name="Send these sparsities to the Prune page")
    send.wait_for(timeout=180_000)
    idle(page)
    send.click()
    page.get_by_text("Per-layer sparsity").first.wait_for(timeout=120_000)
    idle(page)
    expect_held(page, "demo:cnn", "the Prune page's masks")
    remember(walk, "Accuracy")


def load_hf_directory(walk: Walk) -> None:
    page = walk.page
    open_page(page, walk.url, "Model_and_data", "prunable layers")
    page.get_by_text("Hugging Face", exact=True).click()
    page.get_by_role("textbox", name="Causal language model").fill(f"hf:{walk.hf_dir}")
    page.get_by_role("button", name="Load", exact=True).click()
    page.get_by_text(f"Loaded hf:{walk.hf_dir}").wait_for(timeout=180_000)
    idle(page)
    sidebar = page.locator('[data-testid="stSidebar"]').inner_text()
    assert walk.hf_dir in sidebar and "demo:cnn" not in sidebar  # the sidebar follows at once


def prune_language_model(walk: Walk) -> None:
    page = walk.page
    go(page, "Prune", "Per-layer sparsity")
    expect_held(page, f"hf:{walk.hf_dir}", "the dense model")
    slider_thumb(page, "Global sparsity (%)").focus()
    before = metric_value(page, "Perplexity")
    for _ in range(5):
        page.keyboard.press("PageUp")
    wait_until_changed(page, "Perplexity", before)
    settled(page, "Perplexity", "Non-zero params")  # all five presses, not the first
    page.wait_for_function(  # the complete figure, not an estimate on the way
        "() => ![...document.querySelectorAll('[data-testid=stCaptionContainer]')]"
        ".some(e => e.innerText.includes('refining') || e.innerText.includes('so far'))",
        timeout=120_000,
    )
    remember(walk, "Perplexity")


def generate_side_by_side(walk: Walk) -> None:
    page = walk.page
    go(page, "Generate", "Continue the prompt")
    expect_held(page, f"hf:{walk.hf_dir}", "the Prune page's masks")
    caption = page.locator('[data-testid="stCaptionContainer"]').filter(
        has_text="Pruned as the session is now"
    )
    text = caption.first.inner_text()
    assert f"perplexity {walk.shown[0]}" in text and f"{walk.shown[1]} non-zero parameters" in text, text
    page.get_by_role("button", name="Continue the prompt").click()
    page.get_by_text("Pruned (this session)").wait_for(timeout=180_000)
    idle(page)
    page.screenshot(path=str(ROOT / "tests" / "artifacts" / "Generate.png"), full_page=True)  # the docs' one


def share_with_the_room(walk: Walk) -> None:
    page = walk.page
    page.get_by_text("Share with the room", exact=True).first.click()  # the expander
    page.get_by_role("textbox", name="Your nickname in the room").fill("ada")
    page.get_by_test_id("stFormSubmitButton").filter(has_text="Share with the room").click()
    page.get_by_text("Shared with the room").wait_for(timeout=30_000)


def another_session_loads_it_from_the_room(walk: Walk) -> None:
    other = walk.pages[1]
    open_page(other, walk.url, "Room", "Or choose a share")
    other.locator('[data-testid="stSelectbox"]').filter(has_text="Or choose a share").click()
    other.get_by_role("option").filter(has_text="ada").first.click()
    other.get_by_role("button", name="Load into my session").click()
    other.get_by_text("into your session: see the Prune page").wait_for(timeout=60_000)
    go(other, "Prune", "Per-layer sparsity")
    expect_held(other, "demo:cnn", "the Prune page's masks")
    assert (metric_value(other, "Accuracy"), metric_value(other, "Non-zero params")) == walk.shown
    walk.pages.reverse()  # the rest of the journey, the export included, is the second session's


def save_recipe_reload_and_load_it(walk: Walk) -> None:
    page = walk.page
    with page.expect_download(timeout=30_000) as download:
        page.get_by_role("button", name="Save session as recipe").click()
    saved = Path(download.value.path()).read_text()
    page.reload()  # a new session, dense again
    page.get_by_text("Per-layer sparsity").first.wait_for(timeout=120_000)
    idle(page)
    expect_held(page, "demo:cnn", "the dense model")
    page.get_by_text("Recipe: save, load, compare").click()
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(
        files=[{"name": "recipe.yaml", "mimeType": "application/yaml", "buffer": saved.encode()}]
    )
    wait_until_changed(page, "Non-zero params", "38.3 k")
    idle(page)
    assert (metric_value(page, "Accuracy"), metric_value(page, "Non-zero params")) == walk.shown


def pass_an_exercise_and_share(walk: Walk) -> None:
    page = walk.page
    open_page(page, walk.url, "Learn", "Exercises")
    expect_held(page, "demo:cnn", "the dense model")
    page.get_by_role("combobox", name="Your answer").type(walk.saved["most sensitive"])  # as a keyboard user
    page.get_by_role("option", name=walk.saved["most sensitive"], exact=True).click()
    idle(page)
    page.get_by_role("button", name="Check").first.click()
    page.get_by_text("Passed — ").wait_for(timeout=120_000)
    idle(page)
    page.get_by_role("textbox", name="Your nickname in the room").fill("cy")
    page.get_by_test_id("stFormSubmitButton").filter(has_text="Share with the room").click()
    page.get_by_text("Shared with the room with 1 exercise(s) passed").wait_for(timeout=30_000)
    go(page, "Room", "Exercises passed")  # the room's table of passes (drawn on a canvas: read the store)
    mine = [s.exercises for s in RoomStore(walk.saved["room"]).shares() if s.nickname == "cy"]
    assert mine == [("Find the most sensitive layer",)]
    go(page, "Overview", "What browsers may do")
    remember(walk, "Accuracy")


# --- the end of every journey ---------------------------------------------------------------------

EXPORT_CAPTION = re.compile(
    r"what Export writes: (?P<metric>[\w ]+?) (?P<score>[\d.]+%?), (?P<params>[\d.]+(?: [kMG])?) non-zero"
)


def export_and_reload(walk: Walk, journey: Journey, screenshot: Path) -> dict:
    """Export on the Export page; the page must name the model held and offer what the last page
    showed; ``pruneviz evaluate`` of the file must give the same figures. Returns the CLI's report."""
    page = walk.page
    go(page, "Export", "Export and verify")
    caption = held(page)
    assert f"{HELD}{journey.model.format(hf_dir=walk.hf_dir)}:" in caption, caption
    found = EXPORT_CAPTION.search(caption)
    assert found and (found["score"], found["params"]) == walk.shown, (caption, walk.shown)
    page.locator('[data-testid="stSelectbox"]').filter(has_text="Format").click()
    page.get_by_role("option", name=journey.fmt, exact=True).click()
    page.get_by_role("button", name="Export and verify").click()
    verdict = page.locator('[data-testid="stAlert"]').filter(has_text="reloaded and evaluated")
    verdict.wait_for(timeout=180_000)
    assert "verified" in verdict.inner_text() and "MISMATCH" not in verdict.inner_text()
    idle(page)
    page.wait_for_timeout(1000)
    page.screenshot(path=str(screenshot), full_page=True)
    with page.expect_download(timeout=30_000) as download:
        page.get_by_role("button", name=re.compile("^Download pruned")).click()
    path = walk.tmp / download.value.suggested_filename
    download.value.save_as(path)
    proc = subprocess.run(
        [PRUNEVIZ, "evaluate", f"file:{path}", *journey.evaluate, "--json"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    key = found["metric"].strip().lower()
    score = f"{100 * report[key]:.1f}%" if walk.shown[0].endswith("%") else f"{report[key]:.3f}"
    assert (score, count(report["params_nonzero"])) == walk.shown, (report, walk.shown)
    return report


JOURNEYS = [
    Journey("prune-structured-export", "demo:cnn", (prune_fc1_and_conv2, open_structured_and_choose_nothing)),
    Journey("prune-recovery-export", "demo:cnn", (prune_fc1_and_conv2, recovery_finetune)),
    Journey("structured-build-recover-export", "demo:cnn", (structured_build, structured_recover)),
    Journey("sensitivity-send-to-prune-export", "demo:cnn", (sensitivity_send_to_prune,), fmt="torchscript"),
    Journey("hf-prune-generate-export", "hf:{hf_dir}", (
        load_hf_directory, prune_language_model, generate_side_by_side)),
    Journey("prune-share-room-load-export", "demo:cnn", (
        prune_fc1_and_conv2, share_with_the_room, another_session_loads_it_from_the_room)),
    Journey("recipe-save-reload-load-export", "demo:cnn", (
        prune_fc1_and_conv2, save_recipe_reload_and_load_it), fmt="safetensors"),
    Journey("learn-pass-share-export", "demo:cnn", (pass_an_exercise_and_share,)),
]  # fmt: skip
