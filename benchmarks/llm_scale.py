"""Real-size language models on this machine: random-initialised models of real shape (no download).

Builds SmolLM2-135M's shape (LlamaForCausalLM: 30 blocks, hidden 576, 9 query / 3 key-value heads, MLP
1536, vocabulary 49,152) and Qwen2.5-0.5B's (Qwen2: 24 blocks, hidden 896, 14 / 2 heads, MLP 4864,
vocabulary 151,936), saves each with ``save_pretrained`` beside a ``ByT5Tokenizer``, and measures what a
user waits for, each in a fresh process so that peak memory is the step's own:

* ``pruneviz info hf:DIR`` (wall time);
* opening the model as the dashboard does and its first metric (``open_session`` + ``report``);
* a slider move in the first block and in the last block: the first estimate (one chunk of windows)
  and the full refinement (every window);
* Wanda 50% and SparseGPT 50% on every layer (sequential, as ``evaluate`` runs them);
* peak resident memory of each step.

Perplexities of random weights mean nothing; the science stays on demo:gpt. Usage::

    .venv/bin/python benchmarks/llm_scale.py                    # both shapes, this CPU
    .venv/bin/python benchmarks/llm_scale.py --shapes smollm2-135m --device cuda --dtype bfloat16
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SHAPES = {
    "smollm2-135m": ("LlamaConfig", dict(
        vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
        num_attention_heads=9, num_key_value_heads=3,
        max_position_embeddings=2048, tie_word_embeddings=True,
    )),
    "qwen2.5-0.5b": ("Qwen2Config", dict(
        vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
        num_attention_heads=14, num_key_value_heads=2,
        max_position_embeddings=32768, tie_word_embeddings=True,
    )),
    "llama-3.2-1b": ("LlamaConfig", dict(
        vocab_size=128256, hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
        num_attention_heads=32, num_key_value_heads=8,
        max_position_embeddings=131072, tie_word_embeddings=True,
    )),
    "llama-3.1-8b": ("LlamaConfig", dict(
        vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
        num_attention_heads=32, num_key_value_heads=8,
        max_position_embeddings=131072, tie_word_embeddings=False,
    )),
}  # fmt: skip


def build(shape: str, root: Path) -> Path:
    """The random-initialised model of ``shape`` saved in ``root/shape`` (made once)."""
    import torch
    import transformers

    path = root / shape
    if (path / "config.json").is_file():
        return path
    config_class, fields = SHAPES[shape]
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(getattr(transformers, config_class)(**fields))
    model.save_pretrained(str(path))
    transformers.ByT5Tokenizer().save_pretrained(str(path))
    return path


STEP = r"""
import json, resource, sys, time
import torch
torch.set_num_threads({threads})
step, path, device, dtype = sys.argv[1:5]
out = {{}}
t0 = time.perf_counter()
from pruneviz.io.data import DataOptions
from pruneviz.workflows.session import LayerPlan, open_session
session = open_session("hf:" + path, device=device)
out["open_s"] = time.perf_counter() - t0
if step == "open":
    estimate = session.report(1)
    out["first_estimate_s"] = time.perf_counter() - t0
    out["first_estimate_windows"] = estimate.estimate.samples
    session.report()
    out["first_metric_s"] = time.perf_counter() - t0
elif step.startswith("slider"):
    session.report()
    down = [n for n in session.layer_names if "down_proj" in n]
    name = session.layer_names[0] if step == "slider-first" else down[-1]
    start = time.perf_counter()
    session.prune_layer(name, LayerPlan(0.5))
    estimate = session.estimate(1)
    out["first_estimate_s"] = time.perf_counter() - start
    out["first_estimate_windows"] = estimate.samples
    full = session.report()
    out["full_refinement_s"] = time.perf_counter() - start
    out["layer"] = name
elif step in ("wanda", "sparsegpt"):
    from pruneviz.workflows.sequential import apply_plans
    start = time.perf_counter()
    apply_plans(session, {{n: LayerPlan(0.5, step) for n in session.layer_names}})
    out["prune_s"] = time.perf_counter() - start
    out["perplexity"] = session.report().score
out["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
print(json.dumps(out))
"""


def step(name: str, path: Path, device: str, dtype: str, threads: int) -> dict:
    code = STEP.format(threads=threads)
    run = subprocess.run(
        [sys.executable, "-c", code, name, str(path), device, dtype], capture_output=True, text=True
    )
    if run.returncode:
        return {
            "error": run.stderr.strip().splitlines()[-1] if run.stderr.strip() else f"exit {run.returncode}"
        }
    return json.loads(run.stdout.strip().splitlines()[-1])


def info_time(path: Path) -> tuple[float, float]:
    """Wall seconds of ``pruneviz info hf:DIR`` and its peak RSS (GB)."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pruneviz", "info", f"hf:{path}"], capture_output=True, check=True)
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
    return time.perf_counter() - start, rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default="smollm2-135m,qwen2.5-0.5b", help=f"of: {', '.join(SHAPES)}")
    parser.add_argument("--steps", default="open,slider-first,slider-last,wanda,sparsegpt")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="default", help="default (fp32 on the CPU) or bfloat16, float16")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--root", default=str(Path(tempfile.gettempdir()) / "pruneviz-llm-scale"))
    args = parser.parse_args()
    for shape in args.shapes.split(","):
        path = build(shape, Path(args.root))
        seconds, rss = info_time(path)
        print(f"{shape}: info {seconds:.1f} s (peak RSS {rss:.2f} GB)", flush=True)
        for name in args.steps.split(","):
            print(
                f"  {name}: {json.dumps(step(name, path, args.device, args.dtype, args.threads))}", flush=True
            )


if __name__ == "__main__":
    main()
