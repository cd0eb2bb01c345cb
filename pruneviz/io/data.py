"""Data specs: the strings that name a validation set, preloaded as tensors for fast evaluation.

``SCHEME[:REST]`` is looked up in :data:`DATA_SCHEMES`:

* ``digits`` — scikit-learn's 1,797 handwritten 8x8 digits, fixed 80/20 train/validation split;
* ``torchvision:CIFAR10:ROOT[:download]`` (also MNIST, FashionMNIST, CIFAR100) — read from ROOT,
  downloaded only when ``:download`` is added;
* ``folder:PATH`` — an ImageFolder, resized and normalised the way the model expects;
* ``python:module:function`` — the user's function returning a Dataset or ``(x, y)`` tensors;
* ``synthetic:CxHxW:N`` — N seeded random inputs labelled by the unpruned model's own predictions,
  so accuracy reads as agreement with the original model (no labels needed).
"""

from __future__ import annotations

import gzip
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from pruneviz.core.errors import PrunevizError, first_line
from pruneviz.core.evaluate import forward_batches
from pruneviz.core.registry import Registry
from pruneviz.io.gate import USER, Gate
from pruneviz.io.models import LoadedModel, import_callable

SEED = 0
Tensors = tuple[torch.Tensor, "torch.Tensor | None"]


@dataclass(frozen=True)
class DataOptions:
    """How much of a data set to use: a fixed, seeded subset of ``limit`` samples; for text, windows of
    ``context`` tokens and ``calibration`` windows drawn from its training part; and the ``gate`` the
    spec is checked against (a data spec a model file names is held to the rules for files)."""

    limit: int | None = None
    context: int | None = None
    calibration: int | None = None
    gate: Gate = USER


def data_spec(spec: str | None, model: LoadedModel, gate: Gate) -> str | None:
    """The data spec to load: ``spec`` as typed, else the one ``model`` names (its file's metadata, or
    pruneviz's own default for it), each checked by ``gate``."""
    gate.check_spec(spec)
    if spec:
        return spec
    gate.check_spec(model.default_data, named_in=model.spec)
    return model.default_data


@dataclass
class DataSet:
    """Inputs ``x`` (N, *sample_shape) and targets ``y``, already on a device: float32 images with
    integer labels (N,), or token windows (N, T) whose targets are the windows themselves.

    ``calibration`` holds the (inputs, targets) data-driven criteria look at, when the data names its
    own (text: windows of its training part, never the validation windows); otherwise criteria look at
    the first samples of ``x``.
    """

    x: torch.Tensor
    y: torch.Tensor
    spec: str
    num_classes: int
    calibration: tuple[torch.Tensor, torch.Tensor] | None = None

    def __len__(self) -> int:
        return len(self.x)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])


DATA_SCHEMES: Registry[Callable[[str, LoadedModel, bool], Tensors]] = Registry("data scheme")
# Schemes whose specs name a training split as well (the others name one set of samples only).
TRAIN_SPLITS = ("digits", "torchvision", "synthetic")


def load_data(
    spec: str | None,
    model: LoadedModel,
    *,
    limit: int | None = None,
    train: bool = False,
    device: str | torch.device = "cpu",
    gate: Gate = USER,
) -> DataSet:
    """Load the validation (or, with ``train``, training) split named by ``spec``, once ``gate``
    allows it.

    ``limit`` keeps a fixed, seeded subset of that many samples, so live re-evaluation is quick and
    every run sees the same images.
    """
    spec = data_spec(spec, model, gate) or _fallback_data(model)
    scheme, _, rest = spec.partition(":")
    if train and scheme not in TRAIN_SPLITS:
        raise PrunevizError(f"data '{spec}' has no training split; name one with --train-data")
    if scheme == "synthetic":
        shape, count = synthetic_shape(rest)
        gate.check_shape(shape, f"data '{spec}'", count)
    x, y = DATA_SCHEMES.get(scheme)(rest, model, train)
    x = x.float()
    if limit is not None:
        if limit < 1:
            raise PrunevizError(f"--limit must be a positive number of samples, got {limit}")
        if limit < len(x):
            keep = torch.randperm(len(x), generator=torch.Generator().manual_seed(SEED))[:limit]
            keep = keep.sort().values
            x, y = x[keep], (None if y is None else y[keep])
    outputs = check_compatible(model, x, spec)
    if y is None:
        y = predict_labels(model.module, x)
    if int(y.max()) >= outputs:
        raise PrunevizError(
            f"data {spec} has labels up to {int(y.max())} but {model.spec} predicts only {outputs} classes"
        )
    num_classes = model.num_classes or outputs
    return DataSet(x.to(device), y.long().to(device), spec, num_classes)


