"""A workshop room on one server: N browser sessions on demo:cnn, each moving sliders for a while.

Every attendee is its own Playwright context (own cookies, own Streamlit session) in one headless
Chromium. Each moves a random layer's slider with the keyboard (arrows, Page Up/Down, Home/End) and
waits until its page shows the accuracy, loss and non-zero parameter count that a separate engine
computes for *that attendee's own* sliders, so a number leaked from another session, or a stale one,
counts as an error. Reported: moves, errors, p50/p95 latency from key press to the right numbers on the
page, and the server's resident memory (idle, one session, peak under load, after everyone left).

Loopback only, bounded by --sessions and --seconds. Note the browsers run on the same cores as the
server here; in a real room each attendee's laptop renders its own page.
Run: ``.venv/bin/python benchmarks/workshop_load.py [--sessions 20] [--seconds 60]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pruneviz.core.humanize import count, percent
from pruneviz.workflows.session import LayerPlan, open_session
from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, Server, dashboard_process

MODEL = "demo:cnn"
LAYERS = ("conv1", "conv2", "fc1", "fc2")
KEYS = {"ArrowRight": 1, "ArrowLeft": -1, "PageUp": 10, "PageDown": -10, "Home": -99, "End": 99}
MOVE_TIMEOUT_MS = 120_000
# Headless pages count as visible, but keep Chromium from slowing any of the many pages down.
ROOM_ARGS = [
    *CHROMIUM_ARGS,
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
]
SHOWN = """(expected) => Object.entries(expected).every(([label, text]) => {
    const m = [...document.querySelectorAll('[data-testid="stMetric"]')]
        .find(e => e.querySelector('[data-testid="stMetricLabel"]')?.innerText.trim() === label);
    return m && m.querySelector('[data-testid="stMetricValue"]').innerText.trim() === text;
})"""


@cache
def _engine():
    session = open_session(MODEL, device="cpu")
    session.report()
    return session


@cache
def expected(sliders: tuple[int, ...]) -> dict[str, str]:
    """The metrics the Prune page must show for these slider values (percent, in LAYERS order)."""
    session = _engine()
    session.apply_layer_plans({n: LayerPlan(v / 100) for n, v in zip(LAYERS, sliders)})
    r = session.report()
    return {
        "Accuracy": percent(r.score),
        "Loss": f"{r.loss:.3f}",
        "Non-zero params": count(r.params_nonzero),
    }


@dataclass
class Attendee:
    seed: int
    sliders: list[int] = field(default_factory=lambda: [0] * len(LAYERS))
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def next_move(self, rng: random.Random) -> tuple[int, str, list[int]]:
        """A random (layer, key) whose move changes the parameter count shown, so the wait is real."""
        shown = expected(tuple(self.sliders))["Non-zero params"]
        while True:
            i, key = rng.randrange(len(LAYERS)), rng.choice(list(KEYS))
            after = list(self.sliders)
            after[i] = min(99, max(0, after[i] + KEYS[key]))
            if expected(tuple(after))["Non-zero params"] != shown:
                return i, key, after


async def open_prune(browser, url: str):
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await context.new_page()
    await page.goto(f"{url}/Prune")
    await page.get_by_text("Per-layer sparsity").first.wait_for(timeout=MOVE_TIMEOUT_MS)
    await page.wait_for_function(SHOWN, arg=expected((0,) * len(LAYERS)), timeout=MOVE_TIMEOUT_MS)
    return context, page


async def attend(who: Attendee, page, seconds: float) -> None:
    """Move sliders on an open Prune page until time is up, checking every number shown."""
    page.on("pageerror", lambda err: who.errors.append(f"page error: {err}"))
    rng = random.Random(who.seed)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        i, key, after = who.next_move(rng)
        want = expected(tuple(after))
        slider = page.locator('[data-testid="stSlider"]').filter(has_text=LAYERS[i]).first
        await slider.get_by_role("slider").focus()
        start = time.perf_counter()
        await page.keyboard.press(key)
        try:
            await page.wait_for_function(SHOWN, arg=want, timeout=MOVE_TIMEOUT_MS)
        except Exception:  # noqa: BLE001 - a wrong or missing number is the error we report
            who.errors.append(f"{LAYERS[i]} {key} -> {after}: page never showed {want}")
            break
        who.latencies.append(time.perf_counter() - start)
        who.sliders = after
        await page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached")
    if await page.locator('[data-testid="stException"]').count():
        who.errors.append("an exception is shown on the page")


def cpu_seconds(pid: int | None = None) -> float:
    """CPU time used so far by one process (user + system), or by the whole machine (busy time)."""
    if pid is None:
        busy = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        return (sum(busy) - busy[3] - busy[4]) / os.sysconf("SC_CLK_TCK")  # minus idle and iowait
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class MemorySampler:
    """Resident memory (bytes) of one process, sampled twice a second while the room is busy."""

    def __init__(self, pid: int) -> None:
        self.pid, self.samples = pid, []

    def rss(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError(f"no VmRSS for process {self.pid}")

    async def run(self) -> None:
        while True:
            self.samples.append(self.rss())
            await asyncio.sleep(0.5)


async def workshop(server: Server, sessions: int, seconds: float) -> dict:
    """Run the room; returns the figures (and every error) for :func:`report`."""
    from playwright.async_api import async_playwright

    memory = MemorySampler(server.pid)
    figures = {"rss_idle": memory.rss()}
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ROOM_ARGS)
        context, _ = await open_prune(browser, server.url)  # loads and caches the shared baseline
        figures["rss_one"] = memory.rss()
        await context.close()
        sampler = asyncio.create_task(memory.run())
        room = [Attendee(seed) for seed in range(sessions)]
        pages, opening = [], []
        for _ in room:  # attendees arrive one after another, as in a room
            start = time.perf_counter()
            pages.append(await open_prune(browser, server.url))
            opening.append(time.perf_counter() - start)
        figures["open"] = statistics.median(opening), max(opening)
        started, cpu_server, cpu_all = time.monotonic(), cpu_seconds(server.pid), cpu_seconds()
        await asyncio.gather(*(attend(a, page, seconds) for a, (_, page) in zip(room, pages)))
        figures["wall"] = time.monotonic() - started
        figures["cpu_server"] = cpu_seconds(server.pid) - cpu_server
        figures["cpu_all"] = cpu_seconds() - cpu_all
        sampler.cancel()
        for context, _ in pages:
            await context.close()
        # The baseline must be untouched: a newcomer's dense page shows the shipped model's numbers.
        context, _ = await open_prune(browser, server.url)
        await context.close()
        await browser.close()
    await asyncio.sleep(5)  # let the server drop the closed sessions
    figures.update(rss_peak=max(memory.samples), rss_after=memory.rss(), room=room, sessions=sessions)
    figures["server_tracebacks"] = server.output().count("Traceback")
    return figures


def report(f: dict) -> list[str]:
    """Print the figures; returns every error seen (empty: the room was served correctly)."""
    room: list[Attendee] = f["room"]
    latencies = sorted(x for a in room for x in a.latencies)
    errors = [f"attendee {a.seed}: {e}" for a in room for e in a.errors]
    errors += [f"server printed {f['server_tracebacks']} traceback(s)"] * bool(f["server_tracebacks"])
    mib = 2**20
    moves = [len(a.latencies) for a in room]
    print(f"{f['sessions']} sessions on {MODEL}, {f['wall']:.0f} s: {sum(moves)} moves, {len(errors)} errors")
    if latencies:
        p50 = statistics.median(latencies)
        p95 = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))]
        print(f"  key press -> right numbers on the page: p50 {1e3 * p50:.0f} ms, p95 {1e3 * p95:.0f} ms")
        print(f"  moves per session: min {min(moves)}, max {max(moves)}")
        print(
            f"  CPU per move: server {1e3 * f['cpu_server'] / len(latencies):.0f} ms, browsers and this "
            f"driver {1e3 * (f['cpu_all'] - f['cpu_server']) / len(latencies):.0f} ms "
            f"({os.cpu_count()} cores busy {100 * f['cpu_all'] / f['wall'] / os.cpu_count():.0f}%)"
        )
    print(f"  opening the Prune page: median {f['open'][0]:.1f} s, slowest {f['open'][1]:.1f} s")
    print(
        f"  server RSS: idle {f['rss_idle'] / mib:.0f} MiB, one session {f['rss_one'] / mib:.0f} MiB, "
        f"peak {f['rss_peak'] / mib:.0f} MiB "
        f"(+{(f['rss_peak'] - f['rss_one']) / mib / f['sessions']:.1f} MiB per session), "
        f"after all left {f['rss_after'] / mib:.0f} MiB"
    )
    for e in errors:
        print(f"  ERROR {e}")
    return errors


def run(sessions: int, seconds: float) -> list[str]:
    with dashboard_process() as server:
        return report(asyncio.run(workshop(server, sessions, seconds)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    sys.exit(1 if run(args.sessions, args.seconds) else 0)


if __name__ == "__main__":
    main()
