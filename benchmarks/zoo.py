"""Every torchvision classification model (or one of each timm family) through pruneviz, each step in
its own process with its peak memory: what a user picking any model from the zoo meets.

For each architecture that builds in under 10 s on this CPU (random weights, seeded; the build is timed
in a child process first), on synthetic images (64×64 where the model takes them, else its own input
size: 224×224 for torchvision, the pretrained configuration's for timm):

1. ``pruneviz evaluate`` with every prunable layer at 50 % unstructured (magnitude);
2. ``pruneviz apply`` with 30 % of the filters removed (one L1 ranking across layers): the smaller
   model is written, reloaded and verified against the preview — or refused in one line (exit 2);

each under the job memory budget (``PRUNEVIZ_JOB_MEMORY_MB``, default half the machine), with the
step's wall time and the peak resident memory of its process (``ru_maxrss``). A step killed, failing
with more than one line, or with an exception pruneviz did not expect (the CLI's "IndexError: …") is a
defect: the run says so and exits 1.

    .venv/bin/python benchmarks/zoo.py [--models resnet18,swin_t]   # a Markdown table on stdout
    .venv/bin/python benchmarks/zoo.py --source timm [--models deit_tiny_patch16_224]

With ``--source timm`` the default is one model per timm module (its smallest by name: atto, femto,
pico, nano, tiny, … before the rest; a classifier before a pre-training model without a head), as
``timm:NAME`` loads it.
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
    unbuilt: str = ""  # why the library itself could not build it (not pruneviz's doing)

    @property
    def defect(self) -> bool:
        return any(s is not None and s.outcome == "failed" for s in (self.evaluate, self.shrink))


PYTHON = str(ROOT / ".venv" / "bin" / "python")


def in_child(code: str) -> str:
    """Run ``code`` in a fresh Python and return what it prints. This process never imports torch:
    a child's peak memory (``ru_maxrss``) counts from the fork, so a parent holding models would show
    its own size as every child's peak."""
    return subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, check=True).stdout.strip()


BUILD = {  # prints the seconds a random-weight build takes and the model's own input side
    "torchvision": "import torchvision; m = torchvision.models.get_model({name!r}, weights=None); side = 224",
    "timm": "import timm; m = timm.create_model({name!r}); side = m.pretrained_cfg['input_size'][-1]",
}
LIST = {
    "torchvision": (
        "import torchvision; print(','.join(torchvision.models.list_models(module=torchvision.models)))"
    ),
    "timm": (
        "import timm\n"
        "from timm.models import get_pretrained_cfg\n"
        "tags = ('atto', 'femto', 'pico', 'nano', 'xxs', 'tiny', 'mini', 'xs', 'small', 'b0', '18')\n"
        "def headless(n): return getattr(get_pretrained_cfg(n), 'num_classes', 1) == 0\n"
        "def rank(n): return next((i for i, t in enumerate(tags) if t in n), len(tags))\n"
        "names = [sorted(timm.list_models(module=m), key=lambda n: (headless(n), rank(n), n))\n"
        "         for m in timm.list_modules()]\n"
        "print(','.join(n[0] for n in names if n))"
    ),
}


def build_seconds(name: str, source: str = "torchvision") -> tuple[float, int]:
    """Seconds to build ``name`` with random weights (what ``SOURCE:NAME`` does), in a child, and the
    side of the images the model is made for."""
    code = (
        "import time, torch; torch.manual_seed(0); t = time.perf_counter(); "
        + BUILD[source].format(name=name)
        + "; print(time.perf_counter() - t, side)"
    )
    seconds, side = in_child(code).split()
    return float(seconds), int(side)


def classifiers(source: str = "torchvision") -> list[str]:
    return in_child(LIST[source]).split(",")


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


def zoo_row(
    name: str,
    tmp: Path,
    env: dict[str, str] | None = None,
    source: str = "torchvision",
    built: tuple | None = None,
) -> Row:
    """``name`` through both steps, at the smallest input it takes (64, else its own)."""
    env = env or dict(os.environ)
    (tmp / "u.yaml").write_text(UNSTRUCTURED)
    (tmp / "f.yaml").write_text(FILTERS)
    seconds, side = built or build_seconds(name, source)
    spec = f"{source}:{name}"
    row = Row(spec, seconds, 64)
    for size in dict.fromkeys((64, side)):
        data = ["--data", f"synthetic:3x{size}x{size}:8"]
        row.size = size
        row.evaluate = run(["evaluate", spec, *data, "--recipe", str(tmp / "u.yaml"), "--json"], env)
        if row.evaluate.outcome == "ok":
            break
    if row.evaluate.outcome == "ok":
        out = str(tmp / f"{name}.pt")
        row.shrink = run(["apply", spec, *data, "--recipe", str(tmp / "f.yaml"), "--out", out], env)
    return row


HEADER = (
    "| model | input | 50 % unstructured | 30 % filters | seconds (each step) | peak MiB (each step) |\n"
    "|---|---|---|---|---|---|"
)


def markdown_row(r: Row) -> str:
    """One model's row of the table."""
    if r.unbuilt:
        return f"| {r.model} | | not run: the library does not build it ({r.unbuilt[:60]}) | | | |"
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
    parser.add_argument("--source", choices=sorted(BUILD), default="torchvision")
    args = parser.parse_args()
    names = args.models.split(",") if args.models else classifiers(args.source)
    rows = []
    print(HEADER, flush=True)  # a row as each model is done: a run cut short keeps what it measured
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            try:
                built = build_seconds(name, args.source)
            except subprocess.CalledProcessError as err:  # the library cannot build it (it needs an
                rows.append(Row(f"{args.source}:{name}", 0.0, 0, unbuilt=err.stderr.strip().splitlines()[-1]))
                print(markdown_row(rows[-1]), flush=True)  # argument, a download, …): not pruneviz's
                continue
            if built[0] > BUILD_LIMIT_S:
                rows.append(Row(f"{args.source}:{name}", built[0], 0))
            else:
                rows.append(zoo_row(name, Path(tmp), source=args.source, built=built))
                (Path(tmp) / f"{name}.pt").unlink(missing_ok=True)
            print(markdown_row(rows[-1]), flush=True)
    defects = [r.model for r in rows if r.defect]
    if defects:
        print(f"defects: {', '.join(defects)}", file=sys.stderr)
    return 1 if defects else 0


if __name__ == "__main__":
    raise SystemExit(main())
