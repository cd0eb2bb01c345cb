"""The model file format pruneviz writes: weights plus the specs needed to rebuild and evaluate them.

A checkpoint is a plain dict of strings and tensors, so it loads with ``torch.load(weights_only=True)``
and never needs unpickling trust. Because it names its model and data spec,
``pruneviz evaluate file:PATH`` needs no further flags.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

FORMAT = "pruneviz-checkpoint"
VERSION = 1


@dataclass
class Checkpoint:
    """What a pruneviz model file holds."""

    model_spec: str
    data_spec: str | None
    state_dict: dict[str, torch.Tensor]
    info: dict[str, str] = field(default_factory=dict)
    # Structurally pruned models: the Torch-Pruning history that turns a fresh ``model_spec`` into this
    # architecture, and the sample shape it was traced with (see pruneviz.workflows.structured).
    structure: list | None = None
    input_shape: tuple[int, ...] | None = None


def save_checkpoint(
    path: str | Path,
    module: nn.Module,
    model_spec: str,
    data_spec: str | None,
    info: dict[str, str] | None = None,
    structure: list | None = None,
    input_shape: tuple[int, ...] | None = None,
) -> Path:
    """Write ``module``'s weights with the specs that rebuild it; returns the path written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "model_spec": model_spec,
        "data_spec": data_spec or "",
        "state_dict": state,
        "info": dict(info or {}),
    }
    if structure is not None:
        payload["structure"] = [[name, bool(out), [int(i) for i in idxs]] for name, out, idxs in structure]
        payload["input_shape"] = [int(d) for d in input_shape or ()]
    torch.save(payload, path)
    return path


def is_checkpoint(obj: object) -> bool:
    return isinstance(obj, dict) and obj.get("format") == FORMAT


def from_payload(obj: dict) -> Checkpoint:
    """Interpret an already-loaded (weights-only) payload as a :class:`Checkpoint`."""
    return Checkpoint(
        model_spec=obj["model_spec"],
        data_spec=obj["data_spec"] or None,
        state_dict=obj["state_dict"],
        info=obj.get("info", {}),
        structure=obj.get("structure"),
        input_shape=tuple(obj["input_shape"]) if obj.get("input_shape") else None,
    )
