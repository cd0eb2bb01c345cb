"""Where a vision transformer keeps its blocks, attention and MLP: a registry of family descriptions
(:data:`VISION_FAMILIES`), found by the type of the model's blocks.

timm's ViT ``Block`` (ViT, DeiT and the other ``VisionTransformer`` models) and its EVA-style blocks
with ``AttentionRope`` (the RoPE ViTs, Perception Encoder) keep their head size and width as attributes
(``head_dim``, ``attn_dim``) and read the head count from ``num_heads``, so their heads can go for
real: the dropped heads' rows of the query, key and value projections and the matching columns of
``proj``, with ``num_heads`` following the weights (:func:`pruneviz.core.structure.remove_heads`).
EVA-02's and DINOv3's ``EvaAttention`` reshapes its heads' outputs to the block's input width, and an
attention or MLP that normalises all its heads or channels together (``scale_attn_inner``,
``scale_mlp``) would change the rest when one goes: those are refused with the reason.

torchvision's ViT (``EncoderBlock``: ``nn.MultiheadAttention`` and an MLP) and Swin (v1 and v2
``SwinTransformerBlock``: shifted-window attention and an MLP) are described. Both MLPs are
``Linear(width, hidden) → GELU → Dropout → Linear(hidden, width)``, so an MLP channel is a row of the
first Linear (and its bias) with the matching column of the second: Torch-Pruning's dependency graph
finds that coupling and removes it for real. Heads are another matter: both families compute the head
size from the width (``embed_dim // num_heads`` in ``nn.MultiheadAttention``, ``C // num_heads`` in
``shifted_window_attention``), so a model with fewer heads of the same size cannot be expressed in their
code; each description says so, and a plan asking for heads is refused with that reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from pruneviz.core.registry import Registry
from pruneviz.core.structure import head_layout, holds_fewer_heads


@dataclass(frozen=True)
class VisionFamily:
    """How one family of vision transformers lays out a block: the block's types (qualified class
    names, matched along a module's class hierarchy, so finding blocks never imports torchvision), the
    attribute holding its attention, the MLP's first and second Linear (relative to the block), how to
    read the head count and the per-head slices of the attention output projection's inputs, why
    heads cannot be removed (None: they can), and the fused query/key/value Linear whose rows a removed
    head takes along."""

    name: str
    block_types: tuple[str, ...]
    attention: str
    mlp_in: str
    mlp_out: str
    output_projection: str  # the Linear reading the heads' concatenated outputs, relative to the block
    head_removal: str | None


_TIED = (
    "{name}'s attention computes the head size from the model's width ({where}), so it cannot hold fewer "
    "heads of the same size; remove MLP channels instead"
)

VIT_HEADS = _TIED.format(name="torchvision's ViT", where="nn.MultiheadAttention: embed_dim // num_heads")
SWIN_HEADS = _TIED.format(name="torchvision's Swin", where="shifted_window_attention: C // num_heads")
VISION_FAMILIES: Registry[VisionFamily] = Registry("vision transformer family")
VISION_FAMILIES.register("vit")(
    VisionFamily(
        "vit",
        ("torchvision.models.vision_transformer.EncoderBlock",),
        "self_attention",
        "mlp.0",
        "mlp.3",
        "self_attention.out_proj",
        VIT_HEADS,
    )
)
VISION_FAMILIES.register("swin")(
    VisionFamily(
        "swin",
        (
            "torchvision.models.swin_transformer.SwinTransformerBlock",
            "torchvision.models.swin_transformer.SwinTransformerBlockV2",
        ),
        "attn",
        "mlp.0",
        "mlp.3",
        "attn.proj",
        SWIN_HEADS,
    )
)

VISION_FAMILIES.register("timm-vit")(
    VisionFamily(
        "timm ViT",
        ("timm.models.vision_transformer.Block",),
        "attn",
        "mlp.fc1",
        "mlp.fc2",
        "attn.proj",
        None,
    )
)
VISION_FAMILIES.register("timm-eva")(
    VisionFamily(
        "timm EVA",
        ("timm.models.eva.EvaBlock", "timm.models.eva.EvaBlockPostNorm"),
        "attn",
        "mlp.fc1",
        "mlp.fc2",
        "attn.proj",
        None,
    )
)


@dataclass(frozen=True)
class VisionBlocks:
    """The blocks of one vision transformer, in order (qualified names), their family, and why this
    model's heads or MLP channels cannot be removed (None: they can)."""

    family: VisionFamily
    blocks: tuple[str, ...]
    heads: tuple[int, ...]  # per block (Swin's stages have different counts)
    head_removal: str | None = None
    channel_removal: str | None = None

    @property
    def depth(self) -> int:
        return len(self.blocks)

    def mlp_in(self, block: int) -> str:
        return f"{self.blocks[block]}.{self.family.mlp_in}"

    def mlp_out(self, block: int) -> str:
        return f"{self.blocks[block]}.{self.family.mlp_out}"

    def output_projection(self, block: int) -> str:
        return f"{self.blocks[block]}.{self.family.output_projection}"

    def attention(self, block: int) -> str:
        return f"{self.blocks[block]}.{self.family.attention}"

    def head_entries(self, modules: dict[str, nn.Module], block: int, heads: list[int]) -> dict[str, tuple]:
        """What ``heads`` of ``block`` take along: {parameter: (dimension, indices)}, as
        :func:`~pruneviz.core.structure.head_layout` lays them out (the first is the removal's root:
        the fused qkv's or the query projection's rows)."""
        prefix = self.attention(block)
        return {f"{prefix}.{n}": e for n, e in head_layout(modules[prefix], heads).items()}


