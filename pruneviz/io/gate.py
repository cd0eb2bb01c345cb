"""What a spec or a file may make pruneviz do: one gate, asked wherever a spec is resolved.

Every model and data spec is resolved by :func:`pruneviz.io.models.load_model` and
:func:`pruneviz.io.data.load_data` — whether a person typed it, a browser sent it, or a file named it (a
checkpoint's ``model_spec`` and ``data_spec``, TorchScript, ONNX or safetensors metadata, the
``pruneviz.json`` of an hf directory). Both ask the :class:`Gate` carried by their options before doing
anything, so a new file format cannot forget the rules:

* ``python:`` specs import and run code. A person may type them where the gate allows it (the command
  line; a dashboard server started with ``PRUNEVIZ_ALLOW_PYTHON=1``). A spec *named inside a file* runs
  code only where that file may: never on a locked-down server, and on the command line only for a file
  the user trusts (``--trust-pickle``), exactly as for a pickle;
* paths (``file:``, ``folder:``, ``hf:``, ``text:``, ``torchvision:NAME:ROOT``, ``timm:NAME:FILE``)
  must lie under the
  gate's roots when it has any, after ``..`` and symlinks are resolved;
* sizes are bounded: one sample's shape (dimensions and elements), a synthetic data set, and the number
  and size of the tensors in a file (:meth:`Gate.check_archive`, :meth:`Gate.check_tensor_count`), so
  a crafted file cannot make the process allocate without limit before anything is checked.
"""

from __future__ import annotations

import math
import zipfile
from dataclasses import dataclass
from pathlib import Path

from pruneviz.core.errors import PrunevizError

# Schemes whose spec names a file or directory after the scheme (and, for torchvision data, a name).
_PATH_AFTER = {"file": 0, "folder": 0, "torchvision": 1, "timm": 1, "hf": 0, "text": 0}

MAX_SAMPLE_DIMS = 5  # C x D x H x W for video, one more to spare
MAX_SAMPLE_ELEMENTS = 2**24  # 16.8 M values per sample: 3 x 2048 x 2048 fits
MAX_DATA_ELEMENTS = 2**28  # a generated data set: 1 GiB of fp32
MAX_TENSORS = 100_000  # tensors in one file (a 70 B-parameter checkpoint holds about a thousand)
MAX_PICKLE_BYTES = 64 * 2**20  # the object graph of a torch file (not its tensors' bytes)
MAX_INFLATION = 16  # uncompressed / compressed bytes of a zip-based file (weights barely compress)


def spec_path(spec: str) -> str | None:
    """The server path a model or data spec reads, if any: ``folder:PATH``, ``file:PATH``, ``hf:PATH``,
    ``text:PATH``, ``torchvision:NAME:ROOT[:download]``, ``timm:NAME:FILE`` (a bare ``torchvision:resnet18``
    or ``timm:convnext_tiny`` and the
    standard library's ``text:pydoc`` name no path)."""
    scheme, _, rest = spec.partition(":")
    if scheme not in _PATH_AFTER or not rest or spec == "text:pydoc":
        return None
    parts = rest.split(":", _PATH_AFTER[scheme])
    if len(parts) <= _PATH_AFTER[scheme]:
        return None
    return parts[-1].removesuffix(":download") or None


@dataclass(frozen=True)
class Gate:
    """The rules specs and files are held to (hashable: a dashboard's model cache is keyed by it).

    ``python``: a person may type ``python:`` specs; ``python_in_files``: a file may name them (it runs
    code); ``roots``: the folders paths must lie under (None: anywhere); ``why_python`` and
    ``why_roots``: the setting that would allow more, quoted in refusals.
    """

    python: bool = True
    python_in_files: bool = False
    roots: tuple[Path, ...] | None = None
    why_python: str = "pass --trust-pickle if you trust the file"
    why_roots: str = ""

    def check_spec(self, spec: str | None, named_in: str | None = None) -> None:
        """Refuse ``spec`` in one line when these rules do not allow it; ``named_in`` is the file (or
        model) that named it, None when a person typed it."""
        if not spec:
            return
        where = f"{named_in} names '{spec}'" if named_in else f"'{spec}'"
        if spec.startswith("python:") and not (self.python_in_files if named_in else self.python):
            raise PrunevizError(f"{where}: it would run Python code on this machine; {self.why_python}")
        path = spec_path(spec)
        if path is not None:
            self.check_path(path, where)

    def check_path(self, path: str | Path, what: str | None = None) -> None:
        """Refuse a path outside the roots (symlinks and '..' followed first)."""
        if self.roots is None:
            return
        resolved = Path(path).expanduser().resolve()
        if not any(resolved.is_relative_to(root) for root in self.roots):
            shared = ", ".join(str(r) for r in self.roots)
            raise PrunevizError(
                f"{what or 'this spec'}: '{path}' is outside the folders this server shares ({shared})"
                + (f"; {self.why_roots}" if self.why_roots else "")
            )

    def check_shape(self, shape: tuple[int, ...], what: str, samples: int = 1) -> None:
        """Refuse a sample shape (and, with ``samples``, a data set of it) too large to allocate."""
        if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in shape):
            raise PrunevizError(f"{what}: a sample shape is positive whole numbers, got {list(shape)!r}")
        if len(shape) > MAX_SAMPLE_DIMS:
            raise PrunevizError(f"{what}: samples of {len(shape)} dimensions (at most {MAX_SAMPLE_DIMS})")
        elements = math.prod(shape)
        if elements > MAX_SAMPLE_ELEMENTS:
            raise PrunevizError(
                f"{what}: a sample of {elements:,} values is too large (at most {MAX_SAMPLE_ELEMENTS:,})"
            )
        if elements * samples > MAX_DATA_ELEMENTS:
            raise PrunevizError(
                f"{what}: {samples:,} samples of {elements:,} values are too many (at most "
                f"{MAX_DATA_ELEMENTS:,} values in all)"
            )

    def check_tensor_count(self, count: int, what: str) -> None:
        if count > MAX_TENSORS:
            raise PrunevizError(f"{what} holds {count:,} tensors (at most {MAX_TENSORS:,}): not a model file")

    def check_archive(self, path: Path) -> None:
        """Refuse a zip-based file (torch.save, TorchScript) whose entries would take unbounded time or
        memory to read: too many of them, an object graph too large, or entries that inflate far beyond
        the file's size (a zip bomb). Reads only the zip's directory."""
        try:
            with zipfile.ZipFile(path) as archive:
                entries = archive.infolist()
        except (zipfile.BadZipFile, OSError, ValueError):
            return  # not a zip: the reader says what it is
        self.check_tensor_count(len(entries), str(path))
        pickles = sum(e.file_size for e in entries if e.filename.endswith(".pkl"))
        if pickles > MAX_PICKLE_BYTES:
            raise PrunevizError(
                f"{path}: its object graph is {pickles / 2**20:.0f} MiB (at most "
                f"{MAX_PICKLE_BYTES // 2**20} MiB): not a model file"
            )
        unpacked = sum(e.file_size for e in entries)
        if unpacked > MAX_INFLATION * max(path.stat().st_size, 2**20):
            raise PrunevizError(
                f"{path}: its entries unpack to {unpacked / 2**30:.1f} GiB from a "
                f"{path.stat().st_size / 2**20:.1f} MiB file: refused (a zip bomb, not a model file)"
            )


# The command line: the user's own process. Typed specs are theirs; a file may not run code unless
# the user trusts it (see Gate.python_in_files), and sizes are bounded as everywhere.
USER = Gate()
