"""File formats, registered by the names users type (``--format``): how each is written, recognised,
read back and run for verification.

Loading a ``file:PATH`` asks this registry which format the file is in (:func:`read_model_file`), so
the model specs never recognise formats themselves. Every format pruneviz writes records the model
and data spec it came from, so ``pruneviz evaluate file:PATH`` evaluates an export without flags:

* ``state_dict`` — a pruneviz checkpoint (weights-only loadable; structurally pruned models carry the
  Torch-Pruning history that rebuilds their shapes). Also reads bare state_dicts (with ``--arch``)
  and, only with ``--trust-pickle``, pickled modules;
* ``safetensors`` — the (masked) weights in safetensors, specs in its metadata;
* ``torch-prune`` — a checkpoint in ``torch.nn.utils.prune``'s form (``weight_orig`` + ``weight_mask``);
* ``full`` — ``torch.save`` of the whole module (a pickle: reloading needs ``--trust-pickle``);
* ``torchscript`` — a traced TorchScript file, specs in its extra files;
* ``onnx`` — ONNX (dynamic batch), specs in its metadata; reloads through onnxruntime;
* ``semi-structured`` — a checkpoint of 2:4 weights naming the Linear layers that
  ``torch.sparse.to_sparse_semi_structured`` converts on load (written only on a GPU where that
  conversion runs; see :mod:`pruneviz.io.semistructured`);
* ``exported-program`` — ``torch.export``'s ``.pt2`` (read only);
* ``hf`` — a Hugging Face ``save_pretrained`` directory (model, config, tokenizer) of a language
  model, which plain ``transformers.AutoModelForCausalLM.from_pretrained`` loads;
* ``compressed-tensors`` / ``compressed-tensors-dense`` — a language model as llm-compressor's
  compressed-tensors checkpoint: sparsity bitmask-compressed (read back by pruneviz), or dense weights
  with the sparsity described (what plain transformers loads); int8 weights kept (see
  :mod:`pruneviz.io.compressed`).
"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.utils.prune as tprune
from torch import nn

from pruneviz.core.errors import PrunevizError, first_line
from pruneviz.core.layers import prunable_modules
from pruneviz.core.quantize import QUANTIZATIONS
from pruneviz.core.registry import Registry
from pruneviz.core.structure import shrink
from pruneviz.io import semistructured
from pruneviz.io.checkpoint import from_payload, is_checkpoint, save_checkpoint
from pruneviz.io.compressed import (
    is_compressed_directory,
    load_with_transformers,
    read_compressed,
    write_compressed,
)
from pruneviz.io.gate import Gate
from pruneviz.io.hf import is_hf_directory, load_hf, save_hf
from pruneviz.io.models import (
    MODEL_SCHEMES,
    LoadedModel,
    ModelOptions,
    clone_module,
    load_model,
    load_state_dict,
    read_torch_file,
)

META_FILE = "pruneviz.json"
QUANTIZE_INFO, QUANTIZED_INFO = "quantize", "quantized_layers"  # a checkpoint's quantised weights
META_KEY = "pruneviz"
FULL_FORMAT = "pruneviz-full"


@dataclass(frozen=True)
class ExportMeta:
    """Where a model came from: the spec that rebuilds its architecture, its data, its structure."""

    model_spec: str | None
    data_spec: str | None
    input_shape: tuple[int, ...]
    structure: list | None = None
    tokenizer: Any = None  # a language model's, written beside it by the hf format
    input_dtype: torch.dtype = torch.float32  # what the model reads: floats, or a language model's token ids
    quantize: str | None = None  # the weight format of the layers in ``quantized`` (torchao tensors)
    quantized: tuple[str, ...] = ()
    layers: tuple[str, ...] = ()  # the prunable layers (what compressed formats compress)

    def example(self, batch: int, device: torch.device | str = "cpu") -> torch.Tensor:
        """A zero batch of inputs (what tracing exporters feed the model)."""
        return torch.zeros((batch, *self.input_shape), dtype=self.input_dtype, device=device)

    def as_json(self) -> str:
        return json.dumps({"model_spec": self.model_spec, "data_spec": self.data_spec})


Writer = Callable[[nn.Module, Path, ExportMeta], None]
Reader = Callable[[Path, ModelOptions], LoadedModel]


@dataclass(frozen=True)
class Format:
    """One file format: its usual suffix, how to write a model (None: read only), how to tell a file is
    in it and read it, whether reading it back needs pickle trust, how a reloaded model is run to
    verify it (default: as loaded, on the CPU in fp32), and who reads it (``readers``: an honest label,
    since a format some tool stopped reading is worth no more than the reader left)."""

    name: str
    suffix: str
    write: Writer | None
    read: Reader
    recognise: Callable[[Path], bool]
    needs_trust: bool = False
    prepare: Callable[[LoadedModel], tuple[nn.Module, torch.device, torch.dtype]] | None = None
    keeps_quantized: bool = False  # writes quantised weights as such (others refuse them)
    lossless: bool = False  # reloads to exactly the weights written (verification compares each layer)
    readers: str = ""  # who reads the file and what its pruning buys there, for people choosing


FORMATS: Registry[Format] = Registry("file format")


def _register(fmt: Format) -> None:
    FORMATS.register(fmt.name)(fmt)


def writable() -> list[str]:
    """The formats a model can be exported to (for ``--format`` and the Export page)."""
    return [n for n in FORMATS.names() if FORMATS.get(n).write is not None]


def read_model_file(path: Path, options: ModelOptions) -> LoadedModel:
    """Read ``path`` with the first registered format that recognises it (the catch-all, a torch file
    holding a checkpoint, a state_dict or a pickle, comes last)."""
    if not path.exists():
        raise PrunevizError(f"model file not found: {path}")
    for name in FORMATS.registered():
        fmt = FORMATS.get(name)
        if fmt.recognise(path):
            loaded = fmt.read(path, options)
            return replace(loaded, spec=f"file:{path}")
    raise PrunevizError(f"{path}: no pruneviz file format recognises it")


@MODEL_SCHEMES.register("file")
def _file_scheme(rest: str, options: ModelOptions) -> LoadedModel:
    return read_model_file(Path(rest), options)


def export_model(module: nn.Module, path: str | Path, fmt: str, meta: ExportMeta) -> Path:
    """Write ``module`` to ``path`` in format ``fmt``; returns the path. Writers trace on the CPU: a
    module elsewhere is copied there, so the caller's model stays where it runs (also when this fails)."""
    writer = FORMATS.get(fmt).write
    if writer is None:
        raise PrunevizError(f"pruneviz reads {fmt} files but does not write them (choose: {writable()})")
    if meta.quantize and not FORMATS.get(fmt).keeps_quantized:
        keeping = [n for n in writable() if FORMATS.get(n).keeps_quantized]
        raise PrunevizError(
            f"format {fmt} holds float weights; {meta.quantize} weights export as {', '.join(keeping)}"
        )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    on_cpu = all(t.device.type == "cpu" for t in (*module.parameters(), *module.buffers()))
    try:
        writer(module if on_cpu else clone_module(module, "cpu"), path, meta)
    except PrunevizError:
        raise
    except Exception as err:  # noqa: BLE001 - tracing/export failures come in many types
        raise PrunevizError(f"cannot export to {fmt}: {first_line(err)}") from None
    return path


