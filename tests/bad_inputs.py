"""The table of bad inputs pruneviz must answer with a clear message (dashboard) or one line on stderr and
exit status 2 (CLI), losing nothing. Each row makes its input in a temporary folder and says which words
the message must contain. Used by tests/e2e/test_bad_inputs.py through both the CLI and AppTest."""

from __future__ import annotations

import pickle
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from pruneviz.io.checkpoint import save_checkpoint
from pruneviz.io.demo import DemoCNN, DemoMLP

MARKER = "pruneviz-pwned.txt"


@dataclass(frozen=True)
class BadFile:
    """A model file to load as ``file:PATH`` (``arch`` for bare state_dicts)."""

    name: str
    make: Callable[[Path], Path]
    message: str
    arch: str | None = None


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


class _Payload:
    """Unpickling this would create MARKER next to it: pruneviz must never run it by default."""

    def __init__(self, target: Path) -> None:
        self.target = str(target)

    def __reduce__(self):
        return (Path.write_text, (Path(self.target), "pwned"))


def _malicious(tmp: Path) -> Path:
    return _write(tmp / "evil.pt", pickle.dumps(_Payload(tmp / MARKER)))


def _truncated(tmp: Path) -> Path:
    good = save_checkpoint(tmp / "good.pt", DemoCNN(), "demo:cnn", "digits")
    return _write(tmp / "cut.pt", good.read_bytes()[: good.stat().st_size // 3])


def _other_arch(tmp: Path) -> Path:
    path = tmp / "mlp_sd.pt"
    torch.save(DemoMLP().state_dict(), path)
    return path


def _pickled_module(tmp: Path) -> Path:
    path = tmp / "module.pt"
    torch.save(DemoCNN(), path)
    return path


def _broken_torchscript(tmp: Path) -> Path:
    path = tmp / "broken.pt"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("broken/code/__torch__.py", "def forward(self):\n    return undefined_name(\n")
        zf.writestr("broken/data.pkl", b"not a pickle")
    return path


def _nan_weights(tmp: Path) -> Path:
    model = DemoCNN()
    with torch.no_grad():
        model.conv2.weight[0, 0, 0, 0] = float("nan")
    return save_checkpoint(tmp / "nan.pt", model, "demo:cnn", "digits")


BAD_FILES = [
    BadFile("missing file", lambda t: t / "absent.pt", "not found"),
    BadFile("empty file", lambda t: _write(t / "empty.pt", b""), "corrupt"),
    BadFile("corrupt bytes", lambda t: _write(t / "junk.pt", b"\x00garbage" * 64), "corrupt"),
    BadFile("truncated checkpoint", _truncated, "corrupt"),
    BadFile("state_dict of another architecture", _other_arch, "does not fit", arch="demo:cnn"),
    BadFile("pickled module without trust", _pickled_module, "pickled Python objects"),
    BadFile("pickle that would run code", _malicious, "pickled Python objects"),
    BadFile("TorchScript that fails to load", _broken_torchscript, "cannot read"),
    BadFile("NaN weights", _nan_weights, "NaN or infinite"),
]


def image_folder_with_junk(tmp: Path) -> Path:
    """Mixed sizes, grayscale and RGB, a non-image file, and an empty class folder."""
    root = tmp / "images"
    for cls in ("cat", "dog", "empty"):
        (root / cls).mkdir(parents=True)
    Image.new("RGB", (40, 30), (200, 10, 10)).save(root / "cat" / "a.png")
    Image.new("L", (64, 64), 128).save(root / "dog" / "b.png")
    (root / "dog" / "notes.txt").write_text("not an image")
    return root


BAD_RECIPES = [
    ("unknown layer", "pruneviz: 1\nlayers: {conv9: {sparsity: 0.5}}\n", "unknown layer 'conv9'"),
    ("sparsity out of range", "pruneviz: 1\ndefault: {sparsity: 1.5}\n", "[0, 1)"),
    ("non-numeric sparsity", "pruneviz: 1\ndefault: {sparsity: half}\n", "must be a number"),
    (
        "unknown criterion",
        "pruneviz: 1\ndefault: {sparsity: 0.5, criterion: vibes}\n",
        "unknown weight criterion",
    ),
    ("wrong version", "pruneviz: 2\ndefault: {sparsity: 0.5}\n", "pruneviz: 1"),
    ("not YAML", "pruneviz: [1\n", "not valid YAML"),
]
