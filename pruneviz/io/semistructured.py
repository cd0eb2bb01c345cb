"""2:4 weights for NVIDIA sparse tensor cores (``torch.sparse.to_sparse_semi_structured``).

A Linear layer whose weight keeps at most 2 of every 4 consecutive inputs can run on the sparse tensor
cores of compute capability 8.0+ GPUs at half the multiply work. PyTorch's semi-structured tensors exist
only on such GPUs, in fp16/bf16, for weights with at least 32 rows and 64 columns (multiples of them),
so an export keeps the masked weights (loadable anywhere) and names the layers to convert on the GPU.
"""

from __future__ import annotations

import torch
from torch import nn

from pruneviz.core.errors import PrunevizError

MIN_CAPABILITY = (8, 0)
# fp16/bf16 limits of torch.sparse.SparseSemiStructuredTensorCUTLASS: rows and columns multiples of these.
ROW_MULTIPLE, COL_MULTIPLE = 32, 64


def is_two_four(weight: torch.Tensor) -> bool:
    """Whether every group of 4 consecutive inputs (along dim 1) holds at most 2 non-zeros."""
    if weight.dim() != 2 or weight.shape[1] % 4:
        return False
    return bool(((weight.detach() != 0).reshape(-1, 4).sum(1) <= 2).all())


def convertible_layers(module: nn.Module) -> list[str]:
    """Linear layers whose weight is 2:4 sparse and has a shape the semi-structured kernels take."""
    return [
        name
        for name, m in module.named_modules()
        if isinstance(m, nn.Linear)
        and m.weight.shape[0] % ROW_MULTIPLE == 0
        and m.weight.shape[1] % COL_MULTIPLE == 0
        and is_two_four(m.weight)
    ]


def unsupported_reason(device: torch.device | str = "cuda") -> str | None:
    """None when ``device`` can hold semi-structured tensors, else why not (for an error message)."""
    device = torch.device(device)
    if device.type != "cuda":
        return f"device {device} is not a CUDA GPU"
    if not torch.cuda.is_available():
        return "this machine has no CUDA GPU"
    capability = torch.cuda.get_device_capability(device)
    if capability < MIN_CAPABILITY:
        return f"its GPU has compute capability {capability[0]}.{capability[1]}, below 8.0"
    return None


def to_semi_structured(
    module: nn.Module, layers: list[str], device: torch.device | str = "cuda", dtype=torch.float16
) -> nn.Module:
    """Move ``module`` to ``device`` in ``dtype`` and swap the named layers' weights for
    semi-structured tensors (in place; returns the module, for inference)."""
    reason = unsupported_reason(device)
    if reason:
        raise PrunevizError(
            f"2:4 semi-structured tensors need an NVIDIA GPU of compute capability 8.0+: {reason}; "
            "export state_dict here and convert on such a GPU (pruneviz.io.semistructured.to_semi_structured)"
        )
    from torch.sparse import to_sparse_semi_structured

    module = module.to(device=device, dtype=dtype).eval()
    found = dict(module.named_modules())
    for name in layers:
        linear = found[name]
        linear.weight = nn.Parameter(to_sparse_semi_structured(linear.weight.detach()), requires_grad=False)
    return module
