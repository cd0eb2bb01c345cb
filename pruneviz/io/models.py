"""Model specs: the strings that name a model everywhere (CLI, recipes, dashboard).

``SCHEME:REST`` is looked up in :data:`MODEL_SCHEMES`:

* ``demo:cnn|mlp|resnet|vit`` — the shipped digits classifiers (weights under ``assets/``);
* ``torchvision:NAME`` — any ``torchvision.models`` classifier, weights from ``--weights``
  (a state_dict path, ``DEFAULT`` for torchvision's download, or ``none`` for random init);
* ``timm:NAME[:FILE]`` — any ``timm`` classifier, random weights (seeded) or the state_dict in FILE
  (safetensors or a torch file); ``--weights DEFAULT`` downloads timm's own only with
  ``--allow-download``;
* ``file:PATH`` — any file format pruneviz reads (registered by :mod:`pruneviz.io.formats`);
* ``python:module.sub:factory`` — the user's own function returning an ``nn.Module`` or a
  ``(module, dataset)`` pair.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import importlib
import pickle
import sys
import warnings
import zipfile
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pruneviz.core.errors import PrunevizError, first_line
from pruneviz.core.quantize import as_float, load_torchao
from pruneviz.core.registry import Registry
from pruneviz.io import demo
from pruneviz.io.checkpoint import from_payload, is_checkpoint
from pruneviz.io.gate import USER, Gate

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class UntrustedPickle(PrunevizError):
    """A file holds pickled Python objects and the user has not said to trust it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        super().__init__(
            f"{path} contains pickled Python objects, and loading it would run code from the file; "
            "allow it (--trust-pickle, or 'Trust' in the dashboard) only if you trust its source"
        )


@dataclass(frozen=True)
class ModelOptions:
    """How to obtain weights: ``weights`` (path, ``DEFAULT`` or ``none``), ``arch`` for bare
    state_dicts, ``trust_pickle`` to allow unpickling arbitrary objects (runs code!),
    ``allow_download`` to let Hugging Face models and timm's ``DEFAULT`` weights come from the hub
    (else the local cache or a local file only), the ``gate`` every spec and file is checked against
    (the command line's, or a dashboard server's), and the ``dtype`` a Hugging Face model is loaded in
    (None: float32, what a CPU runs; ``auto``: the checkpoint's own, what a GPU runs)."""

    weights: str | None = None
    arch: str | None = None
    trust_pickle: bool = False
    allow_download: bool = False
    gate: Gate = USER
    dtype: str | None = None


@dataclass
class LoadedModel:
    """A model ready for evaluation, with what pruneviz knows about its inputs.

    ``input_shape`` is one sample's shape (C, H, W) or None when only the data can tell;
    ``mean``/``std`` are the per-channel normalisation image datasets must apply before the model;
    ``default_data`` is the data spec used when the user names none; ``dataset`` is what a
    ``python:`` factory returned alongside its model. Language models carry their ``tokenizer`` and
    the longest context their positions allow (``max_context``, tokens).
    """

    module: nn.Module
    spec: str
    input_shape: tuple[int, ...] | None = None
    num_classes: int | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    default_data: str | None = None
    dataset: Any = None
    arch_spec: str | None = None
    structure: list | None = None  # Torch-Pruning history applied on top of arch_spec, if shrunk
    task: str = "classification"  # what the model does with its data (a name in pruneviz.tasks.TASKS)
    info: dict[str, str] = field(default_factory=dict)  # what a pruneviz checkpoint says about itself
    tokenizer: Any = None
    max_context: int | None = None


MODEL_SCHEMES: Registry[Callable[[str, ModelOptions], LoadedModel]] = Registry("model scheme")


def load_model(spec: str, options: ModelOptions | None = None, named_in: str | None = None) -> LoadedModel:
    """Build the model named by ``spec`` in eval mode on the CPU, after the options' gate allowed it
    (``named_in``: the file that named ``spec``, None when a person typed it)."""
    options = options or ModelOptions()
    options.gate.check_spec(spec, named_in)
    if options.weights and options.weights not in ("DEFAULT", "none"):
        options.gate.check_path(options.weights, f"weights '{options.weights}'")
    scheme, sep, rest = spec.partition(":")
    if not sep or not rest:
        raise PrunevizError(
            f"model spec '{spec}' must look like SCHEME:NAME, e.g. demo:cnn, torchvision:resnet18, "
            "file:model.pt, python:mypkg.models:build"
        )
    loaded = MODEL_SCHEMES.get(scheme)(rest, options)
    eval_mode(loaded.module)
    check_finite(loaded.module, spec)
    return loaded


