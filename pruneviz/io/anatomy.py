"""Where a decoder-only transformer keeps what structured pruning removes, and the surgery that removes
it so that plain ``transformers.AutoModelForCausalLM.from_pretrained`` loads the result.

Families are descriptions in a registry (:data:`FAMILIES`), found by the configuration's
``model_type``; a family no entry describes is refused in one line that names it, before any work:

* most families need no entry of their own: their configuration's ``base_model_tp_plan`` says which
  projections split their outputs (``colwise``: query, key, value; gate, up) and which their inputs
  (``rowwise``: the attention output; down), so Llama, Qwen2/3, Mistral, Gemma and the like are read
  from it (:func:`from_tp_plan`);
* fused or older layouts are explicit entries: Phi-3 (``qkv_proj`` and ``gate_up_proj``, each stacked),
  GPT-NeoX (``query_key_value``, interleaved per head; no gate), OPT and GPT-2 (no tensor-parallel plan;
  GPT-2's projections held as :class:`~pruneviz.io.hf.Conv1DLinear`).

The units removed are: a key/value *group* with its query heads (so grouped-query attention stays
valid; a group is one head without GQA), an MLP *channel* (its rows in gate/up, its column in down),
and a whole *block*. A plain config has one head count and one MLP width for every block, so blocks
that remove fewer units set the width and the others keep some removed units with zero weights
("padding": the outputs are those of the removal either way). Where a family's code derives the head
size from the model's width (GPT-2, GPT-NeoX, OPT), a model with fewer heads would not load back:
heads are refused there with that reason, MLP channels and blocks are not.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
from torch import nn

from pruneviz.core.errors import PrunevizError
from pruneviz.core.registry import Registry

Entries = dict[str, tuple[str, slice | list[slice]]]  # module -> ("rows" | "cols", where)
TIED_HEADS = (
    "{name}'s code derives the head size from the model's width, so a model with fewer heads does not "
    "load back in transformers; remove MLP channels or whole blocks"
)


@dataclass(frozen=True)
class Family:
    """Where one family keeps its units, relative to a block: the attention's query, key, value and
    output projections (``qkv`` when one fused module holds all three, laid out ``stacked`` — all
    queries, then keys, then values — or ``per_head``: each head's query, key and value together), the
    MLP's gate (None: no gate), up and down projections (``gate_up`` when fused, stacked), and the
    configuration fields a smaller model patches."""

    name: str
    blocks: str
    attention: str
    q: str = "q_proj"
    k: str = "k_proj"
    v: str = "v_proj"
    o: str = "o_proj"
    qkv: str | None = None
    qkv_layout: str = "stacked"
    mlp: str = "mlp"
    gate: str | None = "gate_proj"
    up: str = "up_proj"
    down: str = "down_proj"
    gate_up: str | None = None
    heads_field: str = "num_attention_heads"
    kv_heads_field: str | None = "num_key_value_heads"
    head_dim_field: str | None = "head_dim"
    intermediate_field: str = "intermediate_size"
    depth_field: str = "num_hidden_layers"
    width_field: str = "hidden_size"
    head_removal: str | None = None  # why heads cannot be removed in this family, if they cannot

    def in_attention(self, block: str, part: str) -> str:
        """The qualified name of attention module ``part`` of ``block``."""
        return ".".join(p for p in (block, self.attention, part) if p)

    def in_mlp(self, block: str, part: str) -> str:
        """The qualified name of MLP module ``part`` of ``block``."""
        return ".".join(p for p in (block, self.mlp, part) if p)


FAMILIES: Registry[Family] = Registry("transformer family")
FAMILIES.register("phi3")(
    Family("phi3", "model.layers", "self_attn", qkv="qkv_proj", gate=None, up="", gate_up="gate_up_proj")
)
FAMILIES.register("gpt_neox")(
    Family(
        "gpt_neox", "gpt_neox.layers", "attention", o="dense", qkv="query_key_value", qkv_layout="per_head",
        gate=None, up="dense_h_to_4h", down="dense_4h_to_h", kv_heads_field=None, head_dim_field=None,
        head_removal=TIED_HEADS.format(name="GPT-NeoX"),
    )
)  # fmt: skip
FAMILIES.register("opt")(
    Family(
        "opt", "model.decoder.layers", "self_attn", o="out_proj", mlp="", gate=None, up="fc1", down="fc2",
        kv_heads_field=None, head_dim_field=None, intermediate_field="ffn_dim",
        head_removal=TIED_HEADS.format(name="OPT"),
    )
)  # fmt: skip
FAMILIES.register("gpt2")(
    Family(
        "gpt2", "transformer.h", "attn", o="c_proj", qkv="c_attn", gate=None, up="c_fc", down="c_proj",
        heads_field="n_head", kv_heads_field=None, head_dim_field=None, intermediate_field="n_inner",
        depth_field="n_layer", width_field="n_embd", head_removal=TIED_HEADS.format(name="GPT-2"),
    )
)  # fmt: skip


def from_tp_plan(model_type: str, plan: dict[str, str] | None) -> Family | None:
    """A family read from a configuration's tensor-parallel plan, when it has separate query, key,
    value and output projections and a gated MLP under ``layers.*`` (Llama-like); else None."""
    attention: dict[str, list[str]] = {"colwise": [], "rowwise": []}
    mlp: dict[str, list[str]] = {"colwise": [], "rowwise": []}
    parents = set()
    for key, style in (plan or {}).items():
        parts = key.split(".")
        if len(parts) != 4 or parts[:2] != ["layers", "*"] or style not in ("colwise", "rowwise"):
            continue
        (mlp if parts[2] == "mlp" else attention)[style].append(parts[3])
        if parts[2] != "mlp":
            parents.add(parts[2])
    q_k_v = sorted(attention["colwise"], key=lambda n: "qkv".index(n[0]) if n[0] in "qkv" else 9)
    if len(q_k_v) != 3 or len(attention["rowwise"]) != 1 or len(parents) != 1:
        return None
    gate = [n for n in mlp["colwise"] if n.startswith("gate")]
    up = [n for n in mlp["colwise"] if not n.startswith("gate")]
    if len(gate) != 1 or len(up) != 1 or len(mlp["rowwise"]) != 1:
        return None
    q, k, v = q_k_v
    return Family(
        model_type, "model.layers", parents.pop(), q=q, k=k, v=v, o=attention["rowwise"][0],
        gate=gate[0], up=up[0], down=mlp["rowwise"][0],
    )  # fmt: skip


def family_of(config: object) -> Family:
    """The family describing a model with ``config``: its registry entry, or one read from its
    tensor-parallel plan; an unknown family is refused naming it."""
    model_type = getattr(config, "model_type", None) or type(config).__name__
    if model_type in FAMILIES:
        return FAMILIES.get(model_type)
    found = from_tp_plan(model_type, getattr(config, "base_model_tp_plan", None))
    if found is None:
        raise PrunevizError(
            f"pruneviz does not know where a '{model_type}' model keeps its heads and MLP channels (known: "
            f"{', '.join(FAMILIES.names())} and families whose configuration gives a Llama-like "
            "tensor-parallel plan)"
        )
    return found


@dataclass(frozen=True)
class Anatomy:
    """One transformer's layout: its family and the sizes structured pruning changes."""

    family: Family
    depth: int
    heads: int  # query heads per block
    kv_heads: int
    head_dim: int
    intermediate: int  # MLP channels per block

    @property
    def blocks(self) -> str:
        return self.family.blocks

    @property
    def head_removal(self) -> str | None:
        return self.family.head_removal

    @property
    def group_size(self) -> int:
        """Query heads per key/value head (1 without grouped-query attention)."""
        return self.heads // self.kv_heads

    def block(self, i: int) -> str:
        return f"{self.blocks}.{i}"

    def _attn(self, i: int, part: str) -> str:
        return self.family.in_attention(self.block(i), part)

    def _mlp(self, i: int, part: str) -> str:
        return self.family.in_mlp(self.block(i), part)

    def attention_output(self, i: int) -> str:
        """The projection that reads every head of block ``i`` (its input columns are the heads)."""
        return self._attn(i, self.family.o)

    def mlp_output(self, i: int) -> str:
        """The projection that reads every MLP channel of block ``i``."""
        return self._mlp(i, self.family.down)

    def group_entries(self, i: int, group: int) -> Entries:
        """Parameter slices that disappear with key/value group ``group`` of block ``i``:
        {module: ("rows" | "cols", slice or slices)}."""
        f, hd, r = self.family, self.head_dim, self.group_size
        queries = slice(group * r * hd, (group + 1) * r * hd)
        keys = slice(group * hd, (group + 1) * hd)
        out: Entries = {self._attn(i, f.o): ("cols", queries)}
        if f.qkv is None:
            out[self._attn(i, f.q)] = ("rows", queries)
            out |= {self._attn(i, part): ("rows", keys) for part in (f.k, f.v)}
        elif f.qkv_layout == "per_head":  # each head's query, key and value side by side (no GQA)
            out[self._attn(i, f.qkv)] = ("rows", slice(group * 3 * hd, (group + 1) * 3 * hd))
        else:  # stacked: all queries, then all keys, then all values
            q_rows, kv_rows = self.heads * hd, self.kv_heads * hd
            shifted = [queries, _shift(keys, q_rows), _shift(keys, q_rows + kv_rows)]
            out[self._attn(i, f.qkv)] = ("rows", shifted)
        return out

    def channel_entries(self, i: int, channel: int) -> Entries:
        """Parameter slices that disappear with MLP channel ``channel`` of block ``i``."""
        f, one = self.family, slice(channel, channel + 1)
        out: Entries = {self._mlp(i, f.down): ("cols", one)}
        if f.gate_up is not None:  # stacked: all gates, then all ups
            out[self._mlp(i, f.gate_up)] = ("rows", [one, _shift(one, self.intermediate)])
        else:
            out |= {self._mlp(i, part): ("rows", one) for part in (f.gate, f.up) if part}
        return out


def _shift(s: slice, by: int) -> slice:
    return slice(s.start + by, s.stop + by)


def anatomy_of(model: nn.Module) -> Anatomy:
    """The layout of a Hugging Face causal LM of a known family, or a readable refusal."""
    config = getattr(model, "config", None)
    if config is None:
        raise PrunevizError(
            "heads, MLP channels and blocks are removed from models whose blocks pruneviz knows (Hugging "
            "Face causal language models; torchvision's ViT and Swin; timm's ViT and DeiT), and "
            f"{type(model).__name__}'s are not: prune it with masks, or remove filters where it has no "
            "attention"
        )
    family = family_of(config)
    try:
        stack = model.get_submodule(family.blocks)
    except AttributeError:
        raise PrunevizError(f"this '{family.name}' model has no blocks at {family.blocks}") from None
    heads = getattr(config, family.heads_field)
    kv = getattr(config, family.kv_heads_field) if family.kv_heads_field else heads
    head_dim = (getattr(config, family.head_dim_field, None) if family.head_dim_field else None) or (
        getattr(config, family.width_field) // heads
    )
    intermediate = getattr(config, family.intermediate_field, None)
    if not intermediate:  # GPT-2 leaves n_inner unset: read the width off the MLP itself
        intermediate = model.get_submodule(family.in_mlp(f"{family.blocks}.0", family.up)).out_features
    return Anatomy(family, len(stack), heads, kv or heads, head_dim, intermediate)


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
    _patch_modules(work, anatomy, n_groups)
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
        for module in block.modules():
            if isinstance(getattr(module, "layer_idx", None), int):
                module.layer_idx = new_index


def _patch_modules(model: nn.Module, anatomy: Anatomy, groups: int) -> None:
    """What attention modules copied from the config when they were made (Phi-3 slices its fused
    projection by ``num_key_value_heads``): the head counts of the smaller model, as a fresh load of it
    would set them."""
    if anatomy.head_removal is not None:
        return
    counts = {"num_key_value_heads": groups, "num_heads": groups * anatomy.group_size}
    counts["num_attention_heads"] = counts["num_heads"]
    for module in model.modules():
        for attr, value in counts.items():
            if isinstance(getattr(module, attr, None), int) and not isinstance(module, nn.ModuleList):
                setattr(module, attr, value)


def _patch_config(config, anatomy: Anatomy, groups: int, channels: int, drop: tuple[int, ...]) -> None:
    f = anatomy.family
    if f.head_removal is None:
        setattr(config, f.heads_field, groups * anatomy.group_size)
        if f.kv_heads_field:
            setattr(config, f.kv_heads_field, groups)
        if f.head_dim_field:
            setattr(config, f.head_dim_field, anatomy.head_dim)  # no longer width / heads
    setattr(config, f.intermediate_field, channels)
    setattr(config, f.depth_field, anatomy.depth - len(drop))
    layer_types = getattr(config, "layer_types", None)  # per-layer attention kinds (Qwen2, Mistral)
    if isinstance(layer_types, list) and len(layer_types) == anatomy.depth:
        config.layer_types = [t for i, t in enumerate(layer_types) if i not in drop]
