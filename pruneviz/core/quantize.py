"""Quantised weights after pruning (``quantize: {weights: int8}``), through torchao.

A scheme does two things with the same arithmetic: :meth:`Quantization.convert` swaps Linear weights
for torchao's quantised tensors (what is exported and timed), and :meth:`Quantization.rounded` gives
the float weight those quantised values stand for (what the live metric evaluates, so the dashboard's
figure is the quantised model's without running its kernels). Zeros stay zeros: a symmetric scale maps
0 to 0, so the masks survive quantisation exactly. Schemes are found by name in :data:`QUANTIZATIONS`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache

import torch
from torch import nn

from pruneviz.core.errors import PrunevizError
from pruneviz.core.registry import Registry


@cache
def load_torchao() -> None:
    """Import torchao once: its tensor types then load from a checkpoint with ``weights_only=True``
    (torchao registers them as safe)."""
    import torchao  # noqa: F401 - imported for its registrations


@dataclass(frozen=True)
class Quantization:
    """A weight format: its name, bits per weight, why a device cannot run it (None: it can), the
    torchao config that converts a Linear layer, and the weight dtypes its kernels take (None: any)."""

    name: str
    bits: int
    unavailable: Callable[[torch.device], str | None]
    config: Callable[[], object]
    dtypes: tuple[torch.dtype, ...] | None = None

    def why_not(self, device: torch.device | str, dtype: torch.dtype = torch.float32) -> str | None:
        """Why weights of ``dtype`` on ``device`` cannot take this format (None: they can)."""
        reason = self.unavailable(torch.device(device))
        if reason is None and self.dtypes is not None and dtype not in self.dtypes:
            wanted = " or ".join(str(d).removeprefix("torch.") for d in self.dtypes)
            held = str(dtype).removeprefix("torch.")
            reason = f"its kernels take {wanted} weights, the model holds {held} (see --dtype)"
        return reason

    def check(self, device: torch.device | str, dtype: torch.dtype = torch.float32) -> None:
        reason = self.why_not(device, dtype)
        if reason:
            raise PrunevizError(f"{self.name} weights cannot run here: {reason}")

    def convert(self, module: nn.Module, names: Iterable[str] | None = None) -> nn.Module:
        """Quantise ``module``'s Linear layers (only those in ``names`` when given) in place."""
        load_torchao()
        from torchao.quantization import quantize_

        chosen = None if names is None else set(names)
        quantize_(
            module,
            self.config(),
            filter_fn=lambda m, fqn: isinstance(m, nn.Linear) and (chosen is None or fqn in chosen),
        )
        return module

    def rounded(self, weight: torch.Tensor) -> torch.Tensor:
        """The float weight the quantised values stand for (same dtype and shape as ``weight``): a
        Linear holding ``weight`` converted as :meth:`convert` does, read back."""
        linear = nn.Linear(
            weight.shape[1], weight.shape[0], bias=False, device=weight.device, dtype=weight.dtype
        )
        linear.weight = nn.Parameter(weight.detach().clone(), requires_grad=False)
        return self.convert(linear).weight.dequantize().to(weight.dtype)


QUANTIZATIONS: Registry[Quantization] = Registry("weight quantization")


def quantizable(module: nn.Module) -> bool:
    """Whether torchao's weight-only schemes take this layer (Linear layers; convolutions stay float)."""
    return isinstance(module, nn.Linear)


def _anywhere(device: torch.device) -> str | None:
    return None


def _int8_config() -> object:
    from torchao.quantization import Int8WeightOnlyConfig

    return Int8WeightOnlyConfig()


INT4_GROUP = 128


def _int4_unavailable(device: torch.device) -> str | None:
    if device.type != "cuda" or not torch.cuda.is_available():
        return (
            "torchao 0.18's int4 weights run on CUDA GPUs in bfloat16 (its CPU path needs the mslk package)"
        )
    return None


def _int4_config() -> object:
    from torchao.quantization import Int4WeightOnlyConfig

    return Int4WeightOnlyConfig(group_size=INT4_GROUP, int4_packing_format="tile_packed_to_4d")


QUANTIZATIONS.register("int8")(Quantization("int8", 8, _anywhere, _int8_config))
QUANTIZATIONS.register("int4")(Quantization("int4", 4, _int4_unavailable, _int4_config, (torch.bfloat16,)))


def is_quantized(tensor: torch.Tensor) -> bool:
    """Whether ``tensor`` is a torchao quantised tensor (a subclass that can give its float values)."""
    data = tensor.data if isinstance(tensor, nn.Parameter) else tensor
    return type(data) is not torch.Tensor and hasattr(data, "dequantize")


def as_float(tensor: torch.Tensor) -> torch.Tensor:
    """The float values of ``tensor`` (its own, for a tensor that is not quantised)."""
    return tensor.dequantize() if is_quantized(tensor) else tensor


def dequantized(module: nn.Module) -> nn.Module:
    """``module`` with every quantised parameter replaced by the float values it stands for (in place):
    what pruneviz analyses and prunes when it loads a quantised export."""
    for sub in module.modules():
        for name, param in list(sub.named_parameters(recurse=False)):
            if is_quantized(param):
                setattr(sub, name, nn.Parameter(param.dequantize(), requires_grad=False))
    return module
