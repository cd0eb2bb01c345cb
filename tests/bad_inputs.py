"""The table of bad inputs pruneviz must answer with a clear message (dashboard) or one line on stderr and
exit status 2 (CLI), losing nothing. Each row makes its input in a temporary folder and says which words
the message must contain. Used by tests/e2e/test_bad_inputs.py through both the CLI and AppTest.

:data:`HOSTILE_FILES` are crafted the way an attendee attacking a room's server would craft them
(tests/e2e/test_hostile_files.py): files that name code to run (``python:this:s``: importing ``this``
prints the Zen of Python, and leaves ``this`` in ``sys.modules``), paths out of the shared folders, sizes
meant to exhaust memory, lying headers, impossible values, recipes for another model."""

from __future__ import annotations

import json
import pickle
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from pruneviz.io.checkpoint import FORMAT, save_checkpoint
from pruneviz.io.demo import DemoCNN, DemoMLP
from pruneviz.io.formats import ExportMeta, export_model

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


HOSTILE = "python:this:s"  # importing `this` prints the Zen of Python and stays in sys.modules
ZEN = "Beautiful is better than ugly"
SHARED = "shared"  # the folder under the test's tmp dir that the server shares (PRUNEVIZ_DATA_ROOT)


@dataclass(frozen=True)
class HostileFile:
    """A crafted file, uploaded (or named) as ``file:PATH``; ``message``: what the refusal says on a
    room's server. ``cli``: what the command line says, when it differs (None: the command line, the
    user's own process confined to no folder, loads it)."""

    name: str
    make: Callable[[Path], Path]
    message: str
    cli: str | bool | None = True  # True: the same message as the dashboard

    def cli_message(self) -> str | None:
        return self.message if self.cli is True else self.cli


def _checkpoint(tmp: Path, name: str, **fields) -> Path:
    """A weights-only pruneviz checkpoint of demo:cnn (no pickle needed) with ``fields`` replaced."""
    payload = {"format": FORMAT, "version": 1, "model_spec": "demo:cnn", "data_spec": "digits",
               "state_dict": DemoCNN().state_dict(), "info": {}} | fields  # fmt: skip
    torch.save(payload, tmp / name)
    return tmp / name


def _outside(tmp: Path) -> Path:
    """A valid checkpoint outside the shared folder, and the shared folder itself with a link out."""
    (tmp / SHARED).mkdir(exist_ok=True)
    (tmp / "outside").mkdir(exist_ok=True)
    if not (tmp / SHARED / "link").exists():
        (tmp / SHARED / "link").symlink_to(tmp / "outside")
    return save_checkpoint(tmp / "outside" / "m.pt", DemoCNN(), "demo:cnn", "digits")


def _torchscript_naming(tmp: Path) -> Path:
    meta = ExportMeta("demo:cnn", HOSTILE, (1, 8, 8))
    return export_model(DemoCNN().eval(), tmp / "named.ts", "torchscript", meta)


def _onnx_naming(tmp: Path) -> Path:
    return export_model(
        DemoCNN().eval(), tmp / "named.onnx", "onnx", ExportMeta("demo:cnn", HOSTILE, (1, 8, 8))
    )


def _safetensors_naming(tmp: Path) -> Path:
    from safetensors.torch import save_file

    save_file(DemoCNN().state_dict(), str(tmp / "named.safetensors"), metadata={"model_spec": HOSTILE})
    return tmp / "named.safetensors"


def _safetensors_header(tmp: Path, header: bytes, length: int | None = None) -> Path:
    path = tmp / "lying.safetensors"
    path.write_bytes(struct.pack("<Q", len(header) if length is None else length) + header + b"\0" * 16)
    return path


def _lying_sizes(tmp: Path) -> Path:
    entry = {"dtype": "F32", "shape": [10**9], "data_offsets": [0, 4 * 10**9]}
    return _safetensors_header(tmp, json.dumps({"conv1.weight": entry}).encode())


def _zip_bomb(tmp: Path) -> Path:
    path = tmp / "bomb.pt"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bomb/data.pkl", pickle.dumps({}, protocol=2))
        archive.writestr("bomb/data/0", b"\0" * (128 * 2**20))  # a 128 MiB "tensor" in ~130 KB
    return path


