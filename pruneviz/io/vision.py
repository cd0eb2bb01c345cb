"""Where a vision transformer keeps its blocks, attention and MLP: a registry of family descriptions
(:data:`VISION_FAMILIES`), found by the type of the model's blocks.

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
    read the head count and the per-head slices of the attention output projection's inputs, and why
    heads cannot be removed (None: they can)."""

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
