"""Everything in pruneviz that only a GPU can check, in one short run that prints one table: what a lent
GPU machine runs first (``make`` is not needed; the project's virtualenv is).

* the semi-structured tests (``tests/io/test_semistructured.py``, skipped without a GPU);
* 2:4 exports (``semi-structured``) of demo:cnn and demo:gpt, reloaded onto sparse tensor cores and
  verified;
* the hardware report's GPU rows: every prunable layer of demo:gpt and of SmolLM2-135M's shape (random
  weights) with 2:4 masks, timed dense (fp32, fp16), on 2:4 sparse tensor cores, CSR/BSR, shrunk and
  int8, with the totals;
* CUDA latency: ``pruneviz latency`` of a filter removal (demo:cnn) and of demo:gpt's prefill/decode;
* int8 and int4 weights on CUDA (int4 in bfloat16): the live metric against the float one, and a
  state_dict export of each reloaded and verified.

On a machine without a CUDA GPU every row says why it cannot run; ``--device cpu`` runs what can run on
the CPU (a dry run of this script itself). ::

    .venv/bin/python benchmarks/gpu_check.py [--fast] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from llm_scale import build  # noqa: E402 - the benchmark beside this one makes the real-size shapes

from pruneviz.core.quantize import QUANTIZATIONS  # noqa: E402
from pruneviz.io.data import DataOptions  # noqa: E402
from pruneviz.io.models import ModelOptions  # noqa: E402
from pruneviz.io.semistructured import unsupported_reason  # noqa: E402
from pruneviz.workflows.apply import apply_and_measure, export_and_verify  # noqa: E402
from pruneviz.workflows.hardware import TimingCache, measure_hardware  # noqa: E402
from pruneviz.workflows.recipe import parse_recipe  # noqa: E402
from pruneviz.workflows.session import LayerPlan, open_session  # noqa: E402

Row = tuple[str, str, str]  # check, status, what it measured
TWO_FOUR = {"pruneviz": 1, "default": {"sparsity": 0.5, "granularity": "2:4"}}


def semi_structured_tests() -> list[Row]:
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/io/test_semistructured.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr[-300:]
    return [("tests/io/test_semistructured.py", "OK" if proc.returncode == 0 else "FAIL", summary)]


def semi_structured_exports(device: str) -> list[Row]:
    rows = []
    for spec in ("demo:cnn", "demo:gpt"):
        session = open_session(spec, device=device)
        applied = apply_and_measure(session, parse_recipe(TWO_FOUR))
        with tempfile.TemporaryDirectory() as tmp:
            check = export_and_verify(session, applied, Path(tmp) / "two_four.pt", "semi-structured")
        shown = session.task.metric.format
        detail = f"{shown(check.score)} on sparse tensor cores (session {shown(check.expected)})"
        rows.append((f"semi-structured export, {spec}", "OK" if check.ok else "FAIL", detail))
    return rows


def hardware_rows(device: str, fast: bool) -> list[Row]:
    rows = []
    specs = ["demo:gpt"]
    if not fast:
        specs.append(f"hf:{build('smollm2-135m', Path(tempfile.gettempdir()) / 'pruneviz-shapes')}")
    for spec in specs:
        session = open_session(spec, data_options=DataOptions(limit=8, calibration=8), device=device)
        session.apply_layer_plans({n: LayerPlan(0.5, "magnitude", "2:4") for n in session.layer_names})
        report = measure_hardware(session, (1, 16), break_even=not fast, cache=TimingCache(None))
        for kernel, t in report.totals().items():
            speed = ", ".join(
                f"batch {b}: {t['ms'][b]:.3f} ms (x{t['speedup'][b]:.2f})" for b in report.batches
            )
            rows.append((f"hardware {spec.split('/')[-1]} {kernel}", "OK", f"{t['layers']} layers; {speed}"))
        rows += [("break-even", "OK", line) for line in report.break_even_lines()[:4]]
    return rows


def latency(device: str) -> list[Row]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        recipe = Path(tmp) / "filters.yaml"
        recipe.write_text("pruneviz: 1\nstructure: {filters: 0.5}\n")
        for spec, extra in (("demo:cnn", ["--recipe", str(recipe)]), ("demo:gpt", [])):
            command = ["latency", spec, "--device", device, "--json", *extra]
            proc = subprocess.run(
                [str(Path(sys.executable).parent / "pruneviz"), *command],
                cwd=ROOT,
                capture_output=True,
                text=True,
            )
            what = f"pruneviz latency {spec} --device {device}"
            if proc.returncode:
                rows.append((what, "FAIL", proc.stderr.strip()[-300:]))
                continue
            out = json.loads(proc.stdout)
            rows.append(
                (what, "OK", json.dumps({k: v for k, v in out.items() if k not in ("model", "device")}))
            )
    return rows


def quantized(device: str) -> list[Row]:
    rows = []
    for scheme, dtype in (("int8", "float32"), ("int4", "bfloat16")):
        reason = QUANTIZATIONS.get(scheme).why_not(device, getattr(torch, dtype))
        if reason:
            rows.append((f"{scheme} weights on {device} (demo:gpt)", "UNAVAILABLE", reason))
            continue
        session = open_session("demo:gpt", options=ModelOptions(dtype=dtype), device=device)
        before = session.report().score
        applied = apply_and_measure(session, parse_recipe({"pruneviz": 1, "quantize": {"weights": scheme}}))
        with tempfile.TemporaryDirectory() as tmp:
            check = export_and_verify(session, applied, Path(tmp) / f"{scheme}.pt", "state_dict")
        detail = f"perplexity {before:.4f} -> {applied.pruned.score:.4f}; export reloaded {check.score:.4f}"
        rows.append((f"{scheme} weights on {device} (demo:gpt)", "OK" if check.ok else "FAIL", detail))
    return rows


def run(
    name: str, check: Callable[[], list[Row]], needs: Callable[[], str | None] = lambda: None
) -> list[Row]:
    """The check's rows, or one row saying why it cannot run here, or one saying how it failed."""
    reason = needs()
    if reason:
        return [(name, "UNAVAILABLE", reason)]
    start = time.perf_counter()
    try:
        rows = check()
    except Exception as err:  # noqa: BLE001 - a failing check is a row of the table, the others still run
        traceback.print_exc()
        return [(name, "FAIL", f"{type(err).__name__}: {err}"[:300])]
    print(f"{name}: {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="demo:gpt only, no break-even search")
    parser.add_argument("--device", default="cuda", help="cuda (default), or cpu for a dry run of the script")
    args = parser.parse_args()
    device = args.device
    name = torch.cuda.get_device_name() if torch.cuda.is_available() else "no CUDA GPU"
    print(f"pruneviz GPU check on {name}, torch {torch.__version__}, checks on {device}")

    def gpu() -> str | None:
        return None if device == "cpu" or torch.cuda.is_available() else "this machine has no CUDA GPU"

    rows = [
        *run("semi-structured tests", semi_structured_tests),
        *run(
            "semi-structured exports",
            lambda: semi_structured_exports(device),
            lambda: unsupported_reason(device),
        ),
        *run(f"hardware report on {device}", lambda: hardware_rows(device, args.fast), gpu),
        *run(f"latency on {device}", lambda: latency(device), gpu),
        *run(f"quantised weights on {device}", lambda: quantized(device), gpu),
    ]
    width = max(len(r[0]) for r in rows)
    for check, status, detail in rows:
        print(f"{check:<{width}}  {status:<11}  {detail}")
    return 1 if any(status == "FAIL" for _, status, _ in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
