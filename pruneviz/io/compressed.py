"""Language models as ``compressed-tensors`` checkpoints (the format llm-compressor writes and vLLM and
transformers read): a ``save_pretrained`` directory whose ``config.json`` carries a
``quantization_config`` (``quant_method: compressed-tensors``) and whose safetensors hold the
compressed layers.

Two formats, because the pinned stack reads only one of them:

* ``compressed-tensors`` — sparsity stored compressed: ``sparse-bitmask`` (non-zero values, a packed
  bitmask and row offsets) for unstructured layers, ``sparse-24-bitmask`` (two values of every four and
  their bitmask) when every sparse layer is 2:4; int8 weights (one scale per row) under the bitmask when
  quantised. compressed-tensors 0.20 keeps these layouts' configs and bitmask helpers but no longer
  decompresses them itself (its model compressor writes ``sparsity_config: {}``), so plain transformers
  5.23 does not load this directory: pruneviz reads it back (``file:DIR``) by decompressing with those
  helpers;
* ``compressed-tensors-dense`` — the weights dense (float, or int8 ``pack-quantized``: what transformers
  5.23 with compressed-tensors 0.20 loads), the sparsity described in ``sparsity_config`` (format
  ``dense``, its structure, the layers): verified by loading it with plain ``transformers``.

The int8 values and scales are torchao's (:mod:`pruneviz.core.quantize`), so the checkpoint holds the
very weights the dashboard evaluated.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pruneviz.core.errors import PrunevizError
from pruneviz.core.quantize import as_float, dequantized, is_quantized
from pruneviz.io.hf import Conv1DLinear, from_conv1d, is_hf_directory, load_hf, quiet, save_hf
from pruneviz.io.models import LoadedModel, ModelOptions, clone_module
from pruneviz.io.semistructured import is_two_four

QUANT_METHOD = "compressed-tensors"
BITMASK, TWO_FOUR, DENSE = "sparse-bitmask", "sparse-24-bitmask", "dense"
INT8_BITS = 8


@dataclass(frozen=True)
class Layout:
    """How a layer's weight is stored: bitmask-compressed or dense, and int8 (packed into int32 words
    when dense, so transformers' compressed-tensors loader takes it) or float."""

    sparse: str | None  # BITMASK, TWO_FOUR or None (dense)
    int8: bool


def is_compressed_directory(path: Path) -> bool:
    """A ``save_pretrained`` directory whose config says compressed-tensors."""
    if not is_hf_directory(path):
        return False
    try:
        config = json.loads((path / "config.json").read_text())
    except (OSError, ValueError):
        return False
    qc = config.get("quantization_config") if isinstance(config, dict) else None
    return isinstance(qc, dict) and qc.get("quant_method") == QUANT_METHOD


def write_compressed(
    module: nn.Module,
    path: Path,
    tokenizer: Any,
    data_spec: str | None,
    layers: tuple[str, ...],
    compress_sparsity: bool,
) -> None:
    """Write ``module`` (masked; its quantised layers holding torchao int8 tensors) as a
    compressed-tensors directory; ``layers`` are the prunable Linear layers whose weights it compresses
    (sparsity compressed only with ``compress_sparsity``)."""
    from safetensors.torch import load_file, save_file

    found = dict(module.named_modules())
    linear = {n: found[n] for n in layers if isinstance(found.get(n), nn.Linear)}
    if any(isinstance(m, Conv1DLinear) for m in linear.values()):
        raise PrunevizError("compressed-tensors stores Linear weights; GPT-2's Conv1D layers export as hf")
    weights = {n: m.weight.detach() for n, m in linear.items()}
    structure = _structure({n: as_float(w) for n, w in weights.items()})
    sparse = structure if compress_sparsity else None
    save_hf(dequantized(clone_module(module)), tokenizer, path, data_spec)
    layouts = {
        n: Layout(sparse if _has_zeros(as_float(w)) else None, is_quantized(w)) for n, w in weights.items()
    }
    for shard in sorted(path.glob("*.safetensors")):
        state = load_file(str(shard))
        for name, weight in weights.items():
            if f"{name}.weight" in state:
                del state[f"{name}.weight"]
                state |= _compress(name, weight, layouts[name])
        save_file(state, str(shard), metadata={"format": "pt"})
    _reindex(path)
    config = json.loads((path / "config.json").read_text())
    config["quantization_config"] = _quantization_config(layouts, weights, structure, compress_sparsity)
    (path / "config.json").write_text(json.dumps(config, indent=2))


