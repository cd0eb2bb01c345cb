"""Fuzzing what a weights-only torch file may hold (random keys, types and nesting, checkpoint fields of
any type): reading it gives a model or one PrunevizError, never another exception, and nothing it names
is imported."""

import sys

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pruneviz.core.errors import PrunevizError
from pruneviz.io.checkpoint import FORMAT
from pruneviz.io.demo import DemoCNN
from pruneviz.io.models import LoadedModel, ModelOptions
from pruneviz.workflows.session import load_pair
from tests.bad_inputs import HOSTILE

tensors = st.lists(st.integers(0, 3), max_size=3).map(lambda shape: torch.zeros(shape))
leaves = (
    st.none()
    | st.booleans()
    | st.integers(-5, 10**7)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | tensors
)
values = st.recursive(
    leaves,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=8) | st.integers(0, 9), inner, max_size=4)
    ),
    max_leaves=24,
)
specs = st.sampled_from(
    ["demo:cnn", "demo:mlp", "digits", "synthetic:1x8x8:4", HOSTILE, "file:/absent.pt", ""]
)
state = st.sampled_from([DemoCNN().state_dict(), {k: v.double() for k, v in DemoCNN().state_dict().items()}])
fields = {
    "version": values,
    "data_spec": specs | values,
    "info": values | st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3),
    "structure": st.sampled_from([[["conv1", True, [0, 1]]], [["fc9", False, [3]]], []]) | values,
    "input_shape": st.sampled_from([[1, 8, 8], [3, 10**5, 10**5], [0]]) | values,
}
# nearly valid checkpoints (a model the file names and its weights) reach the checks of every field...
near = st.fixed_dictionaries(
    {"format": st.just(FORMAT), "model_spec": specs, "state_dict": state}, optional=fields
)
# ...any of whose fields may also be anything at all
anything = st.fixed_dictionaries(
    {"format": st.just(FORMAT)},
    optional={"model_spec": specs | values, "state_dict": state | values, **fields},
)
payloads = near | anything | values | st.dictionaries(st.text(max_size=12), tensors, max_size=6)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=payloads, arch=st.sampled_from([None, "demo:cnn"]))
def test_any_weights_only_payload_gives_a_model_or_one_readable_error(tmp_path, payload, arch):
    path = tmp_path / "fuzzed.pt"
    torch.save(payload, path)
    try:
        model, data = load_pair(f"file:{path}", options=ModelOptions(arch=arch))  # and the data it names
    except PrunevizError as err:
        assert str(err) and "\n" not in str(err).strip()
    else:
        assert isinstance(model, LoadedModel) and len(data) > 0
    assert "this" not in sys.modules
