"""Model exporters, registered by the format names users type (``--format``).

Every format records the model and data spec it came from, so ``pruneviz evaluate file:PATH``
evaluates an exported file without further flags:

* ``state_dict`` — a pruneviz checkpoint (weights-only loadable; structurally pruned models carry the
  Torch-Pruning history that rebuilds their shapes);
* ``full`` — ``torch.save`` of the whole module (a pickle: reloading needs ``--trust-pickle``);
* ``torchscript`` — a traced TorchScript file, specs in its extra files;
* ``onnx`` — ONNX (dynamic batch), specs in its metadata; reloads through onnxruntime.
"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from pruneviz.checkpoint import save_checkpoint
from pruneviz.errors import PrunevizError
from pruneviz.registry import Registry

META_FILE = "pruneviz.json"
META_KEY = "pruneviz"


@dataclass(frozen=True)
class ExportMeta:
    """Where a model came from: the spec that rebuilds its architecture, its data, its structure."""

    model_spec: str | None
    data_spec: str | None
    input_shape: tuple[int, ...]
    structure: list | None = None

    def as_json(self) -> str:
        return json.dumps({"model_spec": self.model_spec, "data_spec": self.data_spec})


EXPORTERS: Registry[Callable[[nn.Module, Path, ExportMeta], None]] = Registry("export format")


@EXPORTERS.register("state_dict")
def _state_dict(module: nn.Module, path: Path, meta: ExportMeta) -> None:
    if meta.model_spec is None:
        raise PrunevizError("format state_dict needs a model pruneviz can rebuild; use torchscript or onnx")
    save_checkpoint(
        path, module, meta.model_spec, meta.data_spec, structure=meta.structure, input_shape=meta.input_shape
    )


FULL_FORMAT = "pruneviz-full"


@EXPORTERS.register("full")
def _full(module: nn.Module, path: Path, meta: ExportMeta) -> None:
    torch.save({"format": FULL_FORMAT, "meta": meta.as_json(), "module": module}, path)


@EXPORTERS.register("torchscript")
def _torchscript(module: nn.Module, path: Path, meta: ExportMeta) -> None:
    example = torch.zeros((1, *meta.input_shape))
    with torch.no_grad(), warnings.catch_warnings():  # deprecated upstream, still what many deploy
        warnings.simplefilter("ignore", FutureWarning)
        traced = torch.jit.trace(module.eval(), example)
        torch.jit.save(traced, str(path), _extra_files={META_FILE: meta.as_json()})


@EXPORTERS.register("onnx")
def _onnx(module: nn.Module, path: Path, meta: ExportMeta) -> None:
    import onnx

    example = torch.zeros((2, *meta.input_shape))
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()):
        raw = Path(tmp) / "model.onnx"  # the exporter may write weights beside it; we save one file
        torch.onnx.export(
            module.eval(),
            (example,),
            str(raw),
            dynamo=True,
            input_names=["x"],
            dynamic_shapes={"x": {0: "batch"}},
        )
        model = onnx.load(str(raw))
    entry = model.metadata_props.add()
    entry.key, entry.value = META_KEY, meta.as_json()
    onnx.save(model, str(path))


def export_model(module: nn.Module, path: str | Path, fmt: str, meta: ExportMeta) -> Path:
    """Write ``module`` to ``path`` in format ``fmt``; returns the path."""
    exporter = EXPORTERS.get(fmt)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        exporter(module, path, meta)
    except PrunevizError:
        raise
    except Exception as err:  # noqa: BLE001 - tracing/export failures come in many types
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise PrunevizError(f"cannot export to {fmt}: {first}") from None
    return path


def read_meta_onnx(path: Path) -> dict:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    for entry in model.metadata_props:
        if entry.key == META_KEY:
            return json.loads(entry.value)
    return {}


class OnnxModule(nn.Module):
    """An ONNX file run by onnxruntime, usable where pruneviz expects a module (evaluation only)."""

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        import onnxruntime as ort

        self.path = Path(path)
        try:
            self._session = ort.InferenceSession(str(self.path), providers=["CPUExecutionProvider"])
        except Exception as err:  # noqa: BLE001 - onnxruntime raises its own exception types
            raise PrunevizError(f"cannot read ONNX file {self.path}: {err}") from None
        self._input = self._session.get_inputs()[0].name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):  # e.g. a torch.fx Proxy: onnxruntime needs real data
            raise TypeError("an ONNX model runs on tensors only and cannot be traced")
        out = self._session.run(None, {self._input: x.detach().cpu().float().numpy()})[0]
        return torch.from_numpy(out).to(x.device)

    def __deepcopy__(self, memo: dict) -> OnnxModule:
        return OnnxModule(self.path)
