"""The Wanda and SparseGPT reference algorithms, transcribed from locuslab/wanda (MIT License,
Copyright (c) 2023 CMU Locus Lab): ``lib/prune.py`` ``prune_wanda`` and ``prune_sparsegpt``,
``lib/layerwrapper.py`` ``WrappedGPT``, ``lib/sparsegpt.py`` ``SparseGPT`` (the SparseGPT authors'
code), so that the suite checks pruneviz against them without a download. Kept as the reference writes
them (float32 statistics, the running-mean updates, per-row sorting, SparseGPT's blocked solve); the
only change is how a block is called: transformers 5 hands each block its position embeddings, so the
keyword arguments the model gives the first block are captured and reused, where the reference
captured ``attention_mask`` and ``position_ids``. ``benchmarks/reference_check.py`` runs the fetched
code itself on every window.
"""

from __future__ import annotations

import contextlib
import math

import torch
from torch import nn


def _linears(module: nn.Module) -> dict[str, nn.Linear]:
    return {n: m for n, m in module.named_modules() if isinstance(m, nn.Linear)}


def _hidden(out) -> torch.Tensor:
    """A block's hidden states (transformers 4 returned a tuple; 5 returns the tensor)."""
    return out[0] if isinstance(out, tuple) else out


class _Catcher(Exception):
    pass


def _first_block_inputs(model, windows: torch.Tensor) -> tuple[list[torch.Tensor], dict]:
    inputs, captured = [], {}

    def catch(module, args, kwargs):
        inputs.append(args[0] if args else kwargs["hidden_states"])
        captured.update({k: v for k, v in kwargs.items() if k != "hidden_states"})
        raise _Catcher

    handle = model.model.layers[0].register_forward_pre_hook(catch, with_kwargs=True)
    try:
        for window in windows:
            with contextlib.suppress(_Catcher):
                model(window.unsqueeze(0))
    finally:
        handle.remove()
    return inputs, captured


class _WrappedGPT:
    def __init__(self, layer):
        self.layer, self.nsamples = layer, 0
        self.scaler_row = torch.zeros(layer.weight.shape[1])

    def add_batch(self, inp):
        if len(inp.shape) == 2:
            inp = inp.unsqueeze(0)
        tmp = inp.shape[0]
        inp = inp.reshape((-1, inp.shape[-1])).t()
        self.scaler_row *= self.nsamples / (self.nsamples + tmp)
        self.nsamples += tmp
        inp = inp.type(torch.float32)
        self.scaler_row += torch.norm(inp, p=2, dim=1) ** 2 / self.nsamples


class _SparseGPT:
    def __init__(self, layer):
        self.layer = layer
        self.rows, self.columns = layer.weight.shape
        self.H = torch.zeros((self.columns, self.columns))
        self.nsamples = 0

    def add_batch(self, inp):
        if len(inp.shape) == 2:
            inp = inp.unsqueeze(0)
        tmp = inp.shape[0]
        inp = inp.reshape((-1, inp.shape[-1])).t()
        self.H *= self.nsamples / (self.nsamples + tmp)
        self.nsamples += tmp
        inp = math.sqrt(2 / self.nsamples) * inp.float()
        self.H += inp.matmul(inp.t())

    def fasterprune(self, sparsity, blocksize=128, percdamp=0.01):
        W = self.layer.weight.data.clone().float()
        H = self.H
        dead = torch.diag(H) == 0
        H[dead, dead] = 1
        W[:, dead] = 0
        damp = percdamp * torch.mean(torch.diag(H))
        diag = torch.arange(self.columns)
        H[diag, diag] += damp
        H = torch.linalg.cholesky(H)
        H = torch.cholesky_inverse(H)
        Hinv = torch.linalg.cholesky(H, upper=True)
        for i1 in range(0, self.columns, blocksize):
            i2 = min(i1 + blocksize, self.columns)
            W1 = W[:, i1:i2].clone()
            Q1, Err1 = torch.zeros_like(W1), torch.zeros_like(W1)
            Hinv1 = Hinv[i1:i2, i1:i2]
            tmp = W1**2 / (torch.diag(Hinv1).reshape((1, -1))) ** 2
            thresh = torch.sort(tmp.flatten())[0][int(tmp.numel() * sparsity)]
            mask1 = tmp <= thresh
            for i in range(i2 - i1):
                w, d = W1[:, i], Hinv1[i, i]
                q = w.clone()
                q[mask1[:, i]] = 0
                Q1[:, i] = q
                err1 = (w - q) / d
                W1[:, i:] -= err1.unsqueeze(1).matmul(Hinv1[i, i:].unsqueeze(0))
                Err1[:, i] = err1
            W[:, i1:i2] = Q1
            W[:, i2:] -= Err1.matmul(Hinv[i1:i2, i2:])
        self.layer.weight.data = W.reshape(self.layer.weight.shape).to(self.layer.weight.data.dtype)


@torch.no_grad()
def reference_prune(model, windows: torch.Tensor, sparsity: float, method: str, blocks: int) -> None:
    """Prune every Linear of ``model``'s first ``blocks`` blocks in place as the reference's
    ``prune_<method>`` does (it prunes them all), calibrating on ``windows`` (one sequence per row)."""
    inps, kwargs = _first_block_inputs(model, windows)
    for layer in model.model.layers[:blocks]:
        subset = _linears(layer)
        wrapped = {n: (_WrappedGPT if method == "wanda" else _SparseGPT)(m) for n, m in subset.items()}
        handles = [
            subset[n].register_forward_hook(lambda _, inp, out, w=w: w.add_batch(inp[0].data))
            for n, w in wrapped.items()
        ]
        for x in inps:
            layer(x, **kwargs)
        for h in handles:
            h.remove()
        for name, w in wrapped.items():
            if method == "wanda":
                W_metric = torch.abs(subset[name].weight.data) * torch.sqrt(w.scaler_row.reshape((1, -1)))
                W_mask = torch.zeros_like(W_metric) == 1
                sort_res = torch.sort(W_metric, dim=-1, stable=True)
                indices = sort_res[1][:, : int(W_metric.shape[1] * sparsity)]
                W_mask.scatter_(1, indices, True)
                subset[name].weight.data[W_mask] = 0
            else:
                w.fasterprune(sparsity)
        inps = [_hidden(layer(x, **kwargs)) for x in inps]
