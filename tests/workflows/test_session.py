import pytest
import torch

from pruneviz.core.errors import PrunevizError
from pruneviz.core.granularity import NM
from pruneviz.io.data import load_data
from pruneviz.io.models import load_model, weights_digest
from pruneviz.workflows.recovery import TrainConfig, Trained, TrainingSpec, finetune, train_split
from pruneviz.workflows.sensitivity import SweepSpec, sweep
from pruneviz.workflows.session import GlobalPlan, LayerPlan, Opaque, PruneSession, Stamp
from pruneviz.workflows.structured import StructuredPlan


def test_baseline_is_never_mutated(cnn_session):
    before = {k: v.clone() for k, v in cnn_session.model.module.state_dict().items()}
    cnn_session.prune_layer("conv2", LayerPlan(0.9, "taylor"))
    cnn_session.apply_global(GlobalPlan(0.8))
    cnn_session.report()
    after = cnn_session.model.module.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_nothing_the_engine_does_writes_the_shared_baseline(resnet_session):
    """A session's working copy shares the baseline's tensors until it writes them (copy-on-write):
    sweeps, fine-tunes (BatchNorm statistics too), structured previews, undo and re-masking must each
    write only tensors of their own."""
    session = resnet_session
    before = weights_digest(session.model.module)
    session.prune_layer("layer2.conv1", LayerPlan(0.7))
    sweep(session.fork(), SweepSpec((0.0, 0.5)))
    finetune(session, {"fc": LayerPlan(0.5)}, train_split(session), TrainConfig(steps=3, eval_every=3))
    session.back_to_loaded()
    session.preview_removal(session.plan_removal(StructuredPlan(global_ratio=0.3)))
    session.reset()
    session.prune_layer("fc", LayerPlan(0.0))
    assert weights_digest(session.model.module) == before
    assert session.report().score == session.fork().report().score  # back to the baseline's figures


def test_one_sessions_training_step_does_not_disturb_anothers_backward_pass(cnn_session):
    """Sessions over one baseline train side by side in a room: B's in-place optimizer step between A's
    forward and backward must not look to autograd like a change of A's saved weights."""
    a, b = cnn_session, cnn_session.fork()
    loss = a.writable()(a.data.x[:8]).sum()
    with torch.no_grad():
        for p in b.writable().parameters():
            p.add_(1.0)
    loss.backward()  # raised "modified by an inplace operation" when the copies shared version counters
    assert a.working.conv1.weight.grad is not None


def test_masks_apply_to_dense_weights_and_can_be_undone(cnn_session):
    dense = cnn_session.dense_weights["fc1"].clone()
    cnn_session.prune_layer("fc1", LayerPlan(0.9))
    cnn_session.prune_layer("fc1", LayerPlan(0.5))  # re-masking starts from the dense weights
    assert cnn_session.layer_sparsity()["fc1"] == 0.5
    cnn_session.prune_layer("fc1", LayerPlan(0.0))
    assert torch.equal(cnn_session.modules["fc1"].weight, dense)


def test_report_reflects_pruning(cnn_session):
    dense = cnn_session.report()
    assert dense.score > 0.95 and dense.params_total == dense.params_nonzero
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
    assert cnn_session.report().score < 0.5


