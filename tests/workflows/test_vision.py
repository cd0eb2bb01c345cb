"""timm's EVA-style blocks (small ones built here, random weights): heads go for real where the attention
keeps its width as an attribute (``AttentionRope``, fused or separate q/k/v), the preview gives the
smaller model's logits, and what cannot be removed is refused with the reason."""

import pytest
import timm
import torch

from pruneviz.core.errors import PrunevizError
from pruneviz.io.vision import vision_blocks
from pruneviz.workflows.recipe import apply_recipe, parse_recipe
from pruneviz.workflows.session import open_session

TINY = {"img_size": 32, "patch_size": 8, "embed_dim": 64, "depth": 2, "num_heads": 4, "num_classes": 10}
HERE = "python:tests.workflows.test_vision"


def random_weights(model: torch.nn.Module) -> torch.nn.Module:
    """Every parameter drawn anew: timm's initialisation (layer scale 1e-5, a near-zero head) leaves
    the blocks' part of the logits too small for a comparison to see a head go."""
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.2)
    return model


def rope_vit(**options):
    return random_weights(timm.create_model("vit_small_patch16_rope_224", **TINY, **options))


def rope_vit_separate_qkv():
    return rope_vit(qkv_fused=False)


def deit():
    return random_weights(timm.create_model("deit_tiny_patch16_224", **TINY))


def eva02(**options):
    return random_weights(
        timm.create_model("eva02_tiny_patch14_336", **TINY, ref_feat_shape=(4, 4), **options)
    )


def eva_mlp():
    """EvaAttention (its q/v biases outside the qkv Linear) with a plain MLP, as EVA-01's blocks."""
    return eva02(swiglu_mlp=False)


def structure(session, body: dict) -> None:
    apply_recipe(session, parse_recipe({"pruneviz": 1, "structure": body}))


@pytest.mark.parametrize("factory", ["rope_vit", "rope_vit_separate_qkv", "deit"])
def test_heads_and_channels_go_for_real_with_the_previews_logits(factory):
    session = open_session(f"{HERE}:{factory}", data_spec="synthetic:3x32x32:4")
    structure(session, {"heads": 0.25, "drop_heads": {1: [0, 3]}, "channels": 0.25, "criterion": "taylor"})
    small = session.removal.build(session.calibration().model, session.example)
    x = session.data.x
    with torch.no_grad():
        assert torch.allclose(small(x), session.working(x), atol=1e-5)
        assert not torch.allclose(small(x), session.calibration().model(x), atol=1e-3)
    assert [b.attn.num_heads for b in small.blocks] == [3, 2]
    attention = small.blocks[1].attn
    assert attention.attn_dim == 2 * 16 and attention.proj.weight.shape == (64, 32)
    rows = [attention.qkv] if factory != "rope_vit_separate_qkv" else [attention.q_proj, attention.v_proj]
    assert all(r.weight.shape[0] == 32 * (3 if r is attention.qkv else 1) for r in rows)
    assert all(b.mlp.fc1.out_features == 192 for b in small.blocks)


@pytest.mark.parametrize(
    ("factory", "options", "heads", "channels"),
    [
        (eva02, {}, "EvaAttention reshapes its heads' outputs to the block's width", "packs each channel's"),
        (eva02, {"swiglu_mlp": False}, "EvaAttention reshapes", None),
        (rope_vit, {"scale_attn_inner": True}, "normalises all its heads' outputs together", None),
        (rope_vit, {"scale_mlp": True}, None, "normalises all its hidden channels together"),
        (eva02, {"scale_mlp": True}, "EvaAttention reshapes", "no single first Linear ('fc1')"),
    ],
)
def test_what_an_eva_block_cannot_lose_is_said(factory, options, heads, channels):
    blocks = vision_blocks(factory(**options))
    assert blocks.family.name == "timm EVA" and blocks.heads == (4, 4)
    for said, why in ((heads, blocks.head_removal), (channels, blocks.channel_removal)):
        assert (said is None) == (why is None) and (said is None or said in why), why


def test_an_eva_attention_block_still_loses_mlp_channels_through_torch_pruning():
    session = open_session(f"{HERE}:eva_mlp", data_spec="synthetic:3x32x32:4")
    structure(session, {"channels": 0.25})
    small = session.removal.build(session.calibration().model, session.example)
    x = session.data.x
    with torch.no_grad():
        assert torch.allclose(small(x), session.working(x), atol=1e-5)
        assert not torch.allclose(small(x), session.calibration().model(x), atol=1e-3)
    assert [b.mlp.fc1.out_features for b in small.blocks] == [127, 127]  # 170 hidden, a quarter gone
    assert [b.attn.num_heads for b in small.blocks] == [4, 4]


def test_a_plan_asking_for_what_the_blocks_cannot_lose_is_refused_in_one_line():
    session = open_session(f"{HERE}:eva02", data_spec="synthetic:3x32x32:4")
    for body, said in (({"heads": 0.25}, "cannot hold fewer heads"), ({"channels": 0.25}, "packs each")):
        with pytest.raises(PrunevizError, match=said) as refused:
            structure(session, body)
        assert "\n" not in str(refused.value)
    assert session.removal is None
