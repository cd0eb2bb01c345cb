"""The kernels a pruned layer can run on, and what each one really costs on this device.

Sparsity saves time only where a kernel skips the zeros: ordinary dense kernels multiply them like any
other weight. Each :class:`Kernel` turns one layer (its masked weight, its real input shape) into a
callable that computes the same output another way — dense, through ``torch.sparse`` CSR or BSR, on
2:4 sparse tensor cores, as the layer a structured removal would leave, with int8 weights — or says why
this device offers no such kernel. Kernels are found by name in :data:`KERNELS`.

A convolution runs sparse as im2col (``F.unfold``) followed by a sparse × dense product, the way a
sparse convolution is computed without a dedicated kernel; the unfold is part of its time.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from pruneviz.core.quantize import QUANTIZATIONS
from pruneviz.core.registry import Registry
from pruneviz.io import semistructured

Run = Callable[[torch.Tensor], torch.Tensor]
BSR_BLOCKS = (32, 16, 8, 4)  # the largest square block dividing both weight dimensions is used


@dataclass(frozen=True)
class Kernel:
    """One way to run a layer. ``unavailable(layer, device)`` says why this device cannot (None: it
    can); ``build(layer, sparsity)`` returns the callable (``sparsity``: the fraction of weights or
    rows the layer has lost, for kernels that rebuild it); ``versus`` names the kernel its speed is
    compared with (dense, or dense in the same half precision); ``promise(layer, sparsity)`` is what
    it should buy on paper: (× fewer MACs, × fewer weight bytes)."""

    name: str
    label: str
    unavailable: Callable[[nn.Module, torch.device], str | None]
    build: Callable[[nn.Module, float], Run]
    promise: Callable[[nn.Module, float], tuple[float, float]]
    versus: str = "dense"
    sparse: bool = False  # its time falls as the layer's zeros grow (a break-even sparsity exists)
    removes: bool = False  # it is the layer without its zeros: nothing to time for a layer without any


KERNELS: Registry[Kernel] = Registry("kernel")


def _register(kernel: Kernel) -> None:
    KERNELS.register(kernel.name)(kernel)


def as_matrix(weight: torch.Tensor) -> torch.Tensor:
    """A Linear or Conv2d weight as the matrix its matmul multiplies: (outputs, inputs × kernel area)."""
    return weight.detach().reshape(weight.shape[0], -1)


def _always(layer: nn.Module, device: torch.device) -> str | None:
    return None


def _dense(layer: nn.Module, sparsity: float) -> Run:
    return layer


def _no_promise(layer: nn.Module, sparsity: float) -> tuple[float, float]:
    return 1.0, 1.0


# --- torch.sparse: CSR and BSR ------------------------------------------------------------------------


def _matmul_layout(layer: nn.Module, device: torch.device) -> str | None:
    if isinstance(layer, nn.Conv2d) and layer.groups != 1:
        return "a grouped convolution is not one matrix product"
    if not isinstance(layer, nn.Linear | nn.Conv2d):
        return f"{type(layer).__name__} is not a Linear or Conv2d layer"
    return None


def _bsr_block(weight: torch.Tensor) -> int | None:
    rows, cols = as_matrix(weight).shape
    return next((b for b in BSR_BLOCKS if rows % b == 0 and cols % b == 0), None)


def _bsr_unavailable(layer: nn.Module, device: torch.device) -> str | None:
    reason = _matmul_layout(layer, device)
    if reason is None and _bsr_block(layer.weight) is None:
        rows, cols = as_matrix(layer.weight).shape
        return f"its {rows}×{cols} weight has no square block of {'/'.join(map(str, BSR_BLOCKS))}"
    return reason


def sparse_matmul(layer: nn.Module, matrix: torch.Tensor) -> Run:
    """``layer``'s forward with its weight as the sparse ``matrix`` (CSR or BSR): a Linear multiplies
    the flattened inputs, a Conv2d the unfolded image patches."""
    bias = layer.bias.detach() if layer.bias is not None else None
    if isinstance(layer, nn.Linear):

        def linear(x: torch.Tensor) -> torch.Tensor:
            flat = x.reshape(-1, x.shape[-1])
            y = torch.sparse.mm(matrix, flat.T).T
            y = y if bias is None else y + bias
            return y.reshape(*x.shape[:-1], -1)

        return linear
    conv = layer

    def convolution(x: torch.Tensor) -> torch.Tensor:
        batch, _, height, width = x.shape
        cols = F.unfold(x, conv.kernel_size, conv.dilation, conv.padding, conv.stride)  # B × CKK × L
        y = torch.sparse.mm(matrix, cols.transpose(0, 1).reshape(cols.shape[1], -1))  # out × B·L
        out_h, out_w = (
            (size + 2 * p - d * (k - 1) - 1) // s + 1
            for size, p, d, k, s in zip(
                (height, width), conv.padding, conv.dilation, conv.kernel_size, conv.stride
            )
        )
        y = y.reshape(-1, batch, out_h, out_w).transpose(0, 1)
        return y if bias is None else y + bias[:, None, None]

    return convolution


def _csr(layer: nn.Module, sparsity: float) -> Run:
    with warnings.catch_warnings():  # "sparse CSR support is in beta": what we measure, said once here
        warnings.simplefilter("ignore", UserWarning)
        return sparse_matmul(layer, as_matrix(layer.weight).to_sparse_csr())


def _bsr(layer: nn.Module, sparsity: float) -> Run:
    block = _bsr_block(layer.weight)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return sparse_matmul(layer, as_matrix(layer.weight).to_sparse_bsr((block, block)))


def _csr_promise(layer: nn.Module, sparsity: float) -> tuple[float, float]:
    """MACs scale with the non-zeros; bytes are values plus int64 column indices plus row pointers."""
    matrix = as_matrix(layer.weight)
    nonzero = max(int(torch.count_nonzero(matrix)), 1)
    stored = nonzero * (matrix.element_size() + 8) + (matrix.shape[0] + 1) * 8
    return matrix.numel() / nonzero, matrix.numel() * matrix.element_size() / stored


def _bsr_promise(layer: nn.Module, sparsity: float) -> tuple[float, float]:
    """A block is stored and multiplied whole when any of its weights is non-zero."""
    matrix, block = as_matrix(layer.weight), _bsr_block(layer.weight)
    rows, cols = matrix.shape
    kept = int((matrix.reshape(rows // block, block, cols // block, block) != 0).any(3).any(1).sum())
    kept = max(kept, 1)
    blocks = rows * cols // block**2
    stored = kept * (block * block * matrix.element_size() + 8) + (rows // block + 1) * 8
    return blocks / kept, matrix.numel() * matrix.element_size() / stored


# --- 2:4 sparse tensor cores --------------------------------------------------------------------------


def _semi_unavailable(layer: nn.Module, device: torch.device) -> str | None:
    reason = semistructured.unsupported_reason(device)
    if reason:
        return reason
    if not isinstance(layer, nn.Linear):
        return "semi-structured tensors take Linear weights only"
    rows, cols = layer.weight.shape
    if rows % semistructured.ROW_MULTIPLE or cols % semistructured.COL_MULTIPLE:
        return (
            f"its {rows}×{cols} weight is not a multiple of "
            f"{semistructured.ROW_MULTIPLE}×{semistructured.COL_MULTIPLE}"
        )
    return None


def two_four(weight: torch.Tensor) -> torch.Tensor:
    """``weight`` with the 2 smallest of every 4 consecutive inputs zeroed (already-2:4 weights keep
    their zeros): what the 2:4 kernel is timed with whatever the layer's own pattern."""
    groups = weight.detach().reshape(-1, 4)
    keep = torch.zeros_like(groups, dtype=torch.bool).scatter_(1, groups.abs().topk(2, dim=1).indices, True)
    return (groups * keep).reshape(weight.shape)