def test_granularities(resnet_session):
    resnet_session.prune_layer("layer1.conv1", LayerPlan(0.5, "l1", "filter"))
    w = resnet_session.modules["layer1.conv1"].weight
    assert (w.flatten(1).abs().sum(1) == 0).sum() == 8
    resnet_session.prune_layer("layer2.conv2", LayerPlan(0.3, "magnitude", "2:4"))
    assert resnet_session.layer_sparsity()["layer2.conv2"] == 0.5  # N:M fixes any sparsity above 0
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
    cnn_session.outputs()
    plans["fc1"] = LayerPlan(0.7)
    assert cnn_session.apply_layer_plans(plans) == ["fc1"]
    assert cnn_session.layer_sparsity()["fc1"] == (32768 * 7 // 10) / 32768


def test_scores_are_cached_and_reported(cnn_session):
    assert not cnn_session.has_scores("taylor")
    first = cnn_session.scores("taylor")
    assert cnn_session.has_scores("taylor") and cnn_session.scores("taylor") is first


def test_structured_preview_matches_shrunk_model_and_resets(resnet_session):
    dense = resnet_session.report()
    removal = resnet_session.plan_removal(StructuredPlan(global_ratio=0.5, criterion="bn_scale"))
    resnet_session.preview_removal(removal)
    preview = resnet_session.report()
    small = resnet_session.shrunk()
    with torch.no_grad():
        assert torch.allclose(small(resnet_session.data.x), resnet_session.outputs(), atol=1e-5)
    params, _ = resnet_session.predicted_counts()
    assert params == sum(p.numel() for p in small.parameters()) < dense.params_total
    assert preview.layers["layer1.conv1"] > 0 and preview.score != dense.score
    resnet_session.reset()
    assert resnet_session.report().score == dense.score
    assert all(
        torch.equal(a, b)
        for a, b in zip(resnet_session.working.parameters(), resnet_session.model.module.parameters())
    )


def test_fork_snapshot_and_restore(cnn_session):
    cnn_session.prune_layer("fc1", LayerPlan(0.5))
    before = cnn_session.report()
    saved = cnn_session.snapshot()
    other = cnn_session.fork()
    assert other.masks == {} and other.report().score == pytest.approx(0.9833, abs=1e-4)
    other.prune_layer("conv2", LayerPlan(0.9))
    cnn_session.restore(other.snapshot())  # take over the other session's weights and masks
    assert cnn_session.layer_sparsity()["conv2"] == 4147 / 4608 and cnn_session.layer_sparsity()["fc1"] == 0.0
    cnn_session.restore(saved)  # undo
    assert cnn_session.report().score == before.score and cnn_session.layer_sparsity()["fc1"] == 0.5


def test_a_layer_at_zero_stays_dense_under_n_m(cnn_session):
    """Regression: with 2:4 selected, a layer whose slider was at 0 came out 50% sparse."""
    assert LayerPlan(0.0, "magnitude", NM(2, 4)).dense
    cnn_session.apply_layer_plans(
        {"fc1": LayerPlan(0.0, "magnitude", "2:4"), "fc2": LayerPlan(0.4, "magnitude", "2:4")}
    )
    assert cnn_session.layer_sparsity()["fc1"] == 0.0 and cnn_session.layer_sparsity()["fc2"] == 0.5


def test_every_change_of_masks_advances_the_version_and_keeps_the_origin_of_the_weights(resnet_session):
    resnet_session.origin = trained = Trained(TrainingSpec(TrainConfig(steps=5), target={}))
    changes = [
        lambda s: s.prune_layer("fc", LayerPlan(0.5)),
        lambda s: s.apply_global(GlobalPlan(0.5)),
        lambda s: s.preview_removal(s.plan_removal(StructuredPlan(global_ratio=0.3))),
        lambda s: s.reset(),
    ]
    for change in changes:
        before = resnet_session.stamp(masks=True)
        change(resnet_session)
        assert not resnet_session.holds(before) and resnet_session.holds(Stamp(before.basis))
        assert resnet_session.origin is trained  # the masks changed, not where the weights came from
    saved = resnet_session.snapshot()
    resnet_session.back_to_loaded()
    assert resnet_session.origin is None
    resnet_session.restore(saved)  # undo brings the origin back with the weights it describes
    assert resnet_session.origin is trained


def test_plans_after_a_structured_preview_start_from_dense(resnet_session):
    resnet_session.preview_removal(resnet_session.plan_removal(StructuredPlan(global_ratio=0.5)))
    resnet_session.apply_layer_plans({"fc": LayerPlan(0.5)})
    assert resnet_session.removal is None
    sparsity = resnet_session.layer_sparsity()
    assert sparsity["fc"] == 0.5 and all(s == 0.0 for n, s in sparsity.items() if n != "fc")


def test_fork_carries_every_setting():
    model = load_model("demo:resnet")
    session = PruneSession(
        model, load_data(None, model, limit=64), extra_layers=("bn1",), memory_budget=2**20
    )
    other = session.fork()
    assert other.layer_names == session.layer_names and "bn1" in other.layer_names
    assert other.memory_budget == 2**20 and session.fork(memory_budget=2**30).memory_budget == 2**20
    assert session.fork(memory_budget=1024).memory_budget == 1024


def test_criteria_score_the_adopted_weights(cnn_session):
    """Regression: after training, masks were still ranked by the loaded baseline's magnitudes."""
    baseline_order = cnn_session.scores("magnitude")["fc1"].clone()
    with torch.no_grad():
        cnn_session.modules["fc1"].weight.mul_(torch.linspace(0, 1, 64)[:, None])  # as if training moved them
    cnn_session.adopt_weights(Opaque("weights moved by hand"))
    assert torch.equal(cnn_session.scores("magnitude")["fc1"], cnn_session.dense_weights["fc1"].abs())
    assert not torch.equal(cnn_session.scores("magnitude")["fc1"], baseline_order)
    cnn_session.prune_layer("fc1", LayerPlan(0.5))
    assert (cnn_session.modules["fc1"].weight[0] == 0).all()  # the row training shrank to zero goes first


def test_a_structured_preview_sets_the_masks_aside_and_ending_it_brings_them_back_exactly(cnn_session):
    """Regression (issue 31): a structured preview replaced the Prune page's masks with no way back.
    The masks it replaces (here a SparseGPT reconstruction, whose weights no plan re-derives cheaply,
    beside a magnitude mask) come back bit for bit, with their plans."""
    cnn_session.prune_layer("fc1", LayerPlan(0.9, "sparsegpt"))
    cnn_session.prune_layer("conv2", LayerPlan(0.5))
    masked = cnn_session.report()
    weights = {n: m.weight.detach().clone() for n, m in cnn_session.modules.items()}
    plans = dict(cnn_session.plans)
    cnn_session.preview_removal(cnn_session.plan_removal(StructuredPlan(ratios={"conv1": 0.5})))
    cnn_session.preview_removal(cnn_session.plan_removal(StructuredPlan(ratios={"conv2": 0.25})))
    assert cnn_session.layer_sparsity()["fc1"] != 0.9 and cnn_session.set_aside.plans == plans
    cnn_session.end_preview()
    assert cnn_session.removal is None and cnn_session.set_aside is None
    assert cnn_session.plans == plans and cnn_session.report().score == masked.score
    assert all(torch.equal(m.weight, weights[n]) for n, m in cnn_session.modules.items())
    cnn_session.end_preview()  # no preview showing: nothing changes
    assert cnn_session.plans == plans


def test_new_dense_weights_drop_the_masks_a_preview_set_aside(cnn_session):
    cnn_session.prune_layer("fc1", LayerPlan(0.9))
    cnn_session.preview_removal(cnn_session.plan_removal(StructuredPlan(ratios={"conv1": 0.5})))
    cnn_session.adopt_weights(Opaque("a test"))  # masks chosen on other weights mean nothing now
    assert cnn_session.set_aside is None


def test_dense_plans_on_a_dense_model_change_nothing(cnn_session):
    """Regression (issue 31): opening the Prune page on a dense model gave every layer a plan of 0 as a
    change, so a large model was re-evaluated from scratch and first shown as an estimate."""
    cnn_session.report()
    version = cnn_session.version
    plans = {n: LayerPlan(0.0, "taylor") for n in cnn_session.layer_names}
    assert cnn_session.apply_layer_plans(plans) == [] and cnn_session.version == version
    assert cnn_session.evaluator.stale() == 0
    cnn_session.prune_layer("fc1", LayerPlan(0.5))
    assert cnn_session.apply_layer_plans(plans) == ["fc1"]  # a masked layer planned dense does change
    assert cnn_session.masks == {}
