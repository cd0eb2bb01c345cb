import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pruneviz.core import masks as M
from pruneviz.core.errors import PrunevizError
from pruneviz.core.importance import (
    FILTER_CRITERIA,
    WEIGHT_CRITERIA,
    Calibration,
    batchnorm_after,
    row_ranks,
    wanda_metric,
)
from pruneviz.core.reconstruction import FromInputs


def _cross_entropy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(model(x), y)


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3)
    )


@pytest.fixture
def setup():
    model = _net().eval()
    model[1].weight.data = torch.tensor([0.1, -2.0, 0.5, 1.0])
    x = torch.randn(20, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    y = torch.arange(20) % 3
    modules = {"0": model[0], "4": model[4]}
    return model, modules, Calibration(model, x, y, _cross_entropy, batch_size=8)


SCORING = [n for n in WEIGHT_CRITERIA.names() if getattr(WEIGHT_CRITERIA.get(n), "score", True) is not None]


@pytest.mark.parametrize("name", SCORING)
def test_every_weight_criterion_scores_every_weight(setup, name):
    _, modules, calib = setup
    scores = WEIGHT_CRITERIA.get(name)(modules, calib)
    for layer, m in modules.items():
        assert scores[layer].shape == m.weight.shape
        assert torch.isfinite(scores[layer]).all() and (scores[layer] >= 0).all()


@pytest.mark.parametrize("name", FILTER_CRITERIA.names())
def test_every_filter_criterion_scores_every_output_channel(setup, name):
    _, modules, calib = setup
    conv = {"0": modules["0"]}  # bn_scale needs the conv that feeds a BatchNorm
    scores = FILTER_CRITERIA.get(name)(conv, calib)
    assert scores["0"].shape == (4,)


def test_magnitude_is_absolute_weight(setup):
    _, modules, calib = setup
    assert torch.equal(WEIGHT_CRITERIA.get("magnitude")(modules, calib)["4"], modules["4"].weight.abs())


def test_l2_normalises_by_layer_norm(setup):
    _, modules, calib = setup
    w = modules["0"].weight.detach()
    assert torch.allclose(WEIGHT_CRITERIA.get("l2")(modules, calib)["0"], w.abs() / w.norm())


def test_random_is_seeded_and_differs_between_layers(setup):
    _, modules, calib = setup
    a = WEIGHT_CRITERIA.get("random")(modules, calib)
    b = WEIGHT_CRITERIA.get("random")(modules, calib)
    assert torch.equal(a["0"], b["0"])
    assert not torch.equal(a["0"].flatten()[:10], a["4"].flatten()[:10])


def _manual_grads(model, calib):
    grads, abs_grads = [], []
    for xb, yb in zip(calib.x.split(8), calib.y.split(8)):
        model.zero_grad()
        F.cross_entropy(model(xb), yb).backward()
        grads.append(model[4].weight.grad.clone())
        abs_grads.append(model[4].weight.grad.abs())
    return torch.stack(grads).mean(0), torch.stack(abs_grads).mean(0)


def test_gradient_is_mean_abs_gradient_over_batches(setup):
    model, modules, calib = setup
    _, mean_abs = _manual_grads(model, calib)
    assert torch.allclose(WEIGHT_CRITERIA.get("gradient")(modules, calib)["4"], mean_abs, atol=1e-7)


def test_taylor_is_weight_times_mean_gradient(setup):
    model, modules, calib = setup
    mean, _ = _manual_grads(model, calib)
    expected = (model[4].weight.detach() * mean).abs()
    assert torch.allclose(WEIGHT_CRITERIA.get("taylor")(modules, calib)["4"], expected, atol=1e-7)
    filt = FILTER_CRITERIA.get("taylor")({"4": modules["4"]}, calib)["4"]
    assert torch.allclose(filt, (model[4].weight.detach() * mean).sum(1).pow(2), atol=1e-9)


def test_gradients_do_not_touch_weight_grad(setup):
    model, modules, calib = setup
    WEIGHT_CRITERIA.get("gradient")(modules, calib)
    assert model[4].weight.grad is None


def test_activation_uses_captum_attribution(setup):
    from captum.attr import LayerGradientXActivation

    model, modules, calib = setup
    attr = LayerGradientXActivation(model, model[4]).attribute(calib.x, target=calib.y)
    per_channel = attr.abs().mean(0)
    assert torch.allclose(FILTER_CRITERIA.get("activation")({"4": modules["4"]}, calib)["4"], per_channel)
    weight_scores = WEIGHT_CRITERIA.get("activation")({"4": modules["4"]}, calib)["4"]
    assert torch.allclose(weight_scores, modules["4"].weight.detach().abs() * per_channel[:, None])


class _Tokens(nn.Module):
    """A ViT in miniature: a Linear over every token's features (B, tokens, features), then a head."""

    def __init__(self) -> None:
        super().__init__()
        self.mlp, self.head = nn.Linear(4, 6), nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.mlp(x).relu().mean(1))