def check_finite(module: nn.Module, spec: str) -> None:
    """NaN or infinite weights make every metric meaningless: refuse them, naming the parameter."""
    for name, param in module.named_parameters():
        if not torch.isfinite(as_float(param)).all():
            raise PrunevizError(f"model {spec} has NaN or infinite values in '{name}'")


def clone_module(module: nn.Module, device: torch.device | str = "cpu") -> nn.Module:
    """A deep copy on ``device`` (TorchScript modules warn about non-leaf ``.grad`` while being moved;
    harmless)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The .grad attribute of a Tensor that is not a leaf")
        return copy.deepcopy(module).to(device)


def shared_view(module: nn.Module, device: torch.device | str = "cpu") -> nn.Module:
    """A copy of ``module``'s structure whose parameters and buffers are ``module``'s own tensors (on
    another device: copies): its own modules, so hooks on it are its own, without a second copy of the
    weights. Only for a reader — nothing may write its tensors."""
    tensors = [*module.parameters(), *module.buffers()]
    if any(t.device != torch.device(device) for t in tensors):
        return clone_module(module, device)
    return copy.deepcopy(module, {id(t): t for t in tensors})


def alias(tensor: torch.Tensor) -> torch.Tensor:
    """A tensor on ``tensor``'s storage with a version counter of its own. ``detach()`` would share the
    counter, so one session's optimizer step (in place, on tensors of its own after copy-on-write)
    would look to autograd like a change of every other session's saved weights."""
    if tensor.layout != torch.strided:
        return tensor.detach()
    with torch.no_grad():
        view = torch.empty(0, dtype=tensor.dtype, device=tensor.device)
        return view.set_(tensor.untyped_storage(), tensor.storage_offset(), tensor.shape, tensor.stride())


def aliased_copy(module: nn.Module, device: torch.device | str = "cpu") -> nn.Module:
    """A copy of ``module`` (its own modules and parameter objects) whose tensors still use ``module``'s
    storage (on another device: copies), until its owner gives it tensors of its own: copy-on-write,
    done by :meth:`~pruneviz.workflows.session.PruneSession.writable`. Weight ties are kept."""
    tensors = [*module.parameters(), *module.buffers()]
    if any(t.device != torch.device(device) for t in tensors):
        return clone_module(module, device)
    memo: dict[int, torch.Tensor] = {
        id(p): nn.Parameter(alias(p), p.requires_grad) for p in module.parameters()
    }
    memo |= {id(b): alias(b) for b in module.buffers()}
    try:
        return copy.deepcopy(module, memo)
    except (TypeError, RuntimeError):  # modules deepcopy cannot alias (TorchScript): a plain copy
        return clone_module(module, device)


def eval_mode(module: nn.Module) -> nn.Module:
    """``module.eval()``, tolerating an ExportedProgram's module (fixed in the mode it was exported in)."""
    with contextlib.suppress(NotImplementedError):
        module.eval()
    return module