def download(path: Path) -> tuple[str, bytes]:
    """A written export as one downloadable file: (name, bytes); a directory (hf) is zipped."""
    if not path.is_dir():
        return path.name, path.read_bytes()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(path.rglob("*")):
            if file.is_file():
                archive.write(file, Path(path.name) / file.relative_to(path))
    return f"{path.name}.zip", buffer.getvalue()


def reload_for_verification(path: str | Path, fmt: str) -> tuple[nn.Module, torch.device, torch.dtype]:
    """Load an export the way a user would (``file:PATH``) and ready it to run as the format is meant
    to run: the module, and the device and dtype to feed it."""
    spec = FORMATS.get(fmt)
    # pruneviz wrote this file a moment ago from a model it had loaded: what it names was allowed then
    trusted = Gate(python_in_files=True)
    loaded = load_model(f"file:{path}", ModelOptions(trust_pickle=spec.needs_trust, gate=trusted))
    if spec.prepare is not None:
        return spec.prepare(loaded)
    return loaded.module, torch.device("cpu"), torch.float32


# --- torch files: checkpoints, state_dicts, pickles -------------------------------------------------


def _read_torch(path: Path, options: ModelOptions) -> LoadedModel:
    obj = read_torch_file(path, options.trust_pickle, options.gate)
    spec = f"file:{path}"
    if is_checkpoint(obj):
        ckpt = from_payload(obj, str(path))
        base = load_model(ckpt.model_spec, replace(options, weights="none"), named_in=str(path))
        if ckpt.structure:
            shape = ckpt.input_shape or ()
            options.gate.check_shape(shape, f"{path}: its input shape")
            example = torch.zeros((1, *shape))
            base = replace(
                base, module=shrink(base.module, example, ckpt.structure), structure=ckpt.structure
            )
        if ckpt.info.get(QUANTIZE_INFO):  # its layers hold torchao tensors: convert before loading them
            layers = [n for n in ckpt.info.get(QUANTIZED_INFO, "").split(",") if n]
            QUANTIZATIONS.get(ckpt.info[QUANTIZE_INFO]).convert(base.module, layers)
        load_state_dict(base.module, ckpt.state_dict, f"checkpoint {path}")
        return replace(base, spec=spec, default_data=ckpt.data_spec or base.default_data, info=ckpt.info)
    if isinstance(obj, dict) and obj.get("format") == FULL_FORMAT:  # only reachable with trust
        if not isinstance(obj.get("module"), nn.Module):
            raise PrunevizError(f"{path} says it is a whole pickled model but holds none")
        return LoadedModel(obj["module"], spec, default_data=_meta(obj.get("meta"), path).get("data_spec"))
    if isinstance(obj, nn.Module):
        return LoadedModel(obj, spec)
    if isinstance(obj, dict):
        if not options.arch:
            raise PrunevizError(
                f"{path} holds a bare state_dict; name its architecture with --arch "
                "(e.g. --arch torchvision:resnet18)"
            )
        base = load_model(options.arch, replace(options, weights="none", arch=None))
        load_state_dict(base.module, obj, f"state_dict {path}")
        return replace(base, spec=spec)
    raise PrunevizError(f"{path} holds a {type(obj).__name__}, not a model or state_dict")


