"""Where a decoder-only transformer keeps what structured pruning removes, and the surgery that removes
it so that plain ``transformers.AutoModelForCausalLM.from_pretrained`` loads the result.

Two families are known:

* ``llama`` — Llama, Qwen2, Mistral and the like: ``model.layers[i].self_attn.{q,k,v,o}_proj`` with
  grouped-query attention (several query heads share one key/value head), ``mlp.{gate,up,down}_proj``;
* ``gpt2`` — ``transformer.h[i].attn.c_attn`` (query, key and value fused), ``attn.c_proj``,
  ``mlp.c_fc``, ``mlp.c_proj`` (held as :class:`~pruneviz.io.hf.Conv1DLinear`).

The units removed are: a key/value *group* with its query heads (so grouped-query attention stays
valid; a group is one head without GQA), an MLP *channel* (its rows in gate/up, its column in down),
and a whole *block*. A plain config has one head count and one MLP width for every block, so blocks
that remove fewer units set the width and the others keep some removed units with zero weights
("padding": the outputs are those of the removal either way).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
from torch import nn

from pruneviz.core.errors import PrunevizError


@dataclass(frozen=True)
class Anatomy:
    """One transformer's layout: its family, block stack, and the sizes structured pruning changes."""

    family: str
    blocks: str  # qualified name of the block stack
    depth: int
    heads: int  # query heads per block
    kv_heads: int
    head_dim: int
    intermediate: int  # MLP channels per block
    head_removal: str | None = None  # why heads cannot be removed in this family, if they cannot

    @property
    def group_size(self) -> int:
        """Query heads per key/value head (1 without grouped-query attention)."""
        return self.heads // self.kv_heads

    def block(self, i: int) -> str:
        return f"{self.blocks}.{i}"

    def attention_output(self, i: int) -> str:
        """The projection that reads every head of block ``i`` (its input columns are the heads)."""
        return f"{self.block(i)}.{'self_attn.o_proj' if self.family == 'llama' else 'attn.c_proj'}"

    def mlp_output(self, i: int) -> str:
        """The projection that reads every MLP channel of block ``i``."""
        return f"{self.block(i)}.{'mlp.down_proj' if self.family == 'llama' else 'mlp.c_proj'}"

    def group_entries(self, i: int, group: int) -> dict[str, tuple[str, slice]]:
        """Parameter slices that disappear with key/value group ``group`` of block ``i``:
        {parameter: ("rows" | "cols", slice)}."""
        hd, r = self.head_dim, self.group_size
        queries = slice(group * r * hd, (group + 1) * r * hd)
        keys = slice(group * hd, (group + 1) * hd)
        b = self.block(i)
        if self.family == "llama":
            out = {f"{b}.self_attn.q_proj": ("rows", queries), f"{b}.self_attn.o_proj": ("cols", queries)}
            out |= {f"{b}.self_attn.{p}_proj": ("rows", keys) for p in "kv"}
            return out
        width = self.heads * hd  # gpt2: c_attn rows are [queries | keys | values]
        fused = [slice(s.start + k * width, s.stop + k * width) for k, s in enumerate([queries] * 3)]
        return {f"{b}.attn.c_attn": ("rows", fused), f"{b}.attn.c_proj": ("cols", queries)}

    def channel_entries(self, i: int, channel: int) -> dict[str, tuple[str, slice]]:
        """Parameter slices that disappear with MLP channel ``channel`` of block ``i``."""
        one, b = slice(channel, channel + 1), self.block(i)
        if self.family == "llama":
            out = {f"{b}.mlp.{p}_proj": ("rows", one) for p in ("gate", "up")}
            return out | {f"{b}.mlp.down_proj": ("cols", one)}
        return {f"{b}.mlp.c_fc": ("rows", one), f"{b}.mlp.c_proj": ("cols", one)}