def vision_blocks(model: nn.Module) -> VisionBlocks | None:
    """The vision-transformer blocks of ``model`` when its blocks are of a described family (None for
    other models: a CNN, a language model)."""
    for family in (VISION_FAMILIES.get(n) for n in VISION_FAMILIES.names()):
        found = [(n, m) for n, m in model.named_modules() if _is_a(m, family.block_types)]
        if found:
            heads = tuple(_heads(getattr(m, family.attention)) for _, m in found)
            first = found[0][1]
            return VisionBlocks(
                family,
                tuple(n for n, _ in found),
                heads,
                family.head_removal or _head_refusal(getattr(first, family.attention)),
                _channel_refusal(first, family),
            )
    return None


def _head_refusal(attention: nn.Module) -> str | None:
    """Why this attention cannot lose heads for real (None: it can)."""
    kind = type(attention).__name__
    if not holds_fewer_heads(attention):
        return (
            f"timm's {kind} reshapes its heads' outputs to the block's width (reshape(B, N, C)), so it "
            "cannot hold fewer heads"
        )
    if not isinstance(getattr(attention, "norm", None), nn.Identity | None):
        return (
            f"this {kind} normalises all its heads' outputs together (scale_attn_inner), so a removed "
            "head would change the others' outputs"
        )
    return None


def _channel_refusal(block: nn.Module, family: VisionFamily) -> str | None:
    """Why this block's MLP cannot lose channels for real (None: it can): it needs one first Linear
    whose rows are the channels, and no norm over all of them."""
    mlp_path, _, first = family.mlp_in.rpartition(".")
    mlp = block.get_submodule(mlp_path)
    kind = type(mlp).__name__
    fc1, fc2 = (getattr(mlp, name, None) for name in (first, family.mlp_out.rpartition(".")[2]))
    if not isinstance(fc1, nn.Linear) or not isinstance(fc2, nn.Linear):
        return f"this block's {kind} has no single first Linear ('{first}') whose rows are its channels"
    if fc1.out_features == 2 * fc2.in_features:
        return (
            f"this block's {kind} packs each channel's gate and value in one Linear ('{first}': "
            f"2 × {fc2.in_features} rows), which Torch-Pruning cannot couple"
        )
    if not isinstance(getattr(mlp, "norm", None), nn.Identity | None):
        return (
            f"this block's {kind} normalises all its hidden channels together (scale_mlp), so a removed "
            "channel would change the others"
        )
    return None


def _is_a(module: nn.Module, qualified: tuple[str, ...]) -> bool:
    return any(f"{c.__module__}.{c.__qualname__}" in qualified for c in type(module).__mro__)


def _heads(attention: nn.Module) -> int:
    return int(attention.num_heads)


def head_scores(model: nn.Module, blocks: VisionBlocks) -> list[torch.Tensor]:
    """Per block, the L2 norm of each head's columns of the attention output projection (what the head
    writes into the residual stream): a weight-only importance of every head, for the heads × blocks
    view."""
    modules = dict(model.named_modules())
    scores = []
    for i in range(blocks.depth):
        weight = modules[blocks.output_projection(i)].weight.detach()
        per_head = weight.reshape(weight.shape[0], blocks.heads[i], -1)
        scores.append(per_head.pow(2).sum(dim=(0, 2)).sqrt())
    return scores
