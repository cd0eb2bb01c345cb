"""Causal language modelling: windows of tokens, next-token cross-entropy, perplexity (lower is better).

Perplexity is exp of the mean next-token negative log-likelihood over every predicted token (each
window predicts its tokens 2..T from the ones before). Outputs stay small however large the
vocabulary: per window, the summed NLL, the number of correct top-1 predictions and the token count.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from pruneviz.core.blockwise import BlockEvaluator, block_of
from pruneviz.core.evaluate import DEFAULT_BUDGET_BYTES
from pruneviz.core.timing import token_speed
from pruneviz.io.data import DataSet
from pruneviz.io.models import LoadedModel
from pruneviz.io.text import load_text
from pruneviz.tasks.base import Z95, Estimate, LatencyOptions, Metric, Task, Timing
from pruneviz.tasks.structure import TRANSFORMER, StructureKind

BATCH_WINDOWS = 32  # at most, per batch
BATCH_FLOP = 5e10  # about what one batch may cost: half a second or so on a 2-core CPU


def batch_windows(module: nn.Module, tokens: int) -> int:
    """Windows per evaluation batch: as many as cost about :data:`BATCH_FLOP` (2 FLOP per parameter
    and token), at most :data:`BATCH_WINDOWS` — a large model is evaluated a few windows at a time, so a
    first estimate comes quickly and a cancelled refinement stops soon."""
    params = sum(p.numel() for p in module.parameters())
    return max(1, min(BATCH_WINDOWS, int(BATCH_FLOP / max(1, 2 * params * tokens))))


HEAD_ROWS = 1024  # token positions whose logits (vocabulary-wide, fp32) exist at once


def logits(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Next-token logits (batch, tokens, vocabulary) of a causal LM, without a key/value cache."""
    out = module(input_ids=x, use_cache=False)
    return out.logits if hasattr(out, "logits") else out


def decoder_and_head(module: nn.Module) -> tuple[nn.Module, nn.Module] | None:
    """The model's decoder and output head when its logits are exactly ``head(decoder(x))`` (every
    family pruneviz knows; a model that rescales or caps its logits answers None)."""
    config = getattr(module, "config", None)
    if config is None or any(getattr(config, k, None) for k in ("final_logit_softcapping", "logit_scale")):
        return None
    decoder = getattr(module, "get_decoder", lambda: None)()
    head = getattr(module, "get_output_embeddings", lambda: None)()
    return (decoder, head) if isinstance(decoder, nn.Module) and isinstance(head, nn.Module) else None