def _any_file(path: Path) -> bool:
    return path.is_file()


def _needs_spec(meta: ExportMeta, fmt: str) -> str:
    if meta.model_spec is None:
        raise PrunevizError(f"format {fmt} needs a model pruneviz can rebuild; use torchscript or onnx")
    return meta.model_spec


def _write_state_dict(module: nn.Module, path: Path, meta: ExportMeta) -> None:
    quantized = (
        {QUANTIZE_INFO: meta.quantize, QUANTIZED_INFO: ",".join(meta.quantized)} if meta.quantize else {}
    )
    save_checkpoint(
        path,
        module,
        _needs_spec(meta, "state_dict"),
        meta.data_spec,
        info=quantized,
        structure=meta.structure,
        input_shape=meta.input_shape,
    )


def _write_torch_prune(module: nn.Module, path: Path, meta: ExportMeta) -> None:
    """``torch.nn.utils.prune``'s own form: each pruned layer keeps ``weight_orig`` and ``weight_mask``,
    so users can go on with PyTorch's pruning API."""
    spec = _needs_spec(meta, "torch-prune")
    copy = clone_module(module)
    for layer in prunable_modules(copy).values():
        tprune.custom_from_mask(layer, "weight", mask=(layer.weight != 0))
    state = {k: v.detach().cpu() for k, v in copy.state_dict().items()}
    save_checkpoint(path, _StateOnly(state), spec, meta.data_spec, info={"form": "torch-prune"})