def test_activation_takes_a_linears_last_dimension_as_its_channels_over_tokens():
    """Regression: on a ViT (a Linear over 197 tokens) the attribution was summed as if the tokens were
    the channels, and the activation criterion died on a shape mismatch."""
    from captum.attr import LayerGradientXActivation

    torch.manual_seed(0)
    model = _Tokens().eval()
    x, y = torch.randn(10, 5, 4), torch.arange(10) % 3
    calib = Calibration(model, x, y, _cross_entropy, batch_size=4)
    attr = LayerGradientXActivation(model, model.mlp).attribute(x, target=y)  # (10, 5 tokens, 6)
    per_channel = attr.abs().sum(1).mean(0)
    assert torch.allclose(FILTER_CRITERIA.get("activation")({"mlp": model.mlp}, calib)["mlp"], per_channel)
    scores = WEIGHT_CRITERIA.get("activation")({"mlp": model.mlp}, calib)["mlp"]
    assert torch.allclose(scores, model.mlp.weight.detach().abs() * per_channel[:, None])


class _Attention(_Tokens):
    """Tokens through nn.MultiheadAttention first: it reads its out_proj's weight without calling it."""

    def __init__(self) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(4, 2, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(self.attn(x, x, x, need_weights=False)[0])


def test_activation_leaves_out_a_layer_the_model_never_calls_instead_of_failing():
    """Regression: on demo:vit Captum died with 'KeyError: device(type='cpu')' on the attention's
    out_proj, whose forward hook never fires; now that layer has no score and the others do."""
    torch.manual_seed(0)
    model = _Attention().eval()
    x, y = torch.randn(10, 5, 4), torch.arange(10) % 3
    calib = Calibration(model, x, y, _cross_entropy, batch_size=4)
    modules = {"attn.out_proj": model.attn.out_proj, "mlp": model.mlp}
    assert set(WEIGHT_CRITERIA.get("activation")(modules, calib)) == {"mlp"}
    assert set(FILTER_CRITERIA.get("activation")(modules, calib)) == {"mlp"}


def test_wanda_and_ria_read_a_grouped_convs_own_channels():
    """Regression: a depthwise conv (ConvNeXt's, EfficientNet's: 40 channels, one input each) took the
    40 input norms along its single input column, and Wanda's and RIA's scores became 40 × 40 × 7 × 7,
    which no mask fits."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(4, 4, 3, groups=4), nn.Conv2d(4, 6, 1, groups=2), nn.Flatten(), nn.Linear(6 * 6 * 6, 3)
    ).eval()
    x, y = torch.randn(8, 4, 8, 8) * torch.tensor([1.0, 5, 0.1, 2]).view(1, 4, 1, 1), torch.arange(8) % 3
    calib = Calibration(model, x, y, _cross_entropy, batch_size=4)
    modules = {"0": model[0], "1": model[1]}
    stats = calib.inputs(modules, gram=False)
    wanda = wanda_metric(modules, calib)
    depthwise, grouped = model[0].weight.detach().abs(), model[1].weight.detach().abs()
    assert torch.allclose(wanda["0"], depthwise * stats["0"].rms.view(4, 1, 1, 1))  # channel o reads o
    reads = torch.tensor([[0, 1]] * 3 + [[2, 3]] * 3)  # outputs 0-2 read channels 0, 1; outputs 3-5 2, 3
    assert torch.allclose(wanda["1"], grouped * stats["1"].rms[reads].view(6, 2, 1, 1))
    ria = WEIGHT_CRITERIA.get("ria")(modules, calib)
    column = torch.cat(
        [
            grouped[:3].sum(0, keepdim=True).expand(3, -1, -1, -1),
            grouped[3:].sum(0, keepdim=True).expand(3, -1, -1, -1),
        ]
    )
    row = grouped.flatten(1).sum(1).view(6, 1, 1, 1)
    expected = (grouped / column + grouped / row) * stats["1"].rms[reads].view(6, 2, 1, 1).sqrt()
    assert torch.allclose(ria["1"], expected)
    assert ria["0"].shape == depthwise.shape and M.row_mask(wanda["0"], 0.5).shape == depthwise.shape


def test_filter_norms(setup):
    _, modules, calib = setup
    w = modules["0"].weight.detach().flatten(1)
    assert torch.allclose(FILTER_CRITERIA.get("l1")(modules, calib)["0"], w.abs().sum(1))
    assert torch.allclose(FILTER_CRITERIA.get("l2")(modules, calib)["0"], w.norm(dim=1))


def test_bn_scale_reads_gamma_of_following_batchnorm(setup):
    model, modules, calib = setup
    assert batchnorm_after(model) == {"0": model[1]}
    scores = FILTER_CRITERIA.get("bn_scale")({"0": modules["0"]}, calib)["0"]
    assert scores.tolist() == pytest.approx([0.1, 2.0, 0.5, 1.0])
    assert FILTER_CRITERIA.get("bn_scale")({"4": modules["4"]}, calib) == {}  # no BatchNorm after it


def test_unknown_criterion_lists_the_known_ones():
    with pytest.raises(PrunevizError, match="magnitude"):
        WEIGHT_CRITERIA.get("magnitud")


def test_sparsegpt_rewrites_weights_and_refuses_to_rank_them(setup):
    _, modules, calib = setup
    assert (
        isinstance(WEIGHT_CRITERIA.get("sparsegpt"), FromInputs) and WEIGHT_CRITERIA.get("sparsegpt").rewrites
    )
    with pytest.raises(PrunevizError, match="decides each layer's mask instead of ranking weights"):
        WEIGHT_CRITERIA.get("sparsegpt")(modules, calib)


def test_wanda_is_weight_magnitude_times_input_norm_compared_within_rows():
    torch.manual_seed(3)
    layer = nn.Linear(6, 3)
    x = torch.randn(40, 6) * torch.tensor([0.1, 5.0, 1.0, 1.0, 0.01, 2.0])  # features of very different size
    calib = Calibration(
        layer, x, torch.zeros(40, dtype=torch.long), lambda m, xb, yb: m(xb).sum(), batch_size=16
    )
    metric = wanda_metric({"fc": layer}, calib)["fc"]
    expected = layer.weight.detach().abs() * x.pow(2).mean(0).sqrt()  # |W_ij| * ||X_j||_2 / sqrt(N)
    assert torch.allclose(metric, expected, rtol=1e-5)
    ranks = WEIGHT_CRITERIA.get("wanda")({"fc": layer}, calib)["fc"]
    assert torch.equal(ranks, row_ranks(metric))
    assert torch.equal(ranks.argsort(dim=1), metric.argsort(dim=1))  # the same order within each row
    assert torch.equal(ranks.sort(dim=1).values, torch.arange(6.0).expand(3, 6) / 6)
    keep = M.unstructured_mask(ranks, 0.5)
    assert keep.sum(1).tolist() == [3, 3, 3]  # half of every row, not half of the layer


def test_wanda_masks_count_per_row_as_the_reference_does():
    """int(sparsity * columns) pruned in every row (the reference's comparison group), not
    floor(sparsity * weights) over the layer: at 70% of 6 columns, 4 per row (12), not 12.6 -> 12 spread
    unevenly, and at 0.3, 1 per row (3 of 18), where the layer's count would be 5."""
    torch.manual_seed(1)
    weight = torch.randn(3, 6)
    stats = type("S", (), {"rms": torch.rand(6) + 0.1})()
    for sparsity, per_row in ((0.7, 4), (0.3, 1), (0.5, 3)):
        keep, rewritten = WEIGHT_CRITERIA.get("wanda").solve(weight, stats, sparsity, None)
        assert rewritten is None and (~keep).sum(1).tolist() == [per_row] * 3
        metric = weight.abs() * stats.rms
        kept_lowest = torch.where(keep, metric, torch.inf).min(1).values
        pruned_highest = torch.where(keep, -torch.inf, metric).max(1).values
        assert (pruned_highest <= kept_lowest).all()  # the lowest of each row go