def _linear_copy(layer: nn.Linear, dtype: torch.dtype) -> nn.Linear:
    """A new Linear holding ``layer``'s weights in ``dtype``: a kernel changes the copy, never the layer."""
    copy = nn.Linear(layer.in_features, layer.out_features, layer.bias is not None)
    copy = copy.to(layer.weight.device, dtype)
    copy.load_state_dict(layer.state_dict())
    return copy


def _half(layer: nn.Module, sparsity: float) -> Run:
    half = _linear_copy(layer, torch.float16)
    return lambda x: half(x.half())


def _semi(layer: nn.Module, sparsity: float) -> Run:
    from torch.sparse import to_sparse_semi_structured

    half = _linear_copy(layer, torch.float16)
    half.weight = nn.Parameter(to_sparse_semi_structured(two_four(half.weight)), requires_grad=False)
    return lambda x: half(x.half())


def _cuda_only(layer: nn.Module, device: torch.device) -> str | None:
    if device.type != "cuda":
        return "timed on CUDA GPUs only, as the 2:4 kernel's reference"
    return None if isinstance(layer, nn.Linear) else "compared for Linear layers only"


def _semi_promise(layer: nn.Module, sparsity: float) -> tuple[float, float]:
    # half the multiplies; per 4 fp16 weights (8 bytes), 2 values (4 bytes) and 4 bits of indices
    return 2.0, 8 / (4 + 0.5)


