"""pruneviz's sequential Wanda and SparseGPT against the reference implementations, on demo:gpt.

The reference code is locuslab/wanda (its ``lib/prune.py``: ``prune_wanda`` and ``prune_sparsegpt``, the
latter the SparseGPT authors' code). It is not part of pruneviz and is not committed here: point
``--reference`` at a checkout of it (e.g. the one the ``fetch`` tool brings). Both sides get the very same
calibration windows (pruneviz's 128 windows of the training part of the text) and are measured by the
same evaluation (pruneviz's perplexity over every validation window), so the only difference left is the
algorithm. Three adaptations let the reference run here, none touching its algorithm: its C4 loader is
replaced by those calibration windows, its decoder layers (written for transformers 4, which computed
rotary embeddings inside each layer) are handed the position embeddings transformers 5 computes once per
model, and its timing calls to ``torch.cuda.synchronize`` do nothing on a machine without CUDA.

    .venv/bin/python benchmarks/reference_check.py --reference /work/.mirror/locuslab+wanda/repo
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import torch

from pruneviz.io.data import DataOptions
from pruneviz.workflows.sequential import apply_plans
from pruneviz.workflows.session import LayerPlan, Opaque, open_session


def reference_lib(checkout: Path) -> object:
    """The reference's ``lib`` package, copied out of ``checkout`` (a git repository or a folder)."""
    target = Path(tempfile.mkdtemp(prefix="wanda-reference-")) / "lib"
    target.mkdir()
    # data.py (C4 through `datasets`, a download) is replaced: run_reference hands over the windows.
    (target / "data.py").write_text("def get_loaders(*args, **kwargs):\n    raise NotImplementedError\n")
    for name in ("__init__.py", "prune.py", "sparsegpt.py", "layerwrapper.py", "ablate.py"):
        try:
            text = subprocess.run(
                ["git", "-C", str(checkout), "show", f"HEAD:lib/{name}"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        except subprocess.CalledProcessError:
            text = (checkout / "lib" / name).read_text() if (checkout / "lib" / name).exists() else ""
        (target / name).write_text(text)
    sys.path.insert(0, str(target.parent))
    return importlib.import_module("lib.prune")


def with_position_embeddings(model) -> None:
    """transformers 5 computes rotary embeddings once per model and hands them to every layer; the
    reference calls layers as transformers 4 did (position_ids only). Give each layer what it needs."""
    rotary = model.model.rotary_emb
    for layer in model.model.layers:
        forward = layer.forward

        def patched(hidden, *args, _forward=forward, **kwargs):
            if kwargs.get("position_embeddings") is None:
                ids = kwargs.get("position_ids")
                if ids is None:
                    ids = torch.arange(hidden.shape[1]).unsqueeze(0)
                kwargs["position_embeddings"] = rotary(hidden, ids)
            return _forward(hidden, *args, **kwargs)

        layer.forward = patched


@contextlib.contextmanager
def without_cuda_sync():
    """The reference times SparseGPT with ``torch.cuda.synchronize()``, which fails without CUDA."""
    synchronize = torch.cuda.synchronize
    if not torch.cuda.is_available():
        torch.cuda.synchronize = lambda *args, **kwargs: None
    try:
        yield
    finally:
        torch.cuda.synchronize = synchronize


def run_reference(prune, method: str, session, sparsity: float) -> tuple[float, float]:
    """(perplexity, seconds) of the reference's ``method`` on a fresh copy of the session's model."""
    model = session.calibration().copy()
    model.seqlen, model.hf_device_map = session.data.x.shape[1], {}
    with_position_embeddings(model)
    windows = session.data.calibration[0]
    prune.get_loaders = lambda *a, **k: ([(w.unsqueeze(0), w.unsqueeze(0)) for w in windows], None)
    args = SimpleNamespace(nsamples=len(windows), seed=0, sparsity_ratio=sparsity, use_variant=False)
    start = time.perf_counter()
    with torch.no_grad(), contextlib.redirect_stdout(io.StringIO()), without_cuda_sync():
        if method == "wanda":
            prune.prune_wanda(args, model, None, device=torch.device("cpu"))
        else:
            prune.prune_sparsegpt(args, model, None, torch.device("cpu"))
    seconds = time.perf_counter() - start
    for layer in model.model.layers:
        del layer.forward  # back to the class's own
    measured = session.fork(keep_weights=False)
    measured.take_weights(model.state_dict(), Opaque("the reference's pruning"))
    return measured.report().score, seconds


def run_pruneviz(method: str, session, sparsity: float) -> tuple[float, float]:
    work = session.fork(keep_weights=False)
    start = time.perf_counter()
    apply_plans(work, {n: LayerPlan(sparsity, method) for n in work.layer_names})
    return work.report().score, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", required=True, help="a checkout of github.com/locuslab/wanda")
    parser.add_argument("--sparsities", default="0.5,0.7")
    parser.add_argument("--windows", type=int, default=364, help="validation windows (364 = all)")
    args = parser.parse_args()
    torch.manual_seed(0)
    prune = reference_lib(Path(args.reference))
    session = open_session("demo:gpt", data_options=DataOptions(limit=args.windows), device="cpu")
    print(f"demo:gpt dense perplexity {session.report().score:.4f} on {len(session.data)} windows")
    print("method     sparsity  pruneviz            reference           difference")
    for sparsity in (float(s) for s in args.sparsities.split(",")):
        for method in ("wanda", "sparsegpt"):
            ours, t_ours = run_pruneviz(method, session, sparsity)
            theirs, t_theirs = run_reference(prune, method, session, sparsity)
            print(
                f"{method:<10} {sparsity:>7.0%}  {ours:8.4f} ({t_ours:5.1f} s)"
                f"  {theirs:8.4f} ({t_theirs:5.1f} s)  {100 * (ours - theirs) / theirs:+.2f}%",
                flush=True,
            )


if __name__ == "__main__":
    main()
