"""Where a vision transformer keeps its blocks, attention and MLP: a registry of family descriptions
(:data:`VISION_FAMILIES`), found by the type of the model's blocks.

timm's ViT ``Block`` (ViT, DeiT and the other ``VisionTransformer`` models) keeps its head size as an
attribute (``Attention.head_dim``) and reads the head count from ``num_heads``, so its heads can go for
real: the dropped heads' rows of the fused ``qkv`` Linear (in its query, key and value thirds) and the
matching columns of ``proj``, with ``num_heads`` following the weights
(:func:`pruneviz.core.structure.shrink`).

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
    qkv: str | None = None


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
        qkv="attn.qkv",
    )
)


@dataclass(frozen=True)
class VisionBlocks:
    """The blocks of one vision transformer, in order (qualified names), and their family."""

    family: VisionFamily
    blocks: tuple[str, ...]
    heads: tuple[int, ...]  # per block (Swin's stages have different counts)

    @property
    def depth(self) -> int:
        return len(self.blocks)

    def mlp_in(self, block: int) -> str:
        return f"{self.blocks[block]}.{self.family.mlp_in}"

    def mlp_out(self, block: int) -> str:
        return f"{self.blocks[block]}.{self.family.mlp_out}"

    def output_projection(self, block: int) -> str:
        return f"{self.blocks[block]}.{self.family.output_projection}"

    def qkv(self, block: int) -> str:
        return f"{self.blocks[block]}.{self.family.qkv}"

    def head_entries(self, modules: dict[str, nn.Module], block: int, heads: list[int]) -> dict[str, tuple]:
        """What ``heads`` of ``block`` take along: {layer: (rows or columns, indices)} — their rows of
        the fused qkv Linear in each of its three thirds, their columns of the output projection."""
        qkv = modules[self.qkv(block)]
        width = qkv.out_features // 3
        size = width // self.heads[block]
        own = [h * size + j for h in sorted(heads) for j in range(size)]
        rows = [third * width + k for third in range(3) for k in own]
        return {self.qkv(block): ("rows", rows), self.output_projection(block): ("columns", own)}


def vision_blocks(model: nn.Module) -> VisionBlocks | None:
    """The vision-transformer blocks of ``model`` when its blocks are of a described family (None for
    other models: a CNN, a language model)."""
    for family in (VISION_FAMILIES.get(n) for n in VISION_FAMILIES.names()):
        found = [(n, m) for n, m in model.named_modules() if _is_a(m, family.block_types)]
        if found:
            heads = tuple(_heads(getattr(m, family.attention)) for _, m in found)
            return VisionBlocks(family, tuple(n for n, _ in found), heads)
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
