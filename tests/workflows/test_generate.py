import pytest

from pruneviz.core.errors import PrunevizError
from pruneviz.workflows.generate import side_by_side
from pruneviz.workflows.session import GlobalPlan, open_session


def test_dense_and_pruned_continuations_side_by_side(tiny_llama):
    session = open_session(f"hf:{tiny_llama}", device="cpu")
    same = side_by_side(session, "for x in", 12)
    assert same.dense == same.pruned and len(same.dense.encode()) <= 12  # dense twice; bytes are tokens
    session.apply_global(GlobalPlan(0.9))
    again = side_by_side(session, "for x in", 12)
    assert again.dense == same.dense  # greedy: the same text every time
    assert again.pruned != again.dense


def test_bad_requests(tiny_llama, cnn_session):
    session = open_session(f"hf:{tiny_llama}", device="cpu")
    with pytest.raises(PrunevizError, match="give a prompt"):
        side_by_side(session, "  ", 5)
    with pytest.raises(PrunevizError, match="exceeds the model's 128 positions"):
        side_by_side(session, "x" * 100, 50)
    with pytest.raises(PrunevizError, match="not a language model"):
        side_by_side(cnn_session, "hello", 5)