# --- structured removal -------------------------------------------------------------------------------


def kept_rows(layer: nn.Module, sparsity: float) -> int:
    """Output rows (filters, neurons) a structured removal of ``sparsity`` of them leaves (at least 1)."""
    return max(1, math.ceil(layer.weight.shape[0] * (1 - sparsity)))


def _shrunk(layer: nn.Module, sparsity: float) -> Run:
    keep = kept_rows(layer, sparsity)
    if isinstance(layer, nn.Linear):
        small = nn.Linear(layer.in_features, keep, layer.bias is not None)
    else:
        c = layer
        small = nn.Conv2d(
            c.in_channels, keep, c.kernel_size, c.stride, c.padding, c.dilation, 1, c.bias is not None
        )
    small = small.to(layer.weight.device, layer.weight.dtype)
    with torch.no_grad():
        small.weight.copy_(layer.weight[:keep])
        if layer.bias is not None:
            small.bias.copy_(layer.bias[:keep])
    return small


def _shrunk_promise(layer: nn.Module, sparsity: float) -> tuple[float, float]:
    ratio = layer.weight.shape[0] / kept_rows(layer, sparsity)
    return ratio, ratio


# --- int8 weights -------------------------------------------------------------------------------------


def _int8_unavailable(layer: nn.Module, device: torch.device) -> str | None:
    if not isinstance(layer, nn.Linear):
        return "torchao quantizes Linear weights only"
    return None


def _int8(layer: nn.Module, sparsity: float) -> Run:
    return QUANTIZATIONS.get("int8").convert(_linear_copy(layer, layer.weight.dtype))


def _int8_promise(layer: nn.Module, sparsity: float) -> tuple[float, float]:
    """The same MACs; one byte a weight plus a float32 scale per row."""
    rows, cols = layer.weight.shape
    return 1.0, rows * cols * layer.weight.element_size() / (rows * cols + 4 * rows)


_register(Kernel("dense", "dense", _always, _dense, _no_promise))
_register(Kernel("csr", "CSR (torch.sparse)", _matmul_layout, _csr, _csr_promise, sparse=True))
_register(Kernel("bsr", "BSR (torch.sparse)", _bsr_unavailable, _bsr, _bsr_promise, sparse=True))
_register(Kernel("dense-fp16", "dense fp16", _cuda_only, _half, _no_promise))
_register(Kernel("2:4", "2:4 sparse tensor cores", _semi_unavailable, _semi, _semi_promise, "dense-fp16"))
_register(Kernel("shrunk", "structurally shrunk", _matmul_layout, _shrunk, _shrunk_promise, removes=True))
_register(Kernel("int8", "int8 weights (torchao)", _int8_unavailable, _int8, _int8_promise))
