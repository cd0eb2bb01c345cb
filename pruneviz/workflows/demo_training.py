"""Training the shipped demo models reproducibly: the digits classifiers, and ``demo:gpt``, a small
Llama-architecture language model over bytes, trained on the training part of the standard library's
documentation topics.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.nn.functional as F

from pruneviz.core.metrics import accuracy_and_loss
from pruneviz.io.checkpoint import save_checkpoint
from pruneviz.io.data import digits_split
from pruneviz.io.demo import ASSETS, initial_model
from pruneviz.io.hf import DEMO_GPT, save_hf
from pruneviz.io.text import DEFAULT_CONTEXT, TRAIN_SHARE, pydoc_text, windows
from pruneviz.tasks.language import LanguageModelling

DEMOS = ("cnn", "mlp", "resnet", "vit", "gpt")
DEMO_EPOCHS = {"vit": 100}  # a transformer learns 1,437 digits more slowly than the convolutional demos


@contextmanager
def reproducible() -> Iterator[None]:
    """One thread (thread count changes float summation order) and deterministic kernels, so training
    again reproduces the committed weights bit for bit."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(False)
        torch.set_num_threads(threads)


def train(name: str, out_dir: Path = ASSETS, log: Callable[[str], None] = print, **kwargs) -> Path:
    """Train demo ``name`` (one of :data:`DEMOS`) and save it under ``out_dir``."""
    if name == "gpt":
        return train_demo_gpt(Path(out_dir) / DEMO_GPT.name, log=log, **kwargs)
    return train_demo(name, out_dir, log=log, **kwargs)


def train_demo(
    name: str,
    out_dir: Path = ASSETS,
    epochs: int | None = None,
    seed: int = 0,
    log: Callable[[str], None] = print,
) -> Path:
    """Train demo classifier ``name`` on the digits training split and save it under ``out_dir``
    (deterministic: a fixed seed and batch order, :func:`reproducible` kernels) for ``epochs`` (None:
    the demo's own number, :data:`DEMO_EPOCHS`)."""
    epochs = epochs or DEMO_EPOCHS.get(name, 30)
    with reproducible():
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
    model.eval()
    out = Path(out_dir) / f"demo_{name}.pt"
    return save_checkpoint(out, model, f"demo:{name}", "digits", {"val_accuracy": f"{acc:.4f}"})


GPT_SHAPE = {
    "hidden_size": 128,
    "intermediate_size": 512,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,  # grouped-query attention: two query heads share each key/value head
    "max_position_embeddings": 256,
}


def train_demo_gpt(
    out_dir: Path = DEMO_GPT,
    steps: int = 1200,
    batch: int = 32,
    lr: float = 3e-3,
    seed: int = 0,
    log: Callable[[str], None] = print,
) -> Path:
    """Train ``demo:gpt``: a Llama-architecture causal LM over bytes (``ByT5Tokenizer``, no downloaded
    vocabulary) with the shape of :data:`GPT_SHAPE`, ``steps`` AdamW steps of ``batch`` windows of 128
    tokens drawn from the first 90% of the pydoc text; saved in fp16 with its tokenizer."""
    from transformers import ByT5Tokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = ByT5Tokenizer()
    ids = torch.tensor(tokenizer(pydoc_text(), add_special_tokens=False)["input_ids"])
    cut = int(TRAIN_SHARE * len(ids))
    train_ids, val = ids[:cut], windows(ids[cut:], DEFAULT_CONTEXT)
    config = LlamaConfig(vocab_size=len(tokenizer), tie_word_embeddings=False, use_cache=False, **GPT_SHAPE)
    task = LanguageModelling()
    with reproducible():
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
        opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01, betas=(0.9, 0.95))
        warmup = max(1, steps // 20)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _warmup_cosine(s, warmup, steps))
        gen = torch.Generator().manual_seed(seed)
        for step in range(1, steps + 1):
            model.train()
            starts = torch.randint(0, len(train_ids) - DEFAULT_CONTEXT, (batch,), generator=gen)
            x = torch.stack([train_ids[s : s + DEFAULT_CONTEXT] for s in starts.tolist()])
            opt.zero_grad()
            loss = task.batch_loss(model, x, x)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            if step % 100 == 0 or step == steps:
                model.eval()
                ppl = task.figures(task.outputs(model, val), val)["perplexity"]
                log(f"demo:gpt step {step}/{steps} loss {loss.item():.3f} validation perplexity {ppl:.3f}")
    model.eval()
    return save_hf(model.half(), tokenizer, Path(out_dir), "text:pydoc")


def _warmup_cosine(step: int, warmup: int, total: int) -> float:
    """Learning-rate factor: linear warm-up, then cosine decay to 10%."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.1 + 0.45 * (1 + math.cos(math.pi * progress))
