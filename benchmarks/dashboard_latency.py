"""Slider-to-metrics latency on demo:cnn: the engine part and the whole trip through a real browser.

Engine: re-mask one layer and re-evaluate incrementally (what a slider change does), median in ms.
Browser: headless Chromium moves the fc1 slider one step with the keyboard; the time from the key
release to the updated "Non-zero params" text on the page, median in ms.
Targets: engine <= 50 ms, browser <= 300 ms. Run: ``.venv/bin/python benchmarks/dashboard_latency.py``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pruneviz.workflows.session import LayerPlan, PruneSession, open_session
from tests.e2e.browser import (
    chromium_page,
    dashboard,
    metric_value,
    open_page,
    slider_thumb,
    wait_until_changed,
)

ENGINE_TARGET_MS, BROWSER_TARGET_MS = 50, 300


def engine_latency(steps: int) -> tuple[float, float]:
    """Median ms of one slider change on demo:cnn: (incremental, with a full forward instead)."""
    session = open_session("demo:cnn", device="cpu")
    return slider_latency(session, session.layer_names, steps)


def slider_latency(session: PruneSession, layers: list[str], steps: int) -> tuple[float, float]:
    """Median ms of one slider change, a random sparsity for each of ``layers`` in turn: (incremental,
    the same change evaluated with a full forward instead). benchmarks/lm_latency.py uses it too."""
    session.report()
    gen = torch.Generator().manual_seed(0)
    incremental, full = [], []
    for i in range(steps):
        name = layers[i % len(layers)]
        plan = LayerPlan(int(torch.randint(1, 99, (1,), generator=gen)) / 100)
        start = time.perf_counter()
        session.apply_layer_plans({name: plan})
        session.report()
        incremental.append(time.perf_counter() - start)
        session.evaluator.invalidate()  # the same change, evaluated with a full forward
        session.apply_layer_plans({name: LayerPlan(0.0)})
        start = time.perf_counter()
        session.apply_layer_plans({name: plan})
        session.report()
        full.append(time.perf_counter() - start)
    return 1e3 * statistics.median(incremental), 1e3 * statistics.median(full)


def browser_latency(steps: int) -> float:
    """Median ms from a slider key release to the updated metric text in headless Chromium."""
    times = []
    with dashboard() as url, chromium_page() as page:
        open_page(page, url, "Prune", "Per-layer sparsity")
        thumb = slider_thumb(page, "fc1")
        thumb.focus()
        for _ in range(steps):
            before = metric_value(page, "Non-zero params")
            start = time.perf_counter()
            page.keyboard.press("ArrowRight")  # one step = 1% of fc1's 32,768 weights
            wait_until_changed(page, "Non-zero params", before)
            times.append(time.perf_counter() - start)
            page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached")
    return 1e3 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    inc, full = engine_latency(args.steps * 5)
    print(f"engine  (demo:cnn, mask + re-evaluate, median of {args.steps * 5}):")
    print(f"  incremental {inc:6.1f} ms   full forward {full:6.1f} ms   ratio {full / inc:4.1f}x   "
          f"target <= {ENGINE_TARGET_MS} ms: {'met' if inc <= ENGINE_TARGET_MS else 'MISSED'}")  # fmt: skip
    ms = browser_latency(args.steps)
    print(f"browser (slider key release -> updated metric text, median of {args.steps}):")
    print(
        f"  {ms:6.1f} ms   target <= {BROWSER_TARGET_MS} ms: {'met' if ms <= BROWSER_TARGET_MS else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
