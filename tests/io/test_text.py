import pytest
import torch

from pruneviz.core.errors import PrunevizError
from pruneviz.io.data import DataOptions
from pruneviz.io.models import load_model
from pruneviz.io.text import DEFAULT_WINDOWS, TRAIN_SHARE, load_text, pydoc_text, tokens


@pytest.fixture(scope="module")
def llama(tiny_llama):
    return load_model(f"hf:{tiny_llama}")


def test_pydoc_text_is_the_standard_librarys_topics():
    text = pydoc_text()
    assert 400_000 < len(text) < 600_000 and "for_stmt" not in text[:10] and "for" in text


def test_validation_windows_come_from_the_last_tenth_and_calibration_from_the_rest(llama):
    data = load_text("text:pydoc", llama, DataOptions(context=64, calibration=16))
    ids = tokens(llama, pydoc_text())
    cut = int(TRAIN_SHARE * len(ids))
    assert data.x.shape == (DEFAULT_WINDOWS, 64) and torch.equal(data.x, data.y)
    val, train = ids[cut:], ids[:cut]
    first = data.x[0]
    assert any(
        torch.equal(val[i : i + 64], first) for i in range(0, len(val) - 63, 64)
    )  # a validation window
    cal, _ = data.calibration
    assert cal.shape == (16, 64)
    for window in cal:  # every calibration window lies inside the training part
        starts = (train[:-63].unfold(0, 64, 1) == window).all(1)
        assert starts.any()
    again = load_text("text:pydoc", llama, DataOptions(context=64, calibration=16))
    assert torch.equal(again.x, data.x) and torch.equal(again.calibration[0], cal)  # seeded


def test_limit_context_and_the_training_split(llama):
    data = load_text("text:pydoc", llama, DataOptions(limit=5))
    assert data.x.shape == (5, 128)  # min(the model's 128 positions, 128)
    train = load_text("text:pydoc", llama, DataOptions(context=100), train=True)
    assert train.x.shape[1] == 100 and len(train) > 10 * DEFAULT_WINDOWS


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"\x00\x01\x02binary", "is binary"),
        (b"\xff\xfe not utf-8", "not UTF-8"),
        (b"short text", "too short"),
    ],
)
def test_bad_text_files_are_one_clear_line(llama, tmp_path, content, message):
    path = tmp_path / "t.txt"
    path.write_bytes(content)
    with pytest.raises(PrunevizError, match=message):
        load_text(f"text:{path}", llama, DataOptions())


def test_other_bad_requests(llama, tmp_path):
    with pytest.raises(PrunevizError, match="text file not found"):
        load_text(f"text:{tmp_path / 'none.txt'}", llama, DataOptions())
    with pytest.raises(PrunevizError, match="--context must be between 2 and the model's 128"):
        load_text("text:pydoc", llama, DataOptions(context=4096))
    with pytest.raises(PrunevizError, match="text:pydoc' or 'text:PATH'"):
        load_text("digits", llama, DataOptions())
