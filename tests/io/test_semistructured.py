import pytest
import torch

from pruneviz.core.errors import PrunevizError
from pruneviz.io.formats import export_model
from pruneviz.io.models import load_model
from pruneviz.io.semistructured import convertible_layers, is_two_four, unsupported_reason
from pruneviz.workflows.apply import verify_export
from pruneviz.workflows.session import LayerPlan, open_session

GPU = unsupported_reason("cuda")


@pytest.fixture
def two_four():
    session = open_session("demo:cnn", device="cpu")
    session.apply_layer_plans({n: LayerPlan(0.5, "magnitude", "2:4") for n in ("conv2", "fc1", "fc2")})
    return session


def test_two_four_pattern_is_checked_per_group_of_four_inputs():
    assert is_two_four(torch.tensor([[0.0, 1, 0, 2, 3, 0, 0, 4]]))
    assert not is_two_four(torch.tensor([[1.0, 1, 0, 2, 3, 0, 0, 4]]))  # three in the first group
    assert not is_two_four(torch.zeros(2, 6))  # inputs not a multiple of four
    assert not is_two_four(torch.zeros(4, 4, 3, 3))  # kernels are not what the sparse matmul takes


def test_only_two_four_linear_layers_of_a_kernel_friendly_shape_convert(two_four):
    assert convertible_layers(two_four.model.module) == []  # dense
    # fc1 (64 x 512) fits; fc2 (10 x 64) is too small for the kernels; conv2 is not a Linear layer
    assert convertible_layers(two_four.working) == ["fc1"]


def test_devices_without_sparse_tensor_cores_are_named():
    assert "not a CUDA GPU" in unsupported_reason("cpu")
    if not torch.cuda.is_available():
        assert unsupported_reason("cuda") == "this machine has no CUDA GPU"


@pytest.mark.skipif(GPU is None, reason="this machine has a GPU that takes semi-structured tensors")
def test_export_without_such_a_gpu_is_refused_with_the_way_out(two_four, tmp_path):
    with pytest.raises(PrunevizError, match=r"compute capability 8\.0\+.*export state_dict here"):
        export_model(two_four.working, tmp_path / "m.pt", "semi-structured", two_four.export_meta())
    assert not (tmp_path / "m.pt").exists()


def test_a_model_without_two_four_layers_is_refused_first(tmp_path):
    dense = open_session("demo:cnn", device="cpu")
    with pytest.raises(PrunevizError, match="prune with granularity 2:4 first"):
        export_model(dense.working, tmp_path / "m.pt", "semi-structured", dense.export_meta())


@pytest.mark.skipif(GPU is not None, reason=f"needs a GPU for semi-structured tensors ({GPU})")
def test_semi_structured_export_runs_on_sparse_tensor_cores_and_verifies(two_four, tmp_path):
    path = export_model(two_four.working, tmp_path / "m.pt", "semi-structured", two_four.export_meta())
    assert load_model(f"file:{path}").info["semi_structured_layers"] == "fc1"
    check = verify_export(two_four, path, "semi-structured", two_four.report().score)
    assert check.ok, check
