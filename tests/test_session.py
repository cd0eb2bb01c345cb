import pytest
import torch

from pruneviz.errors import PrunevizError
from pruneviz.session import GlobalPlan, LayerPlan


def test_baseline_is_never_mutated(cnn_session):
    before = {k: v.clone() for k, v in cnn_session.model.module.state_dict().items()}
    cnn_session.prune_layer("conv2", LayerPlan(0.9, "taylor"))
    cnn_session.apply_global(GlobalPlan(0.8))
    cnn_session.report()
    after = cnn_session.model.module.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_masks_apply_to_dense_weights_and_can_be_undone(cnn_session):
    dense = cnn_session.dense_weights["fc1"].clone()
    cnn_session.prune_layer("fc1", LayerPlan(0.9))
    cnn_session.prune_layer("fc1", LayerPlan(0.5))  # re-masking starts from the dense weights
    assert cnn_session.layer_sparsity()["fc1"] == 0.5
    cnn_session.prune_layer("fc1", LayerPlan(0.0))
    assert torch.equal(cnn_session.modules["fc1"].weight, dense)


def test_report_reflects_pruning(cnn_session):
    dense = cnn_session.report()
    assert dense.accuracy > 0.95 and dense.params_total == dense.params_nonzero
    assert dense.macs_effective == dense.macs_dense
    cnn_session.prune_layer("conv2", LayerPlan(0.5))
    pruned = cnn_session.report()
    assert pruned.params_total - pruned.params_nonzero == 4608 // 2
    assert pruned.layers["conv2"] == 0.5 and pruned.layers["conv1"] == 0.0
    assert pruned.macs_dense == dense.macs_dense
    assert pruned.macs_effective == dense.macs_dense - 32 * 16 * 9 * 64 // 2
    assert pruned.size_bytes_sparse < dense.size_bytes_sparse


def test_heavy_pruning_hurts_accuracy(cnn_session):
    cnn_session.apply_global(GlobalPlan(0.98))
    assert cnn_session.report().accuracy < 0.5


def test_granularities(resnet_session):
    resnet_session.prune_layer("layer1.conv1", LayerPlan(0.5, "l1", "filter"))
    w = resnet_session.modules["layer1.conv1"].weight
    assert (w.flatten(1).abs().sum(1) == 0).sum() == 8
    resnet_session.prune_layer("layer2.conv2", LayerPlan(0.0, "magnitude", "2:4"))
    assert resnet_session.layer_sparsity()["layer2.conv2"] == 0.5
    resnet_session.prune_layer("layer3.conv1", LayerPlan(0.5, "bn_scale", "filter"))
    assert resnet_session.report().layers["layer3.conv1"] == 0.5
    with pytest.raises(PrunevizError, match="cannot score layer 'fc'"):
        resnet_session.prune_layer("fc", LayerPlan(0.5, "bn_scale", "filter"))


def test_global_plan_keeps_pinned_layers_dense(cnn_session):
    cnn_session.apply_global(GlobalPlan(0.7, pinned=("fc2",)))
    sparsity = cnn_session.layer_sparsity()
    assert sparsity["fc2"] == 0.0
    pruned = sum(sparsity[n] * cnn_session.modules[n].weight.numel() for n in sparsity)
    assert round(pruned) == int(0.7 * (144 + 4608 + 32768))


def test_apply_layer_plans_remasks_only_changed_layers(cnn_session):
    plans = {n: LayerPlan(0.5) for n in cnn_session.layer_names}
    assert cnn_session.apply_layer_plans(plans) == cnn_session.layer_names
    cnn_session.logits()
    plans["fc1"] = LayerPlan(0.7)
    assert cnn_session.apply_layer_plans(plans) == ["fc1"]
    assert cnn_session.layer_sparsity()["fc1"] == (32768 * 7 // 10) / 32768


def test_scores_are_cached_and_reported(cnn_session):
    assert not cnn_session.has_scores("taylor")
    first = cnn_session.scores("taylor")
    assert cnn_session.has_scores("taylor") and cnn_session.scores("taylor") is first


def test_structured_preview_matches_shrunk_model_and_resets(resnet_session):
    from pruneviz.structured import StructuredPlan

    dense = resnet_session.report()
    removal = resnet_session.plan_removal(StructuredPlan(global_ratio=0.5, criterion="bn_scale"))
    resnet_session.preview_removal(removal)
    preview = resnet_session.report()
    small = resnet_session.shrunk()
    with torch.no_grad():
        assert torch.allclose(small(resnet_session.data.x), resnet_session.logits(), atol=1e-5)
    params, _ = resnet_session.predicted_counts()
    assert params == sum(p.numel() for p in small.parameters()) < dense.params_total
    assert preview.layers["layer1.conv1"] > 0 and preview.accuracy != dense.accuracy
    resnet_session.reset()
    assert resnet_session.report().accuracy == dense.accuracy
    assert all(
        torch.equal(a, b)
        for a, b in zip(resnet_session.working.parameters(), resnet_session.model.module.parameters())
    )


def test_fork_save_and_load_state(cnn_session):
    cnn_session.prune_layer("fc1", LayerPlan(0.5))
    before = cnn_session.report()
    saved = cnn_session.save_state()
    other = cnn_session.fork()
    assert other.masks == {} and other.report().accuracy == pytest.approx(0.9833, abs=1e-4)
    other.prune_layer("conv2", LayerPlan(0.9))
    cnn_session.load_state(other.save_state())  # take over the other session's weights and masks
    assert cnn_session.layer_sparsity()["conv2"] == 4147 / 4608 and cnn_session.layer_sparsity()["fc1"] == 0.0
    cnn_session.load_state(saved)  # undo
    assert cnn_session.report().accuracy == before.accuracy and cnn_session.layer_sparsity()["fc1"] == 0.5
