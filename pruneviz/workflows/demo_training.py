"""Training the shipped demo models on the digits training split, reproducibly."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

from pruneviz.core.metrics import accuracy_and_loss
from pruneviz.io.checkpoint import save_checkpoint
from pruneviz.io.data import digits_split
from pruneviz.io.demo import ASSETS, initial_model


def train_demo(
    name: str,
    out_dir: Path = ASSETS,
    epochs: int = 30,
    seed: int = 0,
    log: Callable[[str], None] = print,
) -> Path:
    """Train demo model ``name`` on the digits training split and save it under ``out_dir``.

    Deterministic: a fixed seed, fixed batch order, deterministic kernels and one thread (thread count
    changes float summation order), so re-running reproduces the committed weights bit for bit.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    try:
        model = initial_model(name, seed)
        (x_train, y_train), (x_val, y_val) = digits_split()
        opt = torch.optim.Adam(model.parameters(), lr=3e-3, weight_decay=1e-4)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
        gen = torch.Generator().manual_seed(seed)
        for epoch in range(epochs):
            model.train()
            for idx in torch.randperm(len(x_train), generator=gen).split(64):
                opt.zero_grad()
                F.cross_entropy(model(x_train[idx]), y_train[idx]).backward()
                opt.step()
            sched.step()
            if (epoch + 1) % 10 == 0 or epoch + 1 == epochs:
                model.eval()
                with torch.inference_mode():
                    acc, _ = accuracy_and_loss(model(x_val), y_val)
                log(f"demo:{name} epoch {epoch + 1}/{epochs} val accuracy {acc:.4f}")
    finally:
        torch.use_deterministic_algorithms(False)
        torch.set_num_threads(threads)
    model.eval()
    out = Path(out_dir) / f"demo_{name}.pt"
    return save_checkpoint(out, model, f"demo:{name}", "digits", {"val_accuracy": f"{acc:.4f}"})
