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

from pruneviz.core.errors import PrunevizError

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


def from_payload(obj: dict, source: str = "checkpoint") -> Checkpoint:
    """Interpret an already-loaded (weights-only) payload as a :class:`Checkpoint`, checking every field
    (a file is someone else's input: a wrong type is one readable line, never a crash further on)."""

    def bad(what: str) -> PrunevizError:
        return PrunevizError(f"{source} is not a valid pruneviz checkpoint: {what}")

    spec, data = obj.get("model_spec"), obj.get("data_spec")
    if not isinstance(spec, str) or not spec:
        raise bad("'model_spec' must name the model it was saved from")
    if data is not None and not isinstance(data, str):
        raise bad("'data_spec' must be a data spec or empty")
    state = obj.get("state_dict")
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise bad("'state_dict' must map parameter names to tensors")
    info = obj.get("info", {})
    if not isinstance(info, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in info.items()
    ):
        raise bad("'info' must map names to text")
    structure, shape = obj.get("structure"), obj.get("input_shape")
    if structure is not None and not _is_history(structure):
        raise bad("'structure' must be a list of [layer, out-channels?, [channel indices]]")
    if shape is not None and not (isinstance(shape, list | tuple) and all(_is_count(d) for d in shape)):
        raise bad("'input_shape' must be a list of positive whole numbers")
    return Checkpoint(
        model_spec=spec,
        data_spec=data or None,
        state_dict=state,
        info=dict(info),
        structure=structure,
        input_shape=tuple(shape) if shape else None,
    )


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _is_history(value: object) -> bool:
    return isinstance(value, list) and all(
        isinstance(step, list | tuple)
        and len(step) == 3
        and isinstance(step[0], str)
        and isinstance(step[1], bool)
        and isinstance(step[2], list | tuple)
        and all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in step[2])
        for step in value
    )