def anatomy_of(model: nn.Module) -> Anatomy:
    """The layout of a Hugging Face causal LM of a known family, or a readable refusal."""
    config = getattr(model, "config", None)
    if config is None:
        raise PrunevizError("structured transformer pruning needs a Hugging Face causal language model")
    if hasattr(model, "model") and hasattr(model.model, "layers") and hasattr(config, "num_key_value_heads"):
        heads = config.num_attention_heads
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
        return Anatomy(
            "llama", "model.layers", len(model.model.layers), heads, config.num_key_value_heads, head_dim,
            config.intermediate_size,
        )  # fmt: skip
    if hasattr(model, "transformer") and hasattr(model.transformer, "h"):
        mlp = model.transformer.h[0].mlp.c_fc
        return Anatomy(
            "gpt2", "transformer.h", len(model.transformer.h), config.n_head, config.n_head,
            config.n_embd // config.n_head, mlp.out_features,
            head_removal="GPT-2's configuration ties the head size to the embedding width, so a model "
            "with fewer heads does not load back in transformers; remove MLP channels or whole blocks",
        )  # fmt: skip
    name = type(model).__name__
    raise PrunevizError(
        f"pruneviz knows the layout of Llama-like and GPT-2 models for structured removal, not {name}"
    )


@dataclass(frozen=True)
class Cut:
    """What a structured removal takes out: per block the key/value groups and MLP channels (sorted,
    least important first), and whole blocks."""

    groups: dict[int, list[int]] = field(default_factory=dict)
    channels: dict[int, list[int]] = field(default_factory=dict)
    drop: tuple[int, ...] = ()


def removed_entries(model: nn.Module, anatomy: Anatomy, cut: Cut) -> dict[str, torch.Tensor]:
    """For every parameter, the entries ``cut`` takes out (True = removed): zeroing exactly these gives
    the smaller model's outputs."""
    params = dict(model.named_parameters())
    removed: dict[str, torch.Tensor] = {}

    def mark(name: str, dim: str, where: slice | list[slice]) -> None:
        for suffix in (".weight", ".bias"):
            p = params.get(name + suffix)
            if p is None or (suffix == ".bias" and dim == "cols"):
                continue  # a bias belongs to the outputs: removing input columns keeps it
            mask = removed.setdefault(name + suffix, torch.zeros(p.shape, dtype=torch.bool))
            for s in where if isinstance(where, list) else [where]:
                if dim == "rows":
                    mask[s] = True
                else:
                    mask[:, s] = True

    for i, groups in cut.groups.items():
        for g in groups:
            for name, (dim, where) in anatomy.group_entries(i, g).items():
                mark(name, dim, where)
    for i, channels in cut.channels.items():
        for c in channels:
            for name, (dim, where) in anatomy.channel_entries(i, c).items():
                mark(name, dim, where)
    for i in cut.drop:
        prefix = anatomy.block(i) + "."
        for name, p in params.items():
            if name.startswith(prefix):
                removed[name] = torch.ones(p.shape, dtype=torch.bool)
    return removed


def widths(anatomy: Anatomy, cut: Cut) -> tuple[int, int]:
    """(key/value groups, MLP channels) every kept block has in the built model: the widest block's."""
    kept = [i for i in range(anatomy.depth) if i not in cut.drop]
    groups = max(anatomy.kv_heads - len(cut.groups.get(i, [])) for i in kept)
    channels = max(anatomy.intermediate - len(cut.channels.get(i, [])) for i in kept)
    return groups, channels


def physical(anatomy: Anatomy, cut: Cut) -> Cut:
    """What of ``cut`` goes for real in the built model (the rest is kept as zeroed padding)."""
    n_groups, n_channels = widths(anatomy, cut)
    return Cut(
        {i: _kept_back(g, anatomy.kv_heads - n_groups).gone for i, g in cut.groups.items()},
        {i: _kept_back(c, anatomy.intermediate - n_channels).gone for i, c in cut.channels.items()},
        cut.drop,
    )


def build(model: nn.Module, anatomy: Anatomy, cut: Cut) -> nn.Module:
    """A copy of ``model`` with ``cut`` removed physically and its configuration patched (one width
    per kind for every block: narrower blocks keep some removed units, zeroed)."""
    if cut.groups and anatomy.head_removal:
        raise PrunevizError(anatomy.head_removal)
    if len(cut.drop) >= anatomy.depth:
        raise PrunevizError(f"dropping all {anatomy.depth} blocks leaves no model")
    if cut.drop and getattr(model.config, "scale_attn_by_inverse_layer_idx", False):
        raise PrunevizError("this model scales attention by its layer index: dropping blocks would change it")
    work = copy.deepcopy(model).eval()
    modules = dict(work.named_modules())
    n_groups, n_channels = widths(anatomy, cut)
    for i in range(anatomy.depth):
        if i in cut.drop:
            continue
        removed_groups = _kept_back(cut.groups.get(i, []), anatomy.kv_heads - n_groups)
        removed_channels = _kept_back(cut.channels.get(i, []), anatomy.intermediate - n_channels)
        _zero(work, anatomy, i, removed_groups.padding, removed_channels.padding)
        for name, (dim, gone) in _gone_indices(
            anatomy, i, removed_groups.gone, removed_channels.gone
        ).items():
            _slice_linear(modules, name, dim, gone)
    _drop_blocks(work, anatomy, cut.drop)
    _patch_config(work.config, anatomy, n_groups, n_channels, cut.drop)
    return work


