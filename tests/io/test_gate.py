from pathlib import Path

import pytest

from pruneviz.core.errors import PrunevizError
from pruneviz.io.gate import MAX_SAMPLE_DIMS, MAX_SAMPLE_ELEMENTS, USER, Gate, spec_path


@pytest.mark.parametrize(
    ("spec", "path"),
    [
        ("folder:/data/val", "/data/val"),
        ("file:model.pt", "model.pt"),
        ("hf:models/llama", "models/llama"),
        ("text:notes.txt", "notes.txt"),
        ("torchvision:CIFAR10:/data/cifar", "/data/cifar"),
        ("torchvision:CIFAR10:/data/cifar:download", "/data/cifar"),
        ("torchvision:resnet18", None),
        ("text:pydoc", None),
        ("digits", None),
        ("synthetic:3x64x64:256", None),
        ("demo:cnn", None),
        ("folder:", None),
    ],
)
def test_spec_path_finds_the_path_a_spec_reads(spec, path):
    assert spec_path(spec) == path


def test_the_user_may_type_python_but_a_file_may_name_it_only_when_trusted():
    USER.check_spec("python:os:getcwd")  # typed on the command line: the user's own code
    with pytest.raises(
        PrunevizError, match=r"m\.pt names 'python:os:getcwd': it would run Python code.*--trust-pickle"
    ):
        USER.check_spec("python:os:getcwd", named_in="m.pt")
    Gate(python_in_files=True).check_spec("python:os:getcwd", named_in="m.pt")


def test_roots_refuse_escapes_by_dots_absolute_paths_and_links(tmp_path, monkeypatch):
    root = tmp_path / "shared"
    (root / "inside").mkdir(parents=True)
    (root / "link").symlink_to(tmp_path)
    monkeypatch.chdir(root)
    gate = Gate(roots=(root.resolve(),), why_roots="set DATA_ROOT")
    gate.check_spec("file:inside/m.pt")
    for escape in ("../x.pt", "inside/../../x.pt", str(tmp_path / "x.pt"), "link/x.pt"):
        with pytest.raises(PrunevizError, match=r"outside the folders this server shares.*set DATA_ROOT"):
            gate.check_spec(f"file:{escape}", named_in="upload.pt")
    USER.check_spec(f"file:{tmp_path / 'x.pt'}")  # no roots: anywhere


def test_sample_shapes_and_data_sets_are_bounded():
    USER.check_shape((3, 224, 224), "data", 64)
    with pytest.raises(PrunevizError, match="too large"):
        USER.check_shape((3, 100_000, 100_000), "data")
    with pytest.raises(PrunevizError, match="dimensions"):
        USER.check_shape((1,) * (MAX_SAMPLE_DIMS + 1), "data")
    with pytest.raises(PrunevizError, match="too many"):
        USER.check_shape((MAX_SAMPLE_ELEMENTS,), "data", 1000)
    with pytest.raises(PrunevizError, match="positive whole numbers"):
        USER.check_shape((3, 0, 8), "data")


def test_archives_with_too_many_entries_or_that_inflate_are_refused(tmp_path):
    import zipfile

    bomb = tmp_path / "bomb.pt"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bomb/data/0", b"\0" * (64 * 2**20))
    assert bomb.stat().st_size < 2**20
    with pytest.raises(PrunevizError, match="zip bomb"):
        USER.check_archive(bomb)
    USER.check_archive(Path(__file__))  # not a zip: left to the reader