def _has_zeros(weight: torch.Tensor) -> bool:
    return bool((weight == 0).any())


def _structure(weights: dict[str, torch.Tensor]) -> str:
    """TWO_FOUR when every layer with zeros keeps at most 2 of every 4 inputs, else BITMASK."""
    sparse = [w for w in weights.values() if _has_zeros(w)]
    return TWO_FOUR if sparse and all(is_two_four(w) for w in sparse) else BITMASK


def _compress(name: str, weight: torch.Tensor, layout: Layout) -> dict[str, torch.Tensor]:
    """One layer's stored tensors: values (int8 with ``weight_scale``, or float), bitmask-compressed as
    the layout says (compressed-tensors' legacy key names), or packed int8 / plain when dense."""
    from compressed_tensors.compressors.pack_quantized.helpers import pack_to_int32

    out: dict[str, torch.Tensor] = {}
    if layout.int8:
        values = weight.qdata.contiguous()
        out[f"{name}.weight_scale"] = weight.scale.reshape(-1, 1).float().contiguous()
    else:
        values = weight.contiguous()
    if layout.sparse == TWO_FOUR:
        keep = _two_four_positions(values)
        out[f"{name}.shape"] = torch.tensor(list(values.shape)).reshape(-1, 1)
        out[f"{name}.compressed"] = values[keep].reshape(values.shape[0], values.shape[1] // 2)
        out[f"{name}.bitmask"] = _pack(keep)
    elif layout.sparse == BITMASK:
        keep = values != 0
        counts = keep.sum(1)
        out[f"{name}.weight.shape"] = torch.tensor(list(values.shape))
        out[f"{name}.weight.compressed"] = values[keep]
        out[f"{name}.weight.bitmask"] = _pack(keep)
        out[f"{name}.weight.row_offsets"] = torch.cumsum(counts, 0) - counts
    elif layout.int8:
        out[f"{name}.weight_packed"] = pack_to_int32(values, INT8_BITS).contiguous()
        out[f"{name}.weight_shape"] = torch.tensor(list(values.shape))
    else:
        out[f"{name}.weight"] = values
    return out


def _two_four_positions(values: torch.Tensor) -> torch.Tensor:
    """The 2 positions of every 4 inputs a 2:4 layout stores: the non-zeros, padded with zeros' places."""
    groups = values.reshape(-1, 4)
    order = (groups != 0).to(torch.int8).argsort(dim=1, descending=True, stable=True)[:, :2]
    return torch.zeros_like(groups, dtype=torch.bool).scatter_(1, order, True).reshape(values.shape)


def _pack(keep: torch.Tensor) -> torch.Tensor:
    from compressed_tensors.utils import pack_bitmasks

    return pack_bitmasks(keep.cpu())


def _unpack(bitmask: torch.Tensor, shape: list[int]) -> torch.Tensor:
    from compressed_tensors.utils import unpack_bitmasks

    return unpack_bitmasks(bitmask, shape)


def _quantization_config(
    layouts: dict[str, Layout], weights: dict[str, torch.Tensor], structure: str, compressed: bool
) -> dict:
    """The ``quantization_config`` compressed-tensors and transformers read: the int8 scheme of the
    quantised layers (per-row symmetric int8, weights only) and the sparsity config."""
    import compressed_tensors
    from compressed_tensors.config import SparsityCompressionConfig
    from compressed_tensors.quantization import QuantizationArgs, QuantizationConfig, QuantizationScheme

    quantized = [n for n, layout in layouts.items() if layout.int8]
    sparse = [n for n, layout in layouts.items() if _has_zeros(as_float(weights[n]))]
    zeros = sum(int((as_float(weights[n]) == 0).sum()) for n in weights)
    total = sum(w.numel() for w in weights.values())
    sparsity = SparsityCompressionConfig.load_from_registry(
        structure if compressed else DENSE,
        targets=sparse,
        global_sparsity=zeros / total if total else 0.0,
        sparsity_structure="2:4" if structure == TWO_FOUR else "unstructured",
    )
    out: dict = {"quant_method": QUANT_METHOD, "version": compressed_tensors.__version__}
    if quantized:
        args = QuantizationArgs(num_bits=INT8_BITS, type="int", symmetric=True, strategy="channel")
        scheme = QuantizationScheme(targets=quantized, weights=args)
        fmt = "naive-quantized" if compressed and sparse else "pack-quantized"
        config = QuantizationConfig(
            config_groups={"group_0": scheme}, format=fmt, quantization_status="compressed"
        )
        out |= config.model_dump(exclude=["quant_method"])
    out["sparsity_config"] = sparsity.model_dump(exclude={"registry_requires_subclass"}) if sparse else {}
    return out


def _reindex(path: Path) -> None:
    """Point a sharded checkpoint's index at the keys each shard holds now."""
    from safetensors import safe_open

    index = path / "model.safetensors.index.json"
    if not index.is_file():
        return
    found = json.loads(index.read_text())
    weight_map = {}
    for shard in sorted(path.glob("*.safetensors")):
        with safe_open(str(shard), framework="pt") as f:
            weight_map |= {key: shard.name for key in f.keys()}  # noqa: SIM118 - safe_open is not iterable
    found["weight_map"] = weight_map
    index.write_text(json.dumps(found, indent=2))


def read_compressed(path: Path, options: ModelOptions) -> LoadedModel:
    """A compressed-tensors directory as a float model: every compressed layer decompressed with
    compressed-tensors (bitmasks unpacked with its helpers, int8 values dequantised by its compressors
    with the scheme the config gives), then loaded like any ``save_pretrained`` directory."""
    from safetensors.torch import load_file, save_file

    config = json.loads((path / "config.json").read_text())
    schemes = _schemes(config.pop("quantization_config"), path)
    with tempfile.TemporaryDirectory() as tmp:
        plain = Path(tmp) / path.name
        shutil.copytree(path, plain, ignore=shutil.ignore_patterns("*.safetensors"))
        for shard in sorted(path.glob("*.safetensors")):
            options.gate.check_archive(shard)
            state = decompress(load_file(str(shard)), schemes)
            save_file(state, str(plain / shard.name), metadata={"format": "pt"})
        _reindex(plain)
        (plain / "config.json").write_text(json.dumps(config, indent=2))
        return load_hf(str(plain), options)


def _schemes(quantization_config: dict, path: Path) -> dict[str, Any]:
    """Each quantised layer's scheme, by the layer names the config groups target (what pruneviz writes;
    a checkpoint targeting layer types or patterns is named as unreadable here)."""
    from compressed_tensors.quantization import QuantizationConfig

    if not quantization_config.get("config_groups"):
        return {}
    try:
        config = QuantizationConfig.model_validate(quantization_config)
    except ValueError as err:
        raise PrunevizError(f"{path}: its quantization_config is not compressed-tensors': {err}") from None
    return {name: scheme for scheme in config.config_groups.values() for name in scheme.targets}


def decompress(state: dict[str, torch.Tensor], schemes: dict[str, Any]) -> dict[str, torch.Tensor]:
    """A compressed state dict (either format) back as plain float weights: bitmasks first, then the
    int8 values of the layers ``schemes`` names."""
    from compressed_tensors.compressors.base import BaseCompressor

    out = dict(state)
    for key in [k for k in state if k.endswith(".bitmask")]:
        prefix = key.removesuffix(".bitmask")  # "<layer>.weight" (sparse-bitmask) or "<layer>" (2:4)
        shape = out.pop(f"{prefix}.shape").flatten().tolist()
        values = out.pop(f"{prefix}.compressed").flatten()
        out.pop(f"{prefix}.row_offsets", None)
        weight = torch.zeros(shape, dtype=values.dtype)
        weight[_unpack(out.pop(key), shape)] = values
        out[prefix if prefix.endswith(".weight") else f"{prefix}.weight"] = weight
    for layer, scheme in schemes.items():
        local = {
            k.removeprefix(f"{layer}."): out.pop(k) for k in list(out) if k.startswith(f"{layer}.weight")
        }
        if not local:
            continue
        fmt = "pack-quantized" if "weight_packed" in local else "naive-quantized"
        plain = BaseCompressor.get_value_from_registry(fmt).decompress(local, scheme)
        out[f"{layer}.weight"] = plain["weight"]
    return out


def load_with_transformers(path: Path) -> nn.Module:
    """The directory as plain ``transformers`` loads it (its compressed-tensors integration decompresses
    what it can): what a serving stack on this pin sees."""
    import transformers
    from transformers import AutoModelForCausalLM

    quiet(transformers)
    with contextlib.redirect_stderr(io.StringIO()):  # compressed-tensors' progress bars, not the user's
        model = AutoModelForCausalLM.from_pretrained(str(path), local_files_only=True).eval()
        with torch.inference_mode():  # compressed-tensors decompresses on the first forward, as in serving
            model(input_ids=torch.zeros((1, 1), dtype=torch.long))
    return from_conv1d(model)