def weights_digest(module: nn.Module) -> str:
    """SHA-256 over every parameter and buffer (name, dtype, shape, bytes): equal digests mean
    bit-identical weights, which is how a shared baseline is shown to be untouched."""
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        flat = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(f"{name}:{flat.dtype}:{tuple(tensor.shape)};".encode())
        digest.update(flat.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def load_state_dict(module: nn.Module, state: dict, what: str) -> None:
    """Load ``state`` strictly, turning shape/key mismatches into one readable line. State dicts in
    ``torch.nn.utils.prune`` form (``weight_orig`` + ``weight_mask``) are folded into plain weights."""
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise PrunevizError(f"{what} is not a state_dict (a mapping of names to tensors)")
    state = with_versions(fold_torch_prune(state), module)
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as err:
        detail = " ".join(str(err).split())
        raise PrunevizError(f"{what} does not fit this architecture: {detail[:300]}") from None


def with_versions(state: dict[str, torch.Tensor], module: nn.Module) -> dict[str, torch.Tensor]:
    """``state`` with the module versions ``load_state_dict`` hands each module's loader: a state_dict
    read back from a file (weights-only, safetensors, …) has lost them, and some modules refuse to load
    without (torchvision's MNASNet: "version should be set to 1 or 2"). The architecture built to
    receive the weights is the one they were saved from, so its own versions are theirs."""
    if getattr(state, "_metadata", None) is not None:
        return state
    versioned = OrderedDict(state)
    versioned._metadata = getattr(module.state_dict(), "_metadata", None)
    return versioned


def fold_torch_prune(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``x_orig`` and ``x_mask`` pairs (torch.nn.utils.prune) become ``x = x_orig * x_mask``."""
    out = {}
    for key, value in state.items():
        if key.endswith("_orig") and key.removesuffix("_orig") + "_mask" in state:
            base = key.removesuffix("_orig")
            out[base] = value * state[base + "_mask"]
        elif not (key.endswith("_mask") and key.removesuffix("_mask") + "_orig" in state):
            out[key] = value
    return out


def _is_raw_pickle(path: Path) -> bool:
    """A plain ``pickle.dump`` file (protocol 2+ header), not ``torch.save``'s zip archive."""
    with path.open("rb") as f:
        return f.read(1) == b"\x80" and not zipfile.is_zipfile(path)


def read_torch_file(path: Path, trust_pickle: bool, gate: Gate = USER) -> Any:
    """``torch.load`` with ``weights_only=True`` unless the user explicitly trusts the file; a file the
    gate finds too large to read safely is refused before anything in it is read."""
    if not path.is_file():
        raise PrunevizError(f"model file not found: {path}")
    gate.check_archive(path)
    try:
        payload = _torch_load(path, trust_pickle)
    except pickle.UnpicklingError as err:
        if "torchao" not in str(err):
            raise _unreadable(path, err) from None
        # quantised weights: torchao's tensor types are safe to load once it is imported (it registers
        # them), which costs a second and a half, so only files that hold them pay it
        load_torchao()
        try:
            payload = _torch_load(path, trust_pickle)
        except pickle.UnpicklingError as again:
            raise _unreadable(path, again) from None
    gate.check_tensor_count(count_tensors(payload, str(path)), str(path))
    return payload


def _torch_load(path: Path, trust_pickle: bool) -> Any:
    try:
        with warnings.catch_warnings():  # e.g. "Detected pickle protocol 4": the error below says more
            warnings.simplefilter("ignore", UserWarning)
            return torch.load(path, map_location="cpu", weights_only=not trust_pickle)
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as err:
        raise PrunevizError(
            f"cannot read {path}: corrupt or not a PyTorch file ({first_line(err)})"
        ) from None


def _unreadable(path: Path, err: pickle.UnpicklingError) -> PrunevizError:
    """What an unpickling failure means: objects only a trusted file may hold, or no PyTorch file."""
    if "Unsupported global" in str(err) or _is_raw_pickle(path):
        return UntrustedPickle(path)
    return PrunevizError(f"cannot read {path}: corrupt or not a PyTorch file")


MAX_NESTING = 64  # no model file nests its objects deeper


def count_tensors(obj: Any, what: str, depth: int = 0) -> int:
    """Tensors anywhere in a loaded payload (inside dicts, lists and tuples)."""
    if isinstance(obj, torch.Tensor):
        return 1
    if depth > MAX_NESTING:
        raise PrunevizError(f"{what} nests its objects more than {MAX_NESTING} levels deep: not a model file")
    if isinstance(obj, dict):
        return sum(count_tensors(v, what, depth + 1) for v in obj.values())
    if isinstance(obj, list | tuple):
        return sum(count_tensors(v, what, depth + 1) for v in obj)
    return 0


def load_weights_file(module: nn.Module, path: Path, options: ModelOptions) -> None:
    """Load the weights in ``path`` (a state_dict or a pruneviz checkpoint) into ``module``."""
    payload = read_torch_file(path, options.trust_pickle, options.gate)
    state = from_payload(payload, str(path)).state_dict if is_checkpoint(payload) else payload
    load_state_dict(module, state, f"weights {path}")


# The shipped demo models by name: each loads itself (the digits classifiers here; the language model
# registers itself from pruneviz.io.hf).
DEMO_MODELS: Registry[Callable[[ModelOptions], LoadedModel]] = Registry("demo model")


@MODEL_SCHEMES.register("demo")
def _demo(name: str, options: ModelOptions) -> LoadedModel:
    return DEMO_MODELS.get(name)(options)


def _demo_classifier(name: str, options: ModelOptions) -> LoadedModel:
    module = demo.DEMO_ARCHITECTURES.get(name)()
    weights = options.weights or str(demo.weights_path(name))
    if weights.lower() != "none":
        load_weights_file(module, Path(weights), replace(options, trust_pickle=False))
    return LoadedModel(
        module,
        f"demo:{name}",
        input_shape=demo.INPUT_SHAPE,
        num_classes=demo.NUM_CLASSES,
        default_data="digits",
        arch_spec=f"demo:{name}",
    )


for _name in demo.DEMO_ARCHITECTURES.registered():
    DEMO_MODELS.register(_name)(lambda options, name=_name: _demo_classifier(name, options))


@MODEL_SCHEMES.register("torchvision")
def _torchvision(name: str, options: ModelOptions) -> LoadedModel:
    import torchvision.models as tvm

    if name not in tvm.list_models(module=tvm):
        raise PrunevizError(
            f"'{name}' is not a torchvision classification model (see torchvision.models.list_models())"
        )
    weights = options.weights or "none"
    if weights == "DEFAULT":
        module = tvm.get_model(name, weights="DEFAULT")  # downloads; needs internet
    else:
        with torch.random.fork_rng():  # the same random init every time, without touching global RNG
            torch.manual_seed(0)
            module = tvm.get_model(name, weights=None)
        if weights.lower() != "none":
            load_weights_file(module, Path(weights), options)
    size = 299 if name == "inception_v3" else 224
    return LoadedModel(
        module,
        f"torchvision:{name}",
        input_shape=(3, size, size),
        num_classes=1000,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        default_data=f"synthetic:3x{size}x{size}:64",
        arch_spec=f"torchvision:{name}",
    )


@MODEL_SCHEMES.register("timm")
def _timm(rest: str, options: ModelOptions) -> LoadedModel:
    import timm

    name, _, file = rest.partition(":")
    if name not in timm.list_models():
        raise PrunevizError(f"'{name}' is not a timm model (see timm.list_models())")
    weights = file or options.weights or "none"
    pretrained = weights == "DEFAULT"
    if pretrained and not options.allow_download:
        raise PrunevizError(
            f"timm:{name} with --weights DEFAULT downloads timm's weights from the hub: pass "
            "--allow-download, or name a local file (timm:NAME:FILE)"
        )
    with torch.random.fork_rng():  # the same random init every time, without touching global RNG
        torch.manual_seed(0)
        try:
            module = timm.create_model(name, pretrained=pretrained)
        except Exception as err:  # noqa: BLE001 - a download or a model timm cannot build
            raise PrunevizError(f"timm cannot build '{name}': {first_line(err)}") from None
    if not getattr(module, "num_classes", 0):
        raise PrunevizError(
            f"timm:{name} has no classifier head (a pre-training checkpoint): pick a fine-tuned variant"
        )
    if not pretrained and weights.lower() != "none":
        path = Path(weights)  # the gate checked it with the spec
        load_state_dict(module, _timm_state(path, options), f"weights {path}")
    config = module.pretrained_cfg
    shape = tuple(config.get("input_size", (3, 224, 224)))
    return LoadedModel(
        module,
        f"timm:{rest}",
        input_shape=shape,
        num_classes=module.num_classes,
        mean=tuple(config.get("mean", IMAGENET_MEAN)),
        std=tuple(config.get("std", IMAGENET_STD)),
        default_data=f"synthetic:{'x'.join(map(str, shape))}:64",
        arch_spec=f"timm:{name}",
    )


def _timm_state(path: Path, options: ModelOptions) -> dict:
    """A timm checkpoint's weights: a safetensors file, a state_dict, or a training checkpoint holding
    one under ``state_dict`` or ``model`` (as timm's own ``load_checkpoint`` reads them)."""
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        if not path.is_file():
            raise PrunevizError(f"model file not found: {path}")
        try:
            return load_file(path)
        except (SafetensorError, OSError) as err:
            raise PrunevizError(f"cannot read {path}: {first_line(err)}") from None
    payload = read_torch_file(path, options.trust_pickle, options.gate)
    if is_checkpoint(payload):
        return from_payload(payload, str(path)).state_dict
    for key in ("state_dict", "model"):
        if isinstance(payload, dict) and isinstance(payload.get(key), dict):
            return payload[key]
    return payload


@MODEL_SCHEMES.register("python")
def _python(rest: str, options: ModelOptions) -> LoadedModel:
    module_name, sep, factory_name = rest.rpartition(":")
    if not sep or not module_name:
        raise PrunevizError(f"python model spec needs python:MODULE:FUNCTION, got 'python:{rest}'")
    factory = import_callable(module_name, factory_name)
    made = factory()
    dataset = None
    if isinstance(made, tuple) and len(made) == 2:
        made, dataset = made
    if not isinstance(made, nn.Module):
        raise PrunevizError(
            f"{module_name}:{factory_name}() returned {type(made).__name__}, not an nn.Module"
        )
    default = "model" if dataset is not None else None
    spec = f"python:{rest}"
    return LoadedModel(made, spec, default_data=default, dataset=dataset, arch_spec=spec)


def import_callable(module_name: str, attr: str) -> Callable[..., Any]:
    """Import ``module_name.attr`` (the current directory is importable, as users expect)."""
    if "" not in sys.path and "." not in sys.path:
        sys.path.insert(0, "")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise PrunevizError(f"cannot import module '{module_name}': {err}") from None
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise PrunevizError(f"module '{module_name}' has no function '{attr}'")
    return fn
