"""Every torchvision classification model through pruneviz, each step in its own process with its peak
memory: what a user picking any model from the zoo meets.

For each architecture that builds in under 10 s on this CPU (random weights, seeded; the build is timed
in this process first), on synthetic images (64×64 where the model takes them, else 224×224):

1. ``pruneviz evaluate`` with every prunable layer at 50 % unstructured (magnitude);
2. ``pruneviz apply`` with 30 % of the filters removed (one L1 ranking across layers): the smaller
   model is written, reloaded and verified against the preview — or refused in one line (exit 2);

each under the job memory budget (``PRUNEVIZ_JOB_MEMORY_MB``, default half the machine), with the
step's wall time and the peak resident memory of its process (``ru_maxrss``). A step killed, failing
with more than one line, or with an exception pruneviz did not expect (the CLI's "IndexError: …") is a
defect: the run says so and exits 1.

    .venv/bin/python benchmarks/zoo.py [--models resnet18,swin_t]   # a Markdown table on stdout
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRUNEVIZ = str(ROOT / ".venv" / "bin" / "pruneviz")
BUILD_LIMIT_S = 10.0
UNSTRUCTURED = "pruneviz: 1\ndefault: {sparsity: 0.5, criterion: magnitude}\n"
FILTERS = "pruneviz: 1\nstructure: {filters: 0.3, criterion: l1}\n"
# How the CLI words an exception pruneviz did not expect ("IndexError: …"): a bug, not a refusal.
UNEXPECTED = re.compile(r"^[A-Z]\w*(Error|Exception): ")


@dataclass
class Step:
    """One command on one model: how it ended (``ok``, ``refused``: one line and exit 2, or
    ``failed``), its first line of error, seconds and the peak memory of its process in MiB."""

    outcome: str
    said: str
    seconds: float
    peak_mib: float


@dataclass
class Row:
    model: str
    build_s: float
    size: int
    evaluate: Step | None = None
    shrink: Step | None = None

    @property
    def defect(self) -> bool:
        return any(s is not None and s.outcome == "failed" for s in (self.evaluate, self.shrink))


PYTHON = str(ROOT / ".venv" / "bin" / "python")


def in_child(code: str) -> str:
    """Run ``code`` in a fresh Python and return what it prints. This process never imports torch:
    a child's peak memory (``ru_maxrss``) counts from the fork, so a parent holding models would show
    its own size as every child's peak."""
    return subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, check=True).stdout.strip()


def build_seconds(name: str) -> float:
    """Seconds to build ``name`` with random weights (what ``torchvision:NAME`` does), in a child."""
    return float(
        in_child(
            "import time, torch, torchvision; torch.manual_seed(0); t = time.perf_counter(); "
            f"torchvision.models.get_model({name!r}, weights=None); print(time.perf_counter() - t)"
        )
    )


def classifiers() -> list[str]:
    return in_child(
        "import torchvision; print(','.join(torchvision.models.list_models(module=torchvision.models)))"
    ).split(",")


def run(args: list[str], env: dict[str, str]) -> Step:
    """``pruneviz ARGS`` in a child process: outcome, message, wall seconds and the child's own peak
    resident memory (``os.wait4``'s ``ru_maxrss``)."""
    with tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        child = subprocess.Popen([PRUNEVIZ, *args], stdout=subprocess.DEVNULL, stderr=err, env=env)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - start
        err.seek(0)
        stderr = err.read().strip()
    peak, code = usage.ru_maxrss / 1024, child.returncode  # KiB -> MiB
    lines = stderr.splitlines()
    if code == 0:
        return Step("ok", "", seconds, peak)
    said = lines[0].removeprefix("pruneviz: error: ") if len(lines) == 1 else ""
    if code == 2 and said and not UNEXPECTED.match(said):  # one line of pruneviz's own: a refusal
        return Step("refused", said, seconds, peak)
    return Step("failed", f"exit {code}: {lines[-1] if lines else ''}", seconds, peak)


def zoo_row(name: str, tmp: Path, env: dict[str, str] | None = None) -> Row:
    """``name`` through both steps, at the smallest input it takes."""
    env = env or dict(os.environ)
    (tmp / "u.yaml").write_text(UNSTRUCTURED)
    (tmp / "f.yaml").write_text(FILTERS)
    row = Row(name, build_seconds(name), 64)
    for size in (64, 224):
        data = ["--data", f"synthetic:3x{size}x{size}:8"]
        row.size = size
        row.evaluate = run(
            ["evaluate", f"torchvision:{name}", *data, "--recipe", str(tmp / "u.yaml"), "--json"], env
        )
        if row.evaluate.outcome == "ok":
            break
    if row.evaluate.outcome == "ok":
        out = str(tmp / f"{name}.pt")
        row.shrink = run(
            ["apply", f"torchvision:{name}", *data, "--recipe", str(tmp / "f.yaml"), "--out", out], env
        )
    return row


HEADER = (
    "| model | input | 50 % unstructured | 30 % filters | seconds (each step) | peak MiB (each step) |\n"
    "|---|---|---|---|---|---|"
)


def markdown_row(r: Row) -> str:
    """One model's row of the table."""
    if r.evaluate is None:
        return f"| {r.model} | | not run: builds in {r.build_s:.0f} s (over {BUILD_LIMIT_S:.0f} s) | | | |"
    shrink = r.shrink or Step("not run", "", 0.0, 0.0)
    said = shrink.said if len(shrink.said) <= 70 else shrink.said[:69] + "…"
    outcome = f"{shrink.outcome}: {said}" if said else shrink.outcome
    seconds = f"{r.evaluate.seconds:.1f} / {shrink.seconds:.1f}"
    peak = f"{r.evaluate.peak_mib:,.0f} / {shrink.peak_mib:,.0f}"
    return f"| {r.model} | {r.size} | {r.evaluate.outcome} | {outcome} | {seconds} | {peak} |"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", help="comma-separated names (default: every classification model)")
    args = parser.parse_args()
    names = args.models.split(",") if args.models else classifiers()
    rows = []
    print(HEADER, flush=True)  # a row as each model is done: a run cut short keeps what it measured
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            built = build_seconds(name)
            if built > BUILD_LIMIT_S:
                rows.append(Row(name, built, 0))
            else:
                rows.append(zoo_row(name, Path(tmp)))
                (Path(tmp) / f"{name}.pt").unlink(missing_ok=True)
            print(markdown_row(rows[-1]), flush=True)
    defects = [r.model for r in rows if r.defect]
    if defects:
        print(f"defects: {', '.join(defects)}", file=sys.stderr)
    return 1 if defects else 0


if __name__ == "__main__":
    raise SystemExit(main())
