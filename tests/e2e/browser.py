"""A real dashboard server and headless Chromium for the browser tests and the latency benchmark."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """A running dashboard: its base URL, its process id (whose memory the load benchmark samples) and
    everything it has printed so far."""

    url: str
    pid: int
    log: IO[bytes]

    def output(self) -> str:
        # pread, not seek + read: the server writes through the same file offset.
        fd = self.log.fileno()
        return os.pread(fd, os.fstat(fd).st_size, 0).decode(errors="replace")


@contextmanager
def dashboard_process(
    options: tuple[str, ...] = (), timeout: float = 120, make_target: str | None = None
) -> Iterator[Server]:
    """Run ``streamlit run app.py --server.headless true [options]`` on a free port until the block
    ends (``options``: more Streamlit flags, e.g. ``("--server.maxUploadSize", "1")``), or with
    ``make_target`` the README's own command (``make run`` / ``make serve``) on that port. It is always
    reached through 127.0.0.1."""
    port = free_port()
    env = os.environ.copy()
    if make_target:
        cmd = ["make", "--no-print-directory", make_target, f"PORT={port}"]
        for name in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL"):  # when the suite itself runs under make
            env.pop(name, None)
    else:
        cmd = [
            sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless", "true",
            "--server.port", str(port), "--browser.gatherUsageStats", "false", *options,
        ]  # fmt: skip
    # A file, not a pipe: a pipe nobody reads would stall a chatty server once full.
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        server = Server(f"http://127.0.0.1:{port}", proc.pid, log)
        try:
            _wait_until_healthy(server, timeout)
            yield server
        finally:
            os.killpg(proc.pid, signal.SIGTERM)  # make and the streamlit it started
            proc.wait(timeout=20)


def _wait_until_healthy(server: Server, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if urllib.request.urlopen(f"{server.url}/_stcore/health", timeout=2).read() == b"ok":
                return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"the dashboard did not start:\n{server.output()[-2000:]}")


@contextmanager
def dashboard(options: tuple[str, ...] = ()) -> Iterator[str]:
    """A dashboard server for the duration of the block; yields its base URL."""
    with dashboard_process(options) as server:
        yield server.url


@contextmanager
def chromium_page(width: int = 1500, height: int = 1000):
    """A Playwright page in the system's headless Chromium."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": width, "height": height})
        finally:
            browser.close()


def metric_value(page, label: str) -> str:
    """The value text of the ``st.metric`` labelled ``label``."""
    metric = page.locator('[data-testid="stMetric"]').filter(has_text=label).first
    return metric.locator('[data-testid="stMetricValue"]').inner_text().strip()


def slider_thumb(page, label: str):
    """The draggable thumb of the ``st.slider`` labelled ``label`` (focusable, arrow keys move it)."""
    return page.locator('[data-testid="stSlider"]').filter(has_text=label).first.get_by_role("slider")


def wait_until_changed(page, label: str, old: str, timeout_ms: float = 30_000) -> str:
    """Wait (polling every animation frame) until metric ``label`` no longer shows ``old``."""
    page.wait_for_function(
        """([label, old]) => {
            const m = [...document.querySelectorAll('[data-testid="stMetric"]')]
                .find(e => e.innerText.includes(label));
            const v = m && m.querySelector('[data-testid="stMetricValue"]');
            return v && v.innerText.trim() !== old;
        }""",
        arg=[label, old],
        timeout=timeout_ms,
    )
    return metric_value(page, label)


def idle(page) -> None:
    """Wait until the page's script run has finished (Streamlit's "Running…" widget is gone)."""
    page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=120_000)


def settled(page, *labels: str, quiet_s: float = 1.5, timeout_s: float = 120) -> tuple[str, ...]:
    """Wait until metrics ``labels`` read the same for ``quiet_s`` with no script run in progress, and
    return them. Keys pressed in a row can reach the server as two widget changes: the page is idle
    for a moment between their runs, so one idle page is not yet the last value."""
    deadline = time.monotonic() + timeout_s
    idle(page)
    last = tuple(metric_value(page, label) for label in labels)
    while time.monotonic() < deadline:
        page.wait_for_timeout(quiet_s * 1000)
        idle(page)
        now = tuple(metric_value(page, label) for label in labels)
        if now == last:
            return now
        last = now
    raise TimeoutError(f"{labels} kept changing for {timeout_s} s: last {last}")


def open_page(page, url: str, path: str, ready_text: str) -> None:
    """Navigate and wait until the page's content (``ready_text``) is rendered and runs are idle."""
    page.goto(f"{url}/{path}")
    page.get_by_text(ready_text).first.wait_for(timeout=120_000)
    idle(page)


def load_demo(page, name: str) -> None:
    """On the Model & data page: pick demo model ``name`` and load it."""
    page.locator('[data-testid="stSelectbox"]').filter(has_text="Demo model").click()
    page.get_by_role("option", name=name, exact=True).click()
    page.get_by_role("button", name="Load", exact=True).click()
    page.get_by_text(f"Loaded demo:{name}").wait_for(timeout=120_000)
