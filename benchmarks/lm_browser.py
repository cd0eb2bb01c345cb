"""A real-size language model's slider in the browser, beside the engine doing the same change, in one run.

Builds SmolLM2-135M's shape with random weights (``benchmarks/llm_scale.py``'s builder; no download),
serves the dashboard on it and drives headless Chromium as a user would: load the ``hf:`` directory on
the Model & data page, open the Prune page, press Page Up once on the last block's ``down_proj`` slider
(10 %) and then on the first block's ``q_proj``. For each it reports the seconds from the key press to the
first figure and to the complete one (no estimate left on the page), and how many page runs the
refinement took (each estimate shown is one run). The engine part — ``prune_layer`` then a complete
``report()`` on the same model and windows, in this process — is timed right before, so the ratio
browser / engine says what the page adds.

    .venv/bin/python benchmarks/lm_browser.py [--root DIR]   # DIR keeps the built model between runs
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.llm_scale import build
from pruneviz.workflows.session import LayerPlan, open_session
from tests.e2e.browser import chromium_page, dashboard, idle, metric_value, open_page, slider_thumb

SHAPE = "smollm2-135m"
LAYERS = {"last block": "model.layers.29.mlp.down_proj", "first block": "model.layers.0.self_attn.q_proj"}
SPARSITY = 0.1  # one Page Up on a 0-99 slider


def engine_seconds(path: Path) -> dict[str, float]:
    """Seconds of ``prune_layer`` + a complete ``report()`` per layer, on a session opened as the
    dashboard opens it (the baseline computed first)."""
    session = open_session(f"hf:{path}", device="cpu")
    session.baseline()
    out = {}
    for where, layer in LAYERS.items():
        start = time.perf_counter()
        session.prune_layer(layer, LayerPlan(SPARSITY))
        session.report()
        out[where] = time.perf_counter() - start
        session.prune_layer(layer, LayerPlan(0.0))
        session.report()
    return out


def estimates_shown(page) -> str | None:
    """The estimate caption on the page now ("Estimate from 3 of 64 windows…", "measuring…"), if any."""
    for text in page.locator('[data-testid="stCaptionContainer"]').all_inner_texts():
        if "refining" in text or "so far" in text:
            return text
    return None


def browser_seconds(path: Path) -> tuple[float, dict[str, tuple[float, float, int]]]:
    """Seconds to load the model on the page, and per layer: (first figure, complete figure, page runs
    that showed an estimate) after one key press."""
    os.environ["PRUNEVIZ_DATA_ROOT"] = f"{path.parent}:{Path.cwd()}"
    out = {}
    with dashboard() as url, chromium_page(1400, 1000) as page:
        open_page(page, url, "Model_and_data", "prunable layers")
        page.get_by_text("Hugging Face", exact=True).click()
        page.get_by_role("textbox", name="Causal language model").fill(f"hf:{path}")
        start = time.perf_counter()
        page.get_by_role("button", name="Load", exact=True).click()
        page.get_by_text(f"Loaded hf:{path}").wait_for(timeout=600_000)
        load_s = time.perf_counter() - start
        page.get_by_role("link", name="Prune", exact=True).click()
        page.get_by_text("Per-layer sparsity").first.wait_for(timeout=600_000)
        idle(page)
        while estimates_shown(page):  # the page's first figure, complete
            page.wait_for_timeout(100)
        for where, layer in LAYERS.items():
            block = layer.split(".")[2]
            page.get_by_text(f"block {block}", exact=True).click()
            thumb = slider_thumb(page, layer)
            thumb.scroll_into_view_if_needed()
            before = metric_value(page, "Perplexity")
            thumb.focus()
            start = time.perf_counter()
            page.keyboard.press("PageUp")
            first, seen = None, set()
            while True:
                shown, caption = metric_value(page, "Perplexity"), estimates_shown(page)
                if first is None and shown != before:
                    first = time.perf_counter() - start
                if caption:
                    seen.add(caption)
                elif shown != before:
                    break
                page.wait_for_timeout(50)
            out[where] = (first, time.perf_counter() - start, len(seen))
            idle(page)
    return load_s, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, help="where the built model is kept (default: a temp folder)")
    args = parser.parse_args()
    root = args.root or Path(tempfile.mkdtemp(prefix="pruneviz-lm-browser-"))
    path = build(SHAPE, root)
    engine = engine_seconds(path)
    load_s, browser = browser_seconds(path)
    print(f"{SHAPE} (random weights), 64 windows of 128 tokens, one Page Up ({SPARSITY:.0%}) per slider")
    print(f"load on the Model & data page: {load_s:.1f} s")
    print("| slider | engine: prune + complete report | browser: first figure | complete | runs | ×engine |")
    print("|---|---|---|---|---|---|")
    for where in LAYERS:
        first, complete, runs = browser[where]
        print(
            f"| {where} | {engine[where]:.1f} s | {first:.1f} s | {complete:.1f} s | {runs} | "
            f"{complete / engine[where]:.1f}× |"
        )


if __name__ == "__main__":
    main()