def _infinite(tmp: Path) -> Path:
    model = DemoCNN()
    with torch.no_grad():
        model.fc2.bias[3] = float("inf")
    return save_checkpoint(tmp / "inf.pt", model, "demo:cnn", "digits")


def _nested(tmp: Path) -> Path:
    deep: list = []
    for _ in range(100):
        deep = [deep]
    return _checkpoint(tmp, "nested.pt", info={"notes": "x"}, deep=deep)


def _named(name: str, **fields) -> Callable[[Path], Path]:
    return lambda tmp: _checkpoint(tmp, name, **fields)


def _escape(name: str, path: str) -> Callable[[Path], Path]:
    """A checkpoint whose model is ``path`` (relative to the test's folder) below the shared folder."""
    return lambda tmp: _checkpoint(
        tmp, name, model_spec=f"file:{_outside(tmp).parent.parent}/{SHARED}/{path}"
    )


def _many(tmp: Path) -> Path:
    return _checkpoint(
        tmp, "many.pt", state_dict=dict.fromkeys((f"w{i}" for i in range(10**6)), torch.zeros(1))
    )


SHAPE = {"structure": [["conv1", True, [0]]], "input_shape": [3, 10**5, 10**5]}
CODE, OUT = "would run Python code", "outside the folders this server shares"
HOSTILE_FILES = [
    HostileFile("checkpoint naming python code as its model", _named("model.pt", model_spec=HOSTILE), CODE),
    HostileFile("checkpoint naming python code as its data", _named("data.pt", data_spec=HOSTILE), CODE),
    HostileFile("TorchScript naming python code as its data", _torchscript_naming, CODE),
    HostileFile("ONNX naming python code as its data", _onnx_naming, CODE),
    HostileFile("safetensors naming python code as its model", _safetensors_naming, CODE),
    HostileFile("checkpoint naming a file out of the shared folders by '..'",
                _escape("dots.pt", "../outside/m.pt"), OUT, cli=None),
    HostileFile("checkpoint naming an absolute path", _named("abs.pt", data_spec="folder:/etc"), OUT,
                cli="cannot read image folder"),
    HostileFile("checkpoint naming a link that leads out", _escape("link.pt", "link/m.pt"), OUT, cli=None),
    HostileFile("checkpoint with a giant input shape", _named("shape.pt", **SHAPE), "too large"),
    HostileFile("checkpoint naming a giant synthetic data set",
                _named("synthetic.pt", data_spec="synthetic:1x8x8:1000000000"), "too many"),
    HostileFile("checkpoint whose state_dict has 10^6 tiny tensors", _many, "1,000,000 tensors"),
    HostileFile("a zip bomb posing as a torch file", _zip_bomb, "zip bomb"),
    HostileFile("safetensors whose header lies about sizes", _lying_sizes, "cannot read safetensors file"),
    HostileFile("safetensors announcing a terabyte header",
                lambda t: _safetensors_header(t, b"{}", length=2**40), "cannot read safetensors file"),
    HostileFile("infinite weights", _infinite, "NaN or infinite"),
    HostileFile("checkpoint fields of the wrong type", _named("types.pt", model_spec=["demo:cnn"]),
                "not a valid pruneviz checkpoint"),
    HostileFile("objects nested a hundred levels deep", _nested, "nests its objects"),
]  # fmt: skip


def hf_directory_naming(tmp: Path) -> Path:
    """demo:gpt's files in a folder of the shared one, whose pruneviz.json names python code as its data."""
    import shutil

    from pruneviz.io.hf import DEMO_GPT

    folder = tmp / SHARED / "gpt"
    shutil.copytree(DEMO_GPT, folder)
    (folder / "pruneviz.json").write_text(json.dumps({"data_spec": HOSTILE}))
    return folder


# (name, text, what a session on demo:cnn says, what `pruneviz evaluate --recipe` alone says)
HOSTILE_RECIPES = [
    ("recipe for another model", "pruneviz: 1\nmodel: demo:mlp\nlayers: {fc1: {sparsity: 0.5}}\n",
     "is for demo:mlp, not for demo:cnn", None),
    ("recipe naming python code", f"pruneviz: 1\nmodel: {HOSTILE}\ndefault: {{sparsity: 0.5}}\n",
     f"is for {HOSTILE}, not for demo:cnn", "would run Python code"),
]  # fmt: skip
