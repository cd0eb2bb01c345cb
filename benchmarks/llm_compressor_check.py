"""An llm-compressor recipe written by pruneviz, applied by llm-compressor itself: the check that the
per-layer sparsities chosen in the dashboard are the ones llm-compressor applies at scale.

llm-compressor 0.14 pins torch <= 2.14.0, transformers <= 5.17 and compressed-tensors 0.19, so it cannot
join pruneviz's requirements: this script makes a virtualenv of its own (``--venv``; created on first use
with torch 2.14.1 from this machine's disk and llm-compressor installed without its torch pin), writes
for each case the dense demo:gpt, pruneviz's calibration windows and the recipe (``pruneviz apply --format
llm-compressor-recipe``), runs ``oneshot`` there (``llm_compressor_oneshot.py``), and compares what came
back with what was asked: every layer's fraction of zeros, and the perplexity of llm-compressor's model
beside pruneviz's own result for the same recipe (the same evaluation: pruneviz's perplexity on demo:gpt's
default validation windows).

    .venv/bin/python benchmarks/llm_compressor_check.py [--venv /tmp/pruneviz-llm-compressor]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from pruneviz.io.hf import save_hf
from pruneviz.workflows.llm_compressor import llm_compressor_recipe, write_llm_compressor_recipe
from pruneviz.workflows.recipe import apply_recipe, parse_recipe
from pruneviz.workflows.session import open_session

HERE = Path(__file__).resolve().parent
PACKAGES = [
    "torch==2.14.1",
    "transformers==5.17.0",
    "compressed-tensors==0.19.0",
    "accelerate",
    "datasets",
    "loguru",
    "nvidia-ml-py",
    "pillow",
    "pyyaml",
    "tqdm",
    "requests",
]
UNPINNED = ["llmcompressor==0.14.0.1", "auto-round==0.15.1"]  # installed without their torch pin
CASES = {
    "sparsegpt, OWL 60%": {"default": {"sparsity": 0.6, "criterion": "sparsegpt"}, "allocation": "owl"},
    "wanda 2:4": {"default": {"sparsity": 0.5, "criterion": "wanda", "granularity": "2:4"}},
    "wanda 50%, sparsegpt 70% in block 3": {
        "default": {"sparsity": 0.5, "criterion": "wanda"},
        "layers": {
            f"model.layers.3.{p}": {"sparsity": 0.7, "criterion": "sparsegpt"}
            for p in ("mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")
        },
    },
}


def virtualenv(path: Path) -> Path:
    python = path / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
        pip = [str(path / "bin" / "pip"), "install", "-q"]
        subprocess.run([*pip, *PACKAGES], check=True)
        subprocess.run([*pip, "--no-deps", *UNPINNED], check=True)
    return python


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", type=Path, default=Path(tempfile.gettempdir()) / "pruneviz-llm-compressor")
    args = parser.parse_args()
    python = virtualenv(args.venv)
    version = subprocess.run(
        [
            str(python),
            "-c",
            "from importlib.metadata import version as v; print(v('llmcompressor'), v('torch'))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    print(
        f"llm-compressor {version[0]} (torch {version[1]}) in {args.venv}; demo:gpt, 128 calibration windows"
    )
    header = ("case", "layers", "max |zeros - asked|", "ppl pruneviz", "ppl llm-compressor")
    print(f"{header[0]:<38} {header[1]:>6} {header[2]:>20} {header[3]:>13} {header[4]:>19}")
    for name, body in CASES.items():
        session = open_session("demo:gpt", device="cpu")
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            save_hf(session.working, session.model.tokenizer, tmp / "dense", session.data.spec)
            torch.save(session.calibration().x.clone(), tmp / "calibration.pt")
            apply_recipe(session, parse_recipe({"pruneviz": 1} | body))
            ours = session.report().score
            recipe = write_llm_compressor_recipe(session, tmp / "recipe.yaml")
            asked = {
                n: s
                for m in llm_compressor_recipe(session)["sparsity_stage"]["sparsity_modifiers"].values()
                for n, s in zip(m["targets"], m["sparsity"])
            }
            subprocess.run(
                [str(python), str(HERE / "llm_compressor_oneshot.py"), str(tmp / "dense"), str(recipe),
                 str(tmp / "calibration.pt"), str(tmp / "out")],
                check=True, capture_output=True,
            )  # fmt: skip
            found = json.loads((tmp / "out" / "sparsity.json").read_text())["sparsity"]
            gap = max(abs(found[n] - s) for n, s in asked.items())
            theirs = open_session(f"hf:{tmp / 'out'}", session.data.spec, device="cpu").report().score
        print(f"{name:<38} {len(asked):>6} {gap:>20.4f} {ours:>13.4f} {theirs:>19.4f}")


if __name__ == "__main__":
    main()
