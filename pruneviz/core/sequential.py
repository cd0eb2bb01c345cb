"""Calibration inputs pushed through a transformer's blocks one block at a time, as the Wanda and
SparseGPT reference implementations run a large model: each block runs once per stage, so calibrating
every layer costs about one forward pass of the model, not one per block.

:class:`BlockRunner` captures what the model hands its first block for every calibration batch (the
hidden states and keyword arguments: attention mask, position embeddings, …) by stopping the forward
pass there, then runs block after block on those inputs: :meth:`BlockRunner.statistics` gathers the
inputs of some of the block's layers while the block runs as it is, :meth:`BlockRunner.advance` runs it
again (pruned by now) and hands its outputs to the next block. Only one block's statistics and one
stage's hidden states are held at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from pruneviz.core.importance import InputStatistics, collect_inputs

Run = Callable[[nn.Module, torch.Tensor], Any]  # the model's forward pass over one batch


class _Captured(Exception):
    """Stops a forward pass once the first block's inputs are recorded."""


class BlockRunner:
    """The calibration ``batches`` at the input of ``blocks`` (the block stack of ``model``), advanced
    one block at a time."""

    def __init__(
        self, model: nn.Module, blocks: nn.ModuleList, batches: list[torch.Tensor], run: Run
    ) -> None:
        self.blocks = blocks
        self.inputs: list[tuple[tuple, dict]] = []

        def capture(module, args, kwargs):
            self.inputs.append((args, kwargs))
            raise _Captured

        handle = blocks[0].register_forward_pre_hook(capture, with_kwargs=True)
        try:
            with torch.no_grad():
                for batch in batches:
                    try:
                        run(model, batch)
                    except _Captured:
                        continue
        finally:
            handle.remove()

    def statistics(self, i: int, modules: dict[str, nn.Module], gram: bool) -> dict[str, InputStatistics]:
        """The inputs of ``modules`` (layers of block ``i``) while block ``i`` runs on its inputs."""
        with collect_inputs(modules, gram) as collected, torch.no_grad():
            for args, kwargs in self.inputs:
                self.blocks[i](*args, **kwargs)
        return collected.result()

    def advance(self, i: int) -> None:
        """Run block ``i`` as it is now; its outputs become the next block's inputs."""
        with torch.no_grad():
            for k, (args, kwargs) in enumerate(self.inputs):
                out = self.blocks[i](*args, **kwargs)
                hidden = out[0] if isinstance(out, tuple) else out
                if args:
                    self.inputs[k] = ((hidden, *args[1:]), kwargs)
                else:  # the hidden states passed by name
                    self.inputs[k] = (args, kwargs | {"hidden_states": hidden})