def token_losses(module: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per predicted token (batch, tokens - 1): its next-token NLL (nats) and whether the top-1
    prediction was right. The head runs on a few windows (about :data:`HEAD_ROWS` positions) at a
    time, so the logits of a whole batch (positions × vocabulary, in fp32) never exist at once; each
    window's figures are the very ones the whole batch's logits give."""
    targets = x[:, 1:]
    parts = decoder_and_head(module)
    if parts is None:
        return _losses(logits(module, x)[:, :-1].float(), targets)
    decoder, head = parts
    hidden = decoder(input_ids=x, use_cache=False).last_hidden_state[:, :-1]
    windows = max(1, HEAD_ROWS // max(1, targets.shape[1]))
    pairs = [_losses(head(h).float(), t) for h, t in zip(hidden.split(windows), targets.split(windows))]
    return torch.cat([nll for nll, _ in pairs]), torch.cat([correct for _, correct in pairs])


def _losses(scores: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    nll = F.cross_entropy(scores.transpose(1, 2), targets, reduction="none")
    return nll, (scores.argmax(-1) == targets).float()


class LanguageModelling(Task):
    """Batches are token windows; a window is its own target, shifted by one token."""

    name = "language-modelling"
    metric = Metric("perplexity", "Perplexity", higher_is_better=False, is_fraction=False)
    extra_figures: ClassVar[dict[str, str]] = {"accuracy": "Next-token accuracy"}
    # Captum's attributions need class targets; a transformer has no BatchNorm to rank filters by
    unsupported_criteria: ClassVar[frozenset[str]] = frozenset({"activation", "bn_scale"})
    generates = True
    lottery_note = (
        "The lottery ticket experiment (Frankle & Carbin) trains classifiers from scratch and compares "
        "accuracy and early stopping; it is not offered for language models here."
    )
    export_formats: ClassVar[tuple[str, ...]] = (
        "hf",
        "state_dict",
        "safetensors",
        "torch-prune",
        "compressed-tensors",
        "compressed-tensors-dense",
        "semi-structured",
    )
    serving_format: ClassVar[str | None] = "compressed-tensors-dense"  # transformers and vLLM load it

    load_data = staticmethod(load_text)

    def batch_loss(self, module: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        scores = logits(module, x)[:, :-1]
        return F.cross_entropy(scores.reshape(-1, scores.shape[-1]).float(), y[:, 1:].reshape(-1))

    def size_of(self, data: DataSet) -> str:
        return f"{len(data)} windows of {data.x.shape[1]} tokens"

    def prunable(self, model: nn.Module, modules: dict[str, nn.Module]) -> dict[str, nn.Module]:
        """The projections inside the transformer blocks, as Wanda, SparseGPT and OWL prune them: the
        output head (one row per vocabulary entry) stays dense unless named with --extra-layer."""
        groups = block_of(model, modules)
        return {n: m for n, m in modules.items() if groups[n] != n}

    def logits(self, module: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return logits(module, x)

    def forward(self, module: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """Per window: summed next-token NLL (nats), correct top-1 predictions, predicted tokens."""
        nll, correct = token_losses(module, x)
        count = torch.full_like(nll[:, 0], nll.shape[1])
        return torch.stack([nll.sum(1), correct.sum(1), count], dim=1).double()

    def evaluator(
        self,
        module: nn.Module,
        x: torch.Tensor,
        layers: Iterable[str],
        memory_budget: int = DEFAULT_BUDGET_BYTES,
        architecture: nn.Module | None = None,
    ) -> BlockEvaluator:
        return BlockEvaluator(
            module, x, layers, self.forward, batch_windows(module, x.shape[1]), memory_budget
        )

    def outputs(self, module: nn.Module, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return torch.cat([self.forward(module, b) for b in x.split(BATCH_WINDOWS)])

    def figures(self, outputs: torch.Tensor, y: torch.Tensor) -> dict[str, float | None]:
        nll, correct, count = outputs.sum(0).tolist()
        loss = nll / count
        return {"perplexity": math.exp(loss), "loss": loss, "accuracy": correct / count}

    def tolerance(self, samples: int) -> float:
        return 1e-3  # perplexity: a reloaded export in the same precision computes the same numbers

    def estimate(self, outputs: torch.Tensor, y: torch.Tensor, total: int) -> Estimate:
        """Perplexity from the mean next-token NLL of the windows seen, ± 1.96 standard errors of that
        mean (windows are the samples), narrowed by the share of windows already seen."""
        score = self.figures(outputs, y)["perplexity"]
        n = len(outputs)
        if n >= total:
            return Estimate(score, score, score, n, total, "windows")
        per_window = outputs[:, 0] / outputs[:, 2]  # mean NLL of each window
        spread = per_window.std().item() if n > 1 else float("inf")
        half = Z95 * spread / math.sqrt(n) * math.sqrt((total - n) / max(total - 1, 1))
        loss = math.log(score)
        return Estimate(score, math.exp(loss - half), math.exp(loss + half), n, total, "windows")

    def structure(self, model: LoadedModel) -> StructureKind:
        return TRANSFORMER

    def latency(
        self,
        dense: nn.Module,
        pruned: nn.Module,
        data: DataSet,
        device: torch.device,
        options: LatencyOptions,
    ) -> tuple[list[Timing], dict]:
        """Tokens per second: a batch of windows prefilled at once, and greedy decoding at batch 1 with
        the key/value cache."""
        windows = data.x[: options.windows]
        d = token_speed(dense, windows, options.decode_tokens, options.repeats)
        p = token_speed(pruned, windows, options.decode_tokens, options.repeats)
        prefill = f"prefill ({len(windows)} x {windows.shape[1]} tokens)"
        decode = f"decode (batch 1, {options.decode_tokens} tokens)"
        timings = [
            Timing(prefill, "tokens/s", d.prefill, p.prefill, more_is_faster=True),
            Timing(decode, "tokens/s", d.decode, p.decode, more_is_faster=True),
        ]
        fields = {
            "prefill_tokens_per_s": {"dense": d.prefill, "pruned": p.prefill},
            "decode_tokens_per_s": {"dense": d.decode, "pruned": p.decode},
        }
        return timings, fields