class _StateOnly(nn.Module):
    """Carries a ready-made state_dict to :func:`save_checkpoint`."""

    def __init__(self, state: dict[str, torch.Tensor]) -> None:
        super().__init__()
        self._state = state

    def state_dict(self, *args, **kwargs) -> dict[str, torch.Tensor]:
        return self._state


def _write_full(module: nn.Module, path: Path, meta: ExportMeta) -> None:
    torch.save({"format": FULL_FORMAT, "meta": meta.as_json(), "module": module}, path)


SEMI_STRUCTURED = "semi-structured"


def _write_semi_structured(module: nn.Module, path: Path, meta: ExportMeta) -> None:
    spec = _needs_spec(meta, SEMI_STRUCTURED)
    layers = semistructured.convertible_layers(module)
    if not layers:
        raise PrunevizError(
            "no Linear layer is 2:4 sparse with rows a multiple of 32 and columns a multiple of 64; "
            "prune with granularity 2:4 first"
        )
    converted = semistructured.to_semi_structured(clone_module(module), layers)  # refuses without a GPU
    example = meta.example(8, "cuda")
    with torch.inference_mode():  # fp16 on sparse tensor cores (token ids stay ids)
        converted(example if not example.is_floating_point() else example.half())
    info = {"form": SEMI_STRUCTURED, "semi_structured_layers": ",".join(layers)}
    save_checkpoint(path, module, spec, meta.data_spec, info, meta.structure, meta.input_shape)


def _prepare_semi_structured(loaded: LoadedModel) -> tuple[nn.Module, torch.device, torch.dtype]:
    """Run it as it is meant to run: the named layers on sparse tensor cores, in fp16."""
    names = (
        loaded.info.get("semi_structured_layers", "") if loaded.info.get("form") == SEMI_STRUCTURED else ""
    )
    layers = [n for n in names.split(",") if n]
    device, dtype = torch.device("cuda"), torch.float16
    return semistructured.to_semi_structured(loaded.module, layers, device, dtype), device, dtype


# --- safetensors --------------------------------------------------------------------------------------


def _write_safetensors(module: nn.Module, path: Path, meta: ExportMeta) -> None:
    from safetensors.torch import save_file  # optional dependency, imported when used

    if meta.structure:
        raise PrunevizError(
            "safetensors holds tensors only; a shrunk model needs state_dict, torchscript or onnx"
        )
    state = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    save_file(
        state, str(path), metadata={"model_spec": meta.model_spec or "", "data_spec": meta.data_spec or ""}
    )


def _read_safetensors(path: Path, options: ModelOptions) -> LoadedModel:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            names = list(f.keys())
            options.gate.check_tensor_count(len(names), str(path))
            state = {k: f.get_tensor(k) for k in names}
    except (SafetensorError, OSError) as err:
        raise PrunevizError(f"cannot read safetensors file {path}: {first_line(err)}") from None
    named = meta.get("model_spec") or None
    arch = options.arch or named
    if not arch:
        raise PrunevizError(f"{path} holds bare tensors; name its architecture with --arch")
    base = load_model(arch, replace(options, weights="none", arch=None), None if options.arch else str(path))
    load_state_dict(base.module, state, f"safetensors {path}")
    return replace(base, default_data=meta.get("data_spec") or base.default_data)


# --- TorchScript -----------------------------------------------------------------------------------


def _write_torchscript(module: nn.Module, path: Path, meta: ExportMeta) -> None:
    example = meta.example(1)
    with torch.no_grad(), warnings.catch_warnings():  # deprecated upstream, still what many deploy
        warnings.simplefilter("ignore", FutureWarning)
        traced = torch.jit.trace(module.eval(), example)
        torch.jit.save(traced, str(path), _extra_files={META_FILE: meta.as_json()})