@dataclass(frozen=True)
class _Split:
    gone: list[int]  # removed for real
    padding: list[int]  # removed in the preview, kept (zeroed) to give every block the same width


def _kept_back(removed: list[int], allowed: int) -> _Split:
    """Remove only ``allowed`` of ``removed`` (the least important first); the rest become padding."""
    return _Split(sorted(removed[:allowed]), sorted(removed[allowed:]))


def _zero(model: nn.Module, anatomy: Anatomy, i: int, groups: list[int], channels: list[int]) -> None:
    cut = Cut({i: groups}, {i: channels})
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, mask in removed_entries(model, anatomy, cut).items():
            params[name][mask] = 0


def _gone_indices(
    anatomy: Anatomy, i: int, groups: list[int], channels: list[int]
) -> dict[str, tuple[str, set[int]]]:
    """{module: ("rows" | "cols", indices that go)} for the units removed from block ``i``."""
    gone: dict[str, tuple[str, set[int]]] = {}
    units = [anatomy.group_entries(i, g) for g in groups] + [anatomy.channel_entries(i, c) for c in channels]
    for entries in units:
        for name, (dim, where) in entries.items():
            index = gone.setdefault(name, (dim, set()))[1]
            for s in where if isinstance(where, list) else [where]:
                index.update(range(s.start, s.stop))
    return gone


def _slice_linear(modules: dict[str, nn.Module], name: str, dim: str, gone: set[int]) -> None:
    """Replace Linear ``name`` by one without the ``gone`` rows (outputs) or columns (inputs)."""
    old = modules[name]
    parent_name, _, attr = name.rpartition(".")
    size = old.out_features if dim == "rows" else old.in_features
    keep = torch.tensor([j for j in range(size) if j not in gone], dtype=torch.long)
    weight = old.weight.detach()[keep] if dim == "rows" else old.weight.detach()[:, keep]
    bias = old.bias
    if bias is not None and dim == "rows":
        bias = bias.detach()[keep]
    new = type(old)(
        weight.shape[1], weight.shape[0], bias=bias is not None, device=weight.device, dtype=weight.dtype
    )
    with torch.no_grad():
        new.weight.copy_(weight)
        if bias is not None:
            new.bias.copy_(bias)
    setattr(modules[parent_name], attr, new)
    modules[name] = new


def _drop_blocks(model: nn.Module, anatomy: Anatomy, drop: tuple[int, ...]) -> None:
    stack = model.get_submodule(anatomy.blocks)
    kept = [b for i, b in enumerate(stack) if i not in drop]
    parent, _, attr = anatomy.blocks.rpartition(".")
    setattr(model.get_submodule(parent), attr, nn.ModuleList(kept))
    for new_index, block in enumerate(kept):  # a key/value cache is indexed by layer
        attention = getattr(block, "self_attn", None) or getattr(block, "attn", None)
        if attention is not None and hasattr(attention, "layer_idx"):
            attention.layer_idx = new_index


def _patch_config(config, anatomy: Anatomy, groups: int, channels: int, drop: tuple[int, ...]) -> None:
    depth = anatomy.depth - len(drop)
    if anatomy.family == "llama":
        config.num_attention_heads = groups * anatomy.group_size
        config.num_key_value_heads = groups
        config.head_dim = anatomy.head_dim  # no longer hidden_size / heads
        config.intermediate_size = channels
        config.num_hidden_layers = depth
    else:
        config.n_inner = channels
        config.n_layer = depth
    layer_types = getattr(config, "layer_types", None)  # per-layer attention kinds (Qwen2, Mistral)
    if isinstance(layer_types, list) and len(layer_types) == anatomy.depth:
        config.layer_types = [t for i, t in enumerate(layer_types) if i not in drop]
