"""Model exporters, registered by the format names users type (``--format``).

Every format records the model and data spec it came from, so ``pruneviz evaluate file:PATH``
evaluates an exported file without further flags:

* ``state_dict`` — a pruneviz checkpoint (weights-only loadable; structurally pruned models carry the
  Torch-Pruning history that rebuilds their shapes);
* ``safetensors`` — the (masked) weights in safetensors, specs in its metadata;
* ``torch-prune`` — a checkpoint in ``torch.nn.utils.prune``'s form (``weight_orig`` + ``weight_mask``);
* ``full`` — ``torch.save`` of the whole module (a pickle: reloading needs ``--trust-pickle``);
* ``torchscript`` — a traced TorchScript file, specs in its extra files;
* ``onnx`` — ONNX (dynamic batch), specs in its metadata; reloads through onnxruntime;
* ``semi-structured`` — a checkpoint of 2:4 weights naming the Linear layers that
  ``torch.sparse.to_sparse_semi_structured`` converts on load (written only on a GPU where that
  conversion runs; see :mod:`pruneviz.semistructured`).
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


@EXPORTERS.register("safetensors")
def _safetensors(module: nn.Module, path: Path, meta: ExportMeta) -> None:
    from safetensors.torch import save_file

    if meta.structure:
        raise PrunevizError(
            "safetensors holds tensors only; a shrunk model needs state_dict, torchscript or onnx"
        )
    state = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    save_file(
        state, str(path), metadata={"model_spec": meta.model_spec or "", "data_spec": meta.data_spec or ""}
    )


@EXPORTERS.register("torch-prune")
def _torch_prune(module: nn.Module, path: Path, meta: ExportMeta) -> None:
    """``torch.nn.utils.prune``'s own form: each pruned layer keeps ``weight_orig`` and ``weight_mask``,
    so users can go on with PyTorch's pruning API."""
    import torch.nn.utils.prune as tprune

    from pruneviz.layers import prunable_modules
    from pruneviz.models import clone_module

    if meta.model_spec is None:
        raise PrunevizError("format torch-prune needs a model pruneviz can rebuild; use torchscript or onnx")
    copy = clone_module(module)
    for layer in prunable_modules(copy).values():
        tprune.custom_from_mask(layer, "weight", mask=(layer.weight != 0))
    state = {k: v.detach().cpu() for k, v in copy.state_dict().items()}
    save_checkpoint(path, _StateOnly(state), meta.model_spec, meta.data_spec, info={"form": "torch-prune"})


class _StateOnly(nn.Module):
    """Carries a ready-made state_dict to :func:`save_checkpoint`."""

    def __init__(self, state: dict[str, torch.Tensor]) -> None:
        super().__init__()
        self._state = state

    def state_dict(self, *args, **kwargs) -> dict[str, torch.Tensor]:
        return self._state


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


@EXPORTERS.register("semi-structured")
def _semi_structured(module: nn.Module, path: Path, meta: ExportMeta) -> None:
    from pruneviz import semistructured
    from pruneviz.models import clone_module

    if meta.model_spec is None:
        raise PrunevizError("format semi-structured needs a model pruneviz can rebuild")
    layers = semistructured.convertible_layers(module)
    if not layers:
        raise PrunevizError(
            "no Linear layer is 2:4 sparse with rows a multiple of 32 and columns a multiple of 64; "
            "prune with granularity 2:4 first"
        )
    converted = semistructured.to_semi_structured(clone_module(module), layers)  # refuses without a GPU
    with torch.inference_mode():
        converted(torch.zeros((8, *meta.input_shape), device="cuda", dtype=torch.float16))
    info = {"form": SEMI_STRUCTURED, "semi_structured_layers": ",".join(layers)}
    save_checkpoint(path, module, meta.model_spec, meta.data_spec, info, meta.structure, meta.input_shape)


SEMI_STRUCTURED = "semi-structured"


def semi_structured_layers(path: str | Path) -> list[str]:
    """The layers a ``semi-structured`` export names for conversion (empty for other files)."""
    payload = torch.load(path, map_location="cpu", weights_only=True)
    info = payload.get("info", {}) if isinstance(payload, dict) else {}
    names = info.get("semi_structured_layers", "") if info.get("form") == SEMI_STRUCTURED else ""
    return [n for n in names.split(",") if n]


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


@dataclass(frozen=True)
class Verification:
    """An export reloaded and run on the validation data: its accuracy (fraction) against the session's."""

    accuracy: float
    expected: float
    samples: int

    @property
    def ok(self) -> bool:
        """At most one prediction in the validation subset may differ (ONNX kernels round differently)."""
        return abs(self.accuracy - self.expected) <= 1.0 / self.samples + 1e-9


def verify_export(
    path: str | Path, fmt: str, x: torch.Tensor, y: torch.Tensor, expected: float
) -> Verification:
    """Reload ``path`` the way a user would (``file:PATH``) and measure its accuracy on ``(x, y)``."""
    from pruneviz.models import ModelOptions, load_model

    loaded = load_model(f"file:{path}", ModelOptions(trust_pickle=fmt == "full"))
    module, device, dtype = loaded.module, torch.device("cpu"), torch.float32
    if fmt == SEMI_STRUCTURED:  # run it as it is meant to run: sparse tensor cores, fp16
        from pruneviz.semistructured import to_semi_structured

        device, dtype = torch.device("cuda"), torch.float16
        module = to_semi_structured(module, semi_structured_layers(path), device, dtype)
    with torch.inference_mode():
        logits = torch.cat([module(b.to(device, dtype)).float().cpu() for b in x.split(256)])
    accuracy = (logits.argmax(1) == y.cpu()).float().mean().item()
    return Verification(accuracy, expected, len(y))