def _is_torchscript(path: Path) -> bool:
    if not path.is_file() or not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as zf:
        return any(n.split("/", 1)[-1].startswith("code/") for n in zf.namelist())


def _read_torchscript(path: Path, options: ModelOptions) -> LoadedModel:
    options.gate.check_archive(path)
    extra = {META_FILE: ""}
    try:
        with warnings.catch_warnings():  # TorchScript is deprecated upstream but users still have files
            warnings.simplefilter("ignore", FutureWarning)
            module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    except RuntimeError as err:
        raise PrunevizError(f"cannot read TorchScript file {path}: {first_line(err)}") from None
    return LoadedModel(module, f"file:{path}", default_data=_meta(extra[META_FILE], path).get("data_spec"))


def _meta(text: str | bytes | None, path: Path) -> dict[str, str]:
    """The specs a file's metadata names (``{}`` when it names none); malformed metadata is refused."""
    try:
        meta = json.loads(text or "{}")
    except (ValueError, TypeError):
        meta = None
    if not isinstance(meta, dict) or not all(isinstance(v, str | None) for v in meta.values()):
        raise PrunevizError(f"{path}: its pruneviz metadata is not a mapping of specs")
    return {k: v for k, v in meta.items() if v}


# --- ONNX ------------------------------------------------------------------------------------------


def _write_onnx(module: nn.Module, path: Path, meta: ExportMeta) -> None:
    import onnx  # optional dependency, imported when used

    example = meta.example(2)
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


def _read_onnx(path: Path, options: ModelOptions) -> LoadedModel:
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as err:  # noqa: BLE001 - protobuf and onnx raise their own types
        raise PrunevizError(f"cannot read ONNX file {path}: {first_line(err)}") from None
    options.gate.check_tensor_count(len(model.graph.initializer), str(path))
    meta = next((_meta(e.value, path) for e in model.metadata_props if e.key == META_KEY), {})
    return LoadedModel(OnnxModule(path), f"file:{path}", default_data=meta.get("data_spec"))


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


# --- torch.export ----------------------------------------------------------------------------------


def _read_exported_program(path: Path, options: ModelOptions) -> LoadedModel:
    options.gate.check_archive(path)
    try:
        program = torch.export.load(str(path))
    except Exception as err:  # noqa: BLE001 - any failure here means an unreadable file
        raise PrunevizError(f"cannot read exported program {path}: {err}") from None
    return LoadedModel(program.module(), f"file:{path}")


def _suffix(suffix: str) -> Callable[[Path], bool]:
    return lambda path: path.is_file() and path.suffix == suffix


# --- Hugging Face directories ----------------------------------------------------------------------


def _write_hf(module: nn.Module, path: Path, meta: ExportMeta) -> None:
    if meta.structure:
        raise PrunevizError("format hf writes language models; a shrunk classifier needs state_dict or onnx")
    save_hf(module, meta.tokenizer, path, meta.data_spec)


def _read_hf(path: Path, options: ModelOptions) -> LoadedModel:
    return load_hf(str(path), options)


def _compressed_writer(compress_sparsity: bool) -> Writer:
    def write(module: nn.Module, path: Path, meta: ExportMeta) -> None:
        if meta.structure or meta.tokenizer is None:
            raise PrunevizError(
                "compressed-tensors checkpoints hold language models' masked or int8 weights; this model "
                "exports as state_dict or onnx"
            )
        write_compressed(module, path, meta.tokenizer, meta.data_spec, meta.layers, compress_sparsity)

    return write


def _read_compressed(path: Path, options: ModelOptions) -> LoadedModel:
    return read_compressed(path, options)


