"""Incremental evaluation of a stack of blocks (a transformer): after a layer in block i changes, only
blocks i..L and what follows them re-run, from each block's cached output.

A transformer's blocks take and return the hidden states, so the output block i-1 gave on the last
run is exactly the input block i needs. :class:`BlockEvaluator` records every block's output per batch;
to re-run from block i it calls the model as usual with blocks 0..i-1 answering from that record
instead of computing (the embeddings, position encodings and attention masks are recomputed, which is
cheap). The same operations run on the same batches as a full forward, so the outputs are bit-for-bit
equal. No ``torch.fx`` tracing is involved: Hugging Face models do not trace, and this needs none.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

import torch
from torch import nn

from pruneviz.core.evaluate import DEFAULT_BUDGET_BYTES, FULL, NO_CACHE, BatchedEvaluator, tensor_bytes

Forward = Callable[[nn.Module, torch.Tensor], torch.Tensor]
TAIL = -1  # a layer after the last block (a language model's head): re-run only what follows the blocks


def find_blocks(model: nn.Module) -> tuple[str, nn.ModuleList] | None:
    """The model's stack of repeated blocks: the ModuleList holding the most parameters, if any."""
    best = None
    for name, module in model.named_modules():
        if isinstance(module, nn.ModuleList) and len(module) > 1:
            size = sum(p.numel() for p in module.parameters())
            if size and (best is None or size > best[0]):
                best = (size, name, module)
    return (best[1], best[2]) if best else None


def block_index(blocks_name: str, count: int, layer: str) -> int | None:
    """Which of the ``count`` blocks under ``blocks_name`` holds ``layer``, or None (outside them)."""
    prefix = f"{blocks_name}." if blocks_name else ""
    index = layer[len(prefix) :].split(".", 1)[0] if layer.startswith(prefix) else ""
    return int(index) if index.isdigit() and int(index) < count else None


def block_of(model: nn.Module, layers: Iterable[str]) -> dict[str, str]:
    """Each layer's group: ``block 3`` for a layer in the model's block stack, else its own name."""
    found = find_blocks(model)
    out = {}
    for layer in layers:
        index = block_index(found[0], len(found[1]), layer) if found else None
        out[layer] = layer if index is None else f"block {index}"
    return out


class BlockEvaluator(BatchedEvaluator):
    """Outputs of ``forward(model, batch)`` over inputs ``x``, re-evaluated after changes to the named
    layers (the interface of :class:`~pruneviz.core.evaluate.BatchedEvaluator`)."""

    def __init__(
        self,
        model: nn.Module,
        x: torch.Tensor,
        layers: Iterable[str],
        forward: Forward,
        batch_size: int = 32,
        memory_budget: int = DEFAULT_BUDGET_BYTES,
    ) -> None:
        super().__init__(x, layers, batch_size, memory_budget)
        self.model = model
        self.forward = forward
        self._cache: list[list] = []  # per block, per batch: what the block returned
        self._start: dict[str, int] = {}  # per layer: the first block to re-run, or TAIL
        found = find_blocks(model)
        if found is None or memory_budget <= 0:
            self.blocks: nn.ModuleList | None = None
            self.fallback_reason = NO_CACHE if found else "no stack of repeated blocks to re-run from"
        else:
            self.blocks_name, self.blocks = found
            self._cache = [[None] * len(self.batches) for _ in self.blocks]

    @property
    def incremental(self) -> bool:
        return self.blocks is not None

    def _cached_state(self) -> object:
        return [list(per) for per in self._cache]

    def _restore_cached(self, cached: object) -> None:
        self._cache = [list(per) for per in cached]

    def _compute(self, i: int, pending: set[str]) -> torch.Tensor:
        batch = self.batches[i]
        if not self.incremental:
            return self.forward(self.model, batch)
        self._place_layers()
        if FULL in pending or any(c not in self._start for c in pending) or self._cache[0][i] is None:
            start = 0
        else:
            starts = [self._start[c] for c in pending]
            start = (
                len(self.blocks) if all(s == TAIL for s in starts) else min(s for s in starts if s != TAIL)
            )
        with self._answering(i, start), self._recording(i, start):
            out = self.forward(self.model, batch)
        if start == 0:
            filled = sum(per is not None for per in self._cache[0])
            needed = tensor_bytes(self._cache) * len(self.batches) / max(1, filled)  # every batch's cache
            if needed > self.memory_budget:
                self.blocks, self._cache = None, []
                budget = self.memory_budget / 2**20
                self.fallback_reason = (
                    f"block output cache {needed / 2**20:.0f} MiB exceeds budget {budget:.0f} MiB"
                )
                self.invalidate()
                self._pending[i] = set()  # this batch's outputs are right: they came from a whole pass
        return out

    @contextmanager
    def _answering(self, i: int, start: int) -> Iterator[None]:
        """Blocks before ``start`` return their cached output for batch ``i`` without computing."""
        for b in range(start):
            self.blocks[b].forward = lambda *args, _out=self._cache[b][i], **kwargs: _out
        try:
            yield
        finally:
            for b in range(start):
                del self.blocks[b].forward

    @contextmanager
    def _recording(self, i: int, start: int) -> Iterator[None]:
        """Blocks from ``start`` on store what they return for batch ``i``."""

        def record(b: int):
            def hook(module, args, output):
                self._cache[b][i] = output

            return hook

        handles = [self.blocks[b].register_forward_hook(record(b)) for b in range(start, len(self.blocks))]
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()

    def _place_layers(self) -> None:
        """Where each layer sits: its block, or TAIL for a layer that runs after the last block (layers
        before the first block, like embeddings, are left out: changing them needs a full run)."""
        if self._start:
            return
        order: list[str] = []
        modules = dict(self.model.named_modules())
        last = self.blocks[-1]
        handles = [
            modules[n].register_forward_pre_hook(lambda m, a, n=n: order.append(n)) for n in self.layers
        ]
        handles.append(last.register_forward_hook(lambda m, a, o: order.append("<last block>")))
        try:
            with torch.inference_mode():
                self.forward(self.model, self.batches[0][:1])
        finally:
            for handle in handles:
                handle.remove()
        after = set(order[order.index("<last block>") + 1 :]) if "<last block>" in order else set()
        for name in self.layers:
            index = block_index(self.blocks_name, len(self.blocks), name)
            if index is not None:
                self._start[name] = index
            elif name in after:
                self._start[name] = TAIL