def load_images(
    spec: str | None, model: LoadedModel, options: DataOptions, *, train: bool = False, device="cpu"
) -> DataSet:
    """:func:`load_data` as a task asks for it (classification: only ``options.limit`` applies)."""
    return load_data(spec, model, limit=options.limit, train=train, device=device, gate=options.gate)


def _fallback_data(model: LoadedModel) -> str:
    if model.input_shape is None:
        raise PrunevizError(
            f"model {model.spec} does not say what its inputs look like; name a data set with "
            "--data (e.g. --data synthetic:3x224x224:64)"
        )
    shape = "x".join(str(d) for d in model.input_shape)
    return f"synthetic:{shape}:64"


def predict_labels(module: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The model's own top-1 predictions, used as labels for label-free data."""
    try:
        return forward_batches(lambda batch: module(batch).argmax(1), x)
    except RuntimeError as err:
        raise PrunevizError(
            f"model rejects inputs of shape {tuple(x.shape[1:])}: {first_line(err)}"
        ) from None


def check_compatible(model: LoadedModel, x: torch.Tensor, spec: str) -> int:
    """Fail with one readable line when the data cannot feed the model; returns its number of outputs."""
    expected = model.input_shape
    if expected is not None and len(expected) == x.dim() - 1 and expected[0] != x.shape[1]:
        raise PrunevizError(
            f"data {spec} has {x.shape[1]} channel(s) per sample but {model.spec} expects "
            f"{expected[0]} (sample shape {tuple(x.shape[1:])})"
        )
    try:
        with torch.inference_mode():
            out = model.module(x[:2])
    except (RuntimeError, ValueError, IndexError, TypeError) as err:
        raise PrunevizError(
            f"model {model.spec} cannot take samples of shape {tuple(x.shape[1:])} from {spec}: "
            f"{first_line(err)}"
        ) from None
    if not isinstance(out, torch.Tensor) or out.dim() != 2:
        raise PrunevizError(f"model {model.spec} must return (batch, classes) logits for classification")
    return out.shape[1]


def digits_table() -> np.ndarray:
    """scikit-learn's shipped digits (1,797 rows of 64 pixels and the label), read from its CSV as
    ``sklearn.datasets.load_digits`` reads it, without importing scikit-learn (a second of start-up)."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise PrunevizError("the digits data is scikit-learn's: pip install scikit-learn")
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "digits.csv.gz"
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return np.loadtxt(f, delimiter=",")


def digits_split() -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """scikit-learn digits as (N, 1, 8, 8) floats in [0, 1]: a fixed 80% train / 20% validation split."""
    table = digits_table()
    x = torch.tensor(table[:, :-1].reshape(-1, 8, 8), dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(table[:, -1].astype(int), dtype=torch.long)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(SEED))
    n_train = int(0.8 * len(x))
    train, val = order[:n_train], order[n_train:]
    return (x[train], y[train]), (x[val], y[val])


@DATA_SCHEMES.register("digits")
def _digits(rest: str, model: LoadedModel, train: bool) -> Tensors:
    if rest:
        raise PrunevizError(f"data spec 'digits' takes no arguments, got 'digits:{rest}'")
    return digits_split()[0 if train else 1]


def synthetic_shape(rest: str) -> tuple[tuple[int, ...], int]:
    """(sample shape, count) of a ``synthetic:CxHxW:N`` spec (N defaults to 256)."""
    shape_text, _, count_text = rest.partition(":")
    try:
        shape = tuple(int(d) for d in shape_text.split("x"))
        count = int(count_text or 256)
        if not shape or min(shape) < 1 or count < 1:
            raise ValueError
    except ValueError:
        raise PrunevizError(
            f"synthetic data spec must look like synthetic:3x64x64:256, got 'synthetic:{rest}'"
        ) from None
    return shape, count


@DATA_SCHEMES.register("synthetic")
def _synthetic(rest: str, model: LoadedModel, train: bool) -> Tensors:
    shape, count = synthetic_shape(rest)
    gen = torch.Generator().manual_seed(SEED + (1 if train else 0))
    return torch.randn((count, *shape), generator=gen), None


def _image_transform(model: LoadedModel, gray_to_rgb: bool):
    """ToTensor, then the resize and normalisation the model expects (ImageNet-style models)."""
    from torchvision import transforms as T

    steps: list = [T.ToTensor()]
    if gray_to_rgb and model.input_shape and model.input_shape[0] == 3:
        steps.append(T.Lambda(lambda t: t.expand(3, -1, -1) if t.shape[0] == 1 else t))
    if model.input_shape is not None and len(model.input_shape) == 3:
        steps.append(T.Resize(model.input_shape[1:], antialias=True))
    if model.mean is not None and model.std is not None:
        steps.append(T.Normalize(model.mean, model.std))
    return T.Compose(steps)


TORCHVISION_DATASETS = ("MNIST", "FashionMNIST", "CIFAR10", "CIFAR100")


@DATA_SCHEMES.register("torchvision")
def _torchvision(rest: str, model: LoadedModel, train: bool) -> Tensors:
    import torchvision.datasets as tvd

    name, _, root = rest.partition(":")
    download = root.endswith(":download")
    root = root.removesuffix(":download")
    if name not in TORCHVISION_DATASETS or not root:
        raise PrunevizError(
            f"torchvision data spec must be torchvision:NAME:ROOT[:download] with NAME one of "
            f"{', '.join(TORCHVISION_DATASETS)}, got 'torchvision:{rest}'"
        )
    transform = _image_transform(model, gray_to_rgb=name in ("MNIST", "FashionMNIST"))
    try:
        ds = getattr(tvd, name)(root, train=train, download=download, transform=transform)
    except RuntimeError as err:
        raise PrunevizError(f"{name} not found under {root}: {err} (add ':download' to fetch it)") from None
    return dataset_tensors(ds)


@DATA_SCHEMES.register("folder")
def _folder(rest: str, model: LoadedModel, train: bool) -> Tensors:
    from torchvision.datasets import ImageFolder

    if model.input_shape is None:
        raise PrunevizError("folder data needs a model that knows its input size (e.g. torchvision:NAME)")
    try:
        ds = ImageFolder(rest, transform=_image_transform(model, gray_to_rgb=True))
    except (FileNotFoundError, OSError) as err:
        raise PrunevizError(f"cannot read image folder {rest}: {err}") from None
    return dataset_tensors(ds)


@DATA_SCHEMES.register("python")
def _python(rest: str, model: LoadedModel, train: bool) -> Tensors:
    module_name, sep, fn_name = rest.rpartition(":")
    if not sep or not module_name:
        raise PrunevizError(f"python data spec needs python:MODULE:FUNCTION, got 'python:{rest}'")
    return as_tensors(import_callable(module_name, fn_name)(), f"{module_name}:{fn_name}()")


@DATA_SCHEMES.register("model")
def _from_model(rest: str, model: LoadedModel, train: bool) -> Tensors:
    """The dataset a ``python:`` model factory returned with its model."""
    if model.dataset is None:
        raise PrunevizError(f"model {model.spec} came with no dataset; name one with --data")
    return as_tensors(model.dataset, f"the dataset of {model.spec}")


def as_tensors(obj: object, what: str) -> Tensors:
    """Accept ``(x, y)`` tensors, an ``x`` tensor alone, or a map-style Dataset of (x, y) pairs."""
    if isinstance(obj, torch.Tensor):
        return obj, None
    if isinstance(obj, tuple) and len(obj) == 2 and all(isinstance(t, torch.Tensor) for t in obj):
        x, y = obj
        if len(x) != len(y):
            raise PrunevizError(f"{what} gave {len(x)} inputs but {len(y)} labels")
        return x, y
    if hasattr(obj, "__getitem__") and hasattr(obj, "__len__"):
        return dataset_tensors(obj)
    raise PrunevizError(f"{what} returned {type(obj).__name__}; expected a Dataset or (x, y) tensors")


def dataset_tensors(ds) -> Tensors:
    """Stack a map-style dataset of (tensor, label) pairs into two tensors."""
    if len(ds) == 0:
        raise PrunevizError("the dataset is empty")
    loader = torch.utils.data.DataLoader(ds, batch_size=256)
    xs, ys = zip(*loader)
    return torch.cat(xs), torch.cat([torch.as_tensor(y) for y in ys])