def _prepare_with_transformers(loaded: LoadedModel) -> tuple[nn.Module, torch.device, torch.dtype]:
    """Verified as a serving stack reads it: loaded by plain transformers, not by pruneviz."""
    return load_with_transformers(Path(loaded.spec.removeprefix("file:"))), torch.device("cpu"), torch.float32


# Who reads each written format, and what pruning buys there (shown where a format is chosen).
READERS = {
    "compressed-tensors": (
        "pruneviz only: vLLM removed its sparse kernels and compressed-tensors its sparse-bitmask "
        "compressors in 2026, so nothing else decompresses the bitmask; smaller on disk, no faster"
    ),
    "compressed-tensors-dense": (
        "transformers and vLLM load it as it is (int8 weights where quantised: a quarter of the bytes, "
        "int8 matmuls); the sparsity is described in its config, not exploited"
    ),
    "hf": (
        "plain transformers (AutoModelForCausalLM.from_pretrained) and every stack built on it; masked "
        "weights are stored dense, so masks save nothing there — removed heads, channels and blocks do"
    ),
    "state_dict": (
        "pruneviz (file:PATH) and PyTorch; a shrunk model carries the Torch-Pruning history that rebuilds "
        "its smaller shapes, which run faster everywhere"
    ),
    "safetensors": "any safetensors reader; masked weights stored dense (they compress, they run no faster)",
    "torch-prune": "PyTorch code that keeps training with torch.nn.utils.prune's masks (weight_orig + mask)",
    "full": "torch.load with pickle trust: the whole module, for PyTorch users who trust the file",
    "torchscript": "TorchScript / LibTorch (C++, no Python); dense kernels: only removed structure is faster",
    "onnx": "ONNX Runtime and every ONNX toolchain; dense kernels: only removed structure is faster",
    SEMI_STRUCTURED: (
        "PyTorch on an NVIDIA GPU with sparse tensor cores (Ampere or later), its 2:4 layers converted "
        "with to_sparse_semi_structured on load; nowhere else"
    ),
}

# Recognition order matters: formats told apart by suffix or content first, the torch-file catch-all last.
for _name, _sparse, _prepare in (
    ("compressed-tensors", True, None),
    ("compressed-tensors-dense", False, _prepare_with_transformers),
):
    _register(
        Format(
            _name,
            "",
            _compressed_writer(_sparse),
            _read_compressed,
            is_compressed_directory,
            prepare=_prepare,
            keeps_quantized=True,
            lossless=True,
            readers=READERS[_name],
        )
    )
_register(Format("hf", "", _write_hf, _read_hf, is_hf_directory, readers=READERS["hf"]))
_register(Format("exported-program", ".pt2", None, _read_exported_program, _suffix(".pt2")))
_register(
    Format(
        "safetensors",
        ".safetensors",
        _write_safetensors,
        _read_safetensors,
        _suffix(".safetensors"),
        readers=READERS["safetensors"],
    )
)
_register(Format("onnx", ".onnx", _write_onnx, _read_onnx, _suffix(".onnx"), readers=READERS["onnx"]))
_register(
    Format(
        "torchscript",
        ".ts",
        _write_torchscript,
        _read_torchscript,
        _is_torchscript,
        readers=READERS["torchscript"],
    )
)
# The torch-file formats below are read by one reader; the first to recognise a file reads it.
_register(
    Format(
        "state_dict",
        ".pt",
        _write_state_dict,
        _read_torch,
        _any_file,
        keeps_quantized=True,
        readers=READERS["state_dict"],
    )
)
_register(
    Format("torch-prune", ".pt", _write_torch_prune, _read_torch, _any_file, readers=READERS["torch-prune"])
)
_register(
    Format("full", ".pt", _write_full, _read_torch, _any_file, needs_trust=True, readers=READERS["full"])
)
_register(
    Format(
        SEMI_STRUCTURED,
        ".pt",
        _write_semi_structured,
        _read_torch,
        _any_file,
        prepare=_prepare_semi_structured,
        readers=READERS[SEMI_STRUCTURED],
    )
)
