"""Slider-to-perplexity latency on demo:gpt: the engine part, incremental vs full, and the whole trip
through a real browser.

Engine: re-mask one projection and re-evaluate the default validation windows (64 × 128 tokens), for a
first-block layer and a last-block layer, incremental (only the blocks from the changed one re-run,
from cached block outputs) against a full forward, median in ms of the same changes in one run.
Browser: headless Chromium moves the last block's down_proj slider to 99% and back with the keyboard;
the time from the key release to the updated "Perplexity" text, median in ms.
Targets: a last-block change <= 100 ms, any change <= 250 ms, browser <= 500 ms.
Run: ``.venv/bin/python benchmarks/lm_latency.py [--steps N]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.dashboard_latency import slider_latency
from pruneviz.workflows.session import open_session
from tests.e2e.browser import (
    chromium_page,
    dashboard,
    load_demo,
    metric_value,
    open_page,
    slider_thumb,
    wait_until_changed,
)

LAST_TARGET_MS, ANY_TARGET_MS, BROWSER_TARGET_MS = 100, 250, 500
FIRST, LAST = "model.layers.0.self_attn.q_proj", "model.layers.3.mlp.down_proj"


def engine_latency(layer: str, steps: int) -> tuple[float, float]:
    """Median ms of one slider change of ``layer``: (incremental, full forward) on demo:gpt."""
    return slider_latency(open_session("demo:gpt", device="cpu"), [layer], steps)


def browser_latency(steps: int) -> float:
    """Median ms from a slider key release to the updated perplexity text in headless Chromium."""
    times = []
    with dashboard() as url, chromium_page(1400, 2400) as page:
        open_page(page, url, "Model_and_data", "prunable layers")
        load_demo(page, "gpt")
        page.get_by_role("link", name="Prune").click()  # in the same session (a new URL is a new one)
        page.get_by_text("block 3", exact=True).click()
        thumb = slider_thumb(page, LAST)
        thumb.focus()
        for i in range(steps):
            before = metric_value(page, "Perplexity")
            start = time.perf_counter()
            page.keyboard.press("End" if i % 2 == 0 else "Home")  # 99%, then back to dense
            wait_until_changed(page, "Perplexity", before)
            times.append(time.perf_counter() - start)
            page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached")
    return 1e3 * statistics.median(times)


def verdict(ms: float, target: float) -> str:
    return f"target <= {target} ms: {'met' if ms <= target else 'MISSED'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    print(f"engine (demo:gpt, 64 windows x 128 tokens, mask + re-evaluate, median of {args.steps}):")
    for label, layer, target in (("first block", FIRST, ANY_TARGET_MS), ("last block", LAST, LAST_TARGET_MS)):
        inc, full = engine_latency(layer, args.steps)
        print(f"  {label:11} {layer:34} incremental {inc:6.1f} ms   full {full:6.1f} ms   "
              f"ratio {full / inc:4.1f}x   {verdict(inc, target)}")  # fmt: skip
    ms = browser_latency(args.steps)
    print(f"browser (key release -> updated perplexity text, median of {args.steps}):")
    print(f"  {ms:6.1f} ms   {verdict(ms, BROWSER_TARGET_MS)}")


if __name__ == "__main__":
    main()
