"""The Wanda, SparseGPT, RIA and DSnoT reference algorithms, transcribed so that the suite checks
pruneviz against them without a download: from locuslab/wanda (MIT License, Copyright (c) 2023 CMU
Locus Lab) ``lib/prune.py`` ``prune_wanda`` and ``prune_sparsegpt``, ``lib/layerwrapper.py``
``WrappedGPT``, ``lib/sparsegpt.py`` ``SparseGPT`` (the SparseGPT authors' code); from
biomedical-cybernetics/Relative-importance-and-activation-pruning ``lib/prune.py`` ``prune_ria`` (its
README's command: unstructured compared per layer, ``--a 0.5``, no reallocation); from zyxxmu/DSnoT
``lib/prune.py`` ``prune_DSnoT`` and ``lib/layerwrapper.py`` (its README's command: ``--initial_method
wanda --max_cycle_time 50 --update_threshold 0.1 --pow_of_var_regrowing 1``, ``--without_same_sign``
at its default True, ``--skip_layer no_skip`` so that every layer is refined). Kept as the reference writes
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


class _DSnoTWrapped:
    """DSnoT's ``WrappedGPT``: Wanda's squared norms plus the inputs' per-sequence sums and variances."""

    def __init__(self, layer):
        self.layer, self.nsamples, self.ntokens = layer, 0, 0
        columns = layer.weight.shape[1]
        self.scaler_row = torch.zeros(columns)
        self.sum_metric_row = torch.zeros(columns)
        self.mean = torch.zeros(columns)
        self.var = torch.zeros(columns)

    def add_batch(self, inp):
        if len(inp.shape) == 2:
            inp = inp.unsqueeze(0)
        tmp = inp.shape[0]
        inp = inp.reshape((-1, inp.shape[-1])).t().type(torch.float32)
        mean_inp = torch.mean(inp, dim=1, keepdim=True)
        var_inp = torch.var(inp, dim=1, unbiased=False, keepdim=True)
        num_inp = inp.shape[1]
        self.var = (
            var_inp
            if self.ntokens == 0
            else (self.var * self.ntokens + var_inp * num_inp) / (self.ntokens + num_inp)
        )
        self.mean = (
            mean_inp
            if self.ntokens == 0
            else (self.mean * self.ntokens + mean_inp * num_inp) / (self.ntokens + num_inp)
        )
        self.ntokens += num_inp
        self.scaler_row *= self.nsamples / (self.nsamples + tmp)
        self.sum_metric_row *= self.nsamples / (self.nsamples + tmp)
        self.nsamples += tmp
        self.scaler_row += torch.norm(inp, p=2, dim=1) ** 2 / self.nsamples
        self.sum_metric_row += torch.sum(inp, dim=1) / self.nsamples


def _return_reorder_indice(input_tensor):
    positive_mask, negative_mask = input_tensor > 0, input_tensor < 0
    arange = torch.arange(0, input_tensor.shape[1]).to(torch.float64).repeat(input_tensor.shape[0], 1)
    positive_indices, negative_indices = arange.clone(), arange.clone()
    positive_indices[~positive_mask] = float("inf")
    negative_indices[~negative_mask] = float("inf")
    positive_value, _ = torch.sort(positive_indices, dim=1)
    negative_value, _ = torch.sort(negative_indices, dim=1)
    positive_value = torch.flip(positive_value, dims=[1])
    negative_value[negative_value == float("inf")] = 0
    positive_value[positive_value == float("inf")] = 0
    return (positive_value + negative_value).to(torch.int64)


def _ria_prune(layer, wrapped, sparsity, a=0.5):
    W = layer.weight.data.clone()
    W_metric = (
        torch.abs(W) / torch.sum(torch.abs(W), dim=0)
        + torch.abs(W) / torch.sum(torch.abs(W), dim=1).reshape(-1, 1)
    ) * (torch.sqrt(wrapped.scaler_row.reshape((1, -1)))) ** a
    thresh = torch.sort(W_metric.flatten())[0][int(W.shape[0] * W.shape[1] * sparsity)]
    W_mask = W_metric <= thresh
    layer.weight.data[W_mask] = 0


def _dsnot_prune(
    layer,
    wrapped,
    sparsity,
    max_cycle_time=50,
    update_threshold=0.1,
    pow_of_var_regrowing=1,
    prune_n=0,
    prune_m=0,
):
    DSnoT_metric = layer.weight.data * wrapped.sum_metric_row.reshape((1, -1))
    initial_metric = torch.abs(layer.weight.data) * torch.sqrt(wrapped.scaler_row.reshape((1, -1)))
    weight_mask = torch.zeros_like(initial_metric) == 1
    if prune_n != 0:
        _dsnot_prune_n_m(
            DSnoT_metric, initial_metric, weight_mask, wrapped, prune_n, prune_m,
            max_cycle_time, update_threshold, pow_of_var_regrowing,
        )  # fmt: skip
        layer.weight.data[weight_mask] = 0
        return
    _, sorted_initial_indice = torch.sort(initial_metric, dim=-1, stable=True)
    sparsity_num = int(initial_metric.shape[1] * sparsity)
    res_sparsity_num = sorted_initial_indice.shape[1] - sparsity_num
    initial_prune_indices, initial_res_indices = torch.split(
        sorted_initial_indice, split_size_or_sections=[sparsity_num, res_sparsity_num], dim=1
    )
    weight_mask.scatter_(1, initial_prune_indices, True)
    metric_for_regrowing = DSnoT_metric.clone()
    wanda_metric = torch.abs(layer.weight.data) * torch.sqrt(wrapped.scaler_row.reshape((1, -1)))
    metric_for_regrowing.scatter_(1, initial_res_indices, 0)
    reconstruction_error = torch.sum(metric_for_regrowing, dim=1, keepdim=True)
    if pow_of_var_regrowing:
        metric_for_regrowing /= torch.pow(wrapped.var.reshape((1, -1)), pow_of_var_regrowing)
    _, regrowing_indices_block = torch.sort(metric_for_regrowing, dim=1, stable=True)
    wanda_metric.scatter_(1, initial_prune_indices, float("inf"))
    wanda_res_indices, _ = torch.split(
        torch.sort(wanda_metric, dim=1, stable=True)[1],
        split_size_or_sections=[res_sparsity_num, sparsity_num],
        dim=1,
    )
    reorder = _return_reorder_indice(torch.gather(DSnoT_metric, 1, wanda_res_indices))
    pruning_indices_block = torch.gather(wanda_res_indices, 1, reorder)
    rows = reconstruction_error.shape[0]
    regrow_ends = torch.zeros((rows, 2), dtype=torch.long)
    regrow_ends[:, 1] = regrowing_indices_block.shape[-1] - 1
    prune_ends = torch.zeros((rows, 2), dtype=torch.long)
    prune_ends[:, 1] = pruning_indices_block.shape[-1] - 1
    steps = torch.ones((rows, 2), dtype=torch.long)
    steps[:, 1] = -1
    update_mask = torch.ones_like(reconstruction_error, dtype=torch.bool)
    cycle_time = 0
    while not (torch.all(update_mask == False) or cycle_time >= max_cycle_time):  # noqa: E712 - as written
        cycle_time += 1
        side = (reconstruction_error > 0).int().to(torch.int64)
        at = torch.gather(regrow_ends, 1, side)
        regrowing_indice = torch.gather(regrowing_indices_block, 1, at.to(torch.int64))
        regrowing_metric = DSnoT_metric.gather(1, regrowing_indice.to(torch.int64))
        regrow_ends.scatter_(1, side, at + steps.gather(1, side))
        side = (reconstruction_error < 0).int().to(torch.int64)
        at = torch.gather(prune_ends, 1, side)
        pruning_indice = torch.gather(pruning_indices_block, 1, at.to(torch.int64))
        pruning_metric = DSnoT_metric.gather(1, pruning_indice.to(torch.int64))
        prune_ends.scatter_(1, side, at + steps.gather(1, side))
        update_mask = update_mask & (abs(reconstruction_error) > update_threshold)  # without_same_sign
        weight_mask.scatter_(1, pruning_indice, update_mask)
        weight_mask.scatter_(1, regrowing_indice, ~update_mask)
        reconstruction_error += torch.where(update_mask, pruning_metric, torch.zeros_like(pruning_metric))
        reconstruction_error -= torch.where(update_mask, regrowing_metric, torch.zeros_like(regrowing_metric))
    layer.weight.data[weight_mask] = 0


def _dsnot_prune_n_m(
    DSnoT_metric, initial_metric, weight_mask, wrapped, prune_n, prune_m,
    max_cycle_time, update_threshold, pow_of_var_regrowing,
):  # fmt: skip
    """``prune_DSnoT``'s N:M branch (``prune_n`` pruned of every ``prune_m``), as written."""
    initial_prune_indices = torch.zeros((initial_metric.shape[0], 0), dtype=torch.int64)
    initial_res_indices = torch.zeros((initial_metric.shape[0], 0), dtype=torch.int64)
    for ii in range(initial_metric.shape[1]):
        if ii % prune_m == 0:
            tmp = initial_metric[:, ii : (ii + prune_m)].float()
            _, tmp_all_indices = torch.sort(tmp, dim=1)
            tmp_all_indices += ii
            res_prune_n = prune_m - prune_n
            tmp_indices, tmp_res_indices = torch.split(
                tmp_all_indices, split_size_or_sections=[prune_n, res_prune_n], dim=1
            )
            initial_prune_indices = torch.cat((initial_prune_indices, tmp_indices), dim=1)
            initial_res_indices = torch.cat((initial_res_indices, tmp_res_indices), dim=1)
            weight_mask.scatter_(1, tmp_indices, True)
    metric_for_regrowing = DSnoT_metric.clone()
    metric_for_regrowing.scatter_(1, initial_res_indices, 0)
    reconstruction_error = torch.sum(metric_for_regrowing, dim=1, keepdim=True)
    initialize_error_sign = torch.sign(reconstruction_error)
    if pow_of_var_regrowing:
        metric_for_regrowing /= torch.pow(wrapped.var.reshape((1, -1)), pow_of_var_regrowing)
    _, regrowing_indices_block = torch.sort(metric_for_regrowing, dim=1, stable=True)
    indice_indice_list_for_regrowing = torch.zeros((reconstruction_error.shape[0], 2), dtype=torch.long)
    last_one = regrowing_indices_block.shape[-1] - 1
    indice_indice_list_for_regrowing[:, 1] = last_one
    update_num_for_regrowing = torch.ones((reconstruction_error.shape[0], 2), dtype=torch.long)
    update_num_for_regrowing[:, 1] = -1
    initial_metric.scatter_(1, initial_prune_indices, float("inf"))
    W_metric_max_value = torch.max(initial_metric, dim=1, keepdim=True)[0] + 1
    cycle_time = 1
    update_mask = torch.ones_like(reconstruction_error, dtype=torch.bool)
    while not (torch.all(update_mask == False) or cycle_time > max_cycle_time):  # noqa: E712 - as written
        cycle_time += 1
        indice_of_indice_indice_list_for_regrowing = (reconstruction_error > 0).int().to(torch.int64)
        indice_indice_for_regrowing = torch.gather(
            indice_indice_list_for_regrowing, 1, indice_of_indice_indice_list_for_regrowing
        )
        regrowing_indice = torch.gather(
            regrowing_indices_block, 1, indice_indice_for_regrowing.to(torch.int64)
        )
        regrowing_metric = DSnoT_metric.gather(1, regrowing_indice.to(torch.int64))
        recover_block_start_indice = regrowing_indice - regrowing_indice % prune_m
        recover_block_indices = (
            torch.arange(0, prune_m).repeat(recover_block_start_indice.shape[1], 1)
            + recover_block_start_indice
        )
        pruning_block = torch.gather(initial_metric, 1, recover_block_indices.to(torch.int64))
        _pruning_wanda_metric, pruning_indice = torch.topk(pruning_block, 1, dim=1, largest=False)
        pruning_indice += recover_block_start_indice
        pruning_metric = DSnoT_metric.gather(1, pruning_indice.to(torch.int64))
        reconstruction_error_after = reconstruction_error + pruning_metric - regrowing_metric
        update_mask = (
            update_mask
            & (initialize_error_sign == torch.sign(reconstruction_error_after))
            & (abs(reconstruction_error) > update_threshold)
        )
        initial_metric.scatter_(1, pruning_indice, W_metric_max_value)
        weight_mask.scatter_(1, pruning_indice, update_mask)
        weight_mask.scatter_(1, regrowing_indice, ~update_mask)
        reconstruction_error += torch.where(update_mask, pruning_metric, torch.zeros_like(pruning_metric))
        reconstruction_error -= torch.where(update_mask, regrowing_metric, torch.zeros_like(regrowing_metric))
        indice_indice_list_for_regrowing.scatter_(
            1,
            indice_of_indice_indice_list_for_regrowing,
            indice_indice_for_regrowing
            + update_num_for_regrowing.gather(1, indice_of_indice_indice_list_for_regrowing),
        )


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
def reference_prune(
    model,
    windows: torch.Tensor,
    sparsity: float,
    method: str,
    blocks: int,
    prune_n: int = 0,
    prune_m: int = 0,
) -> None:
    """Prune every Linear of ``model``'s first ``blocks`` blocks in place as the reference's
    ``prune_<method>`` does (it prunes them all), calibrating on ``windows`` (one sequence per row);
    ``prune_n`` of every ``prune_m`` inputs for N:M (DSnoT only)."""
    inps, kwargs = _first_block_inputs(model, windows)
    for layer in model.model.layers[:blocks]:
        subset = _linears(layer)
        wrapper = {"sparsegpt": _SparseGPT, "dsnot": _DSnoTWrapped}.get(method, _WrappedGPT)
        wrapped = {n: wrapper(m) for n, m in subset.items()}
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
            elif method == "ria":
                _ria_prune(subset[name], w, sparsity)
            elif method == "dsnot":
                _dsnot_prune(subset[name], w, sparsity, prune_n=prune_n, prune_m=prune_m)
            else:
                w.fasterprune(sparsity)
        inps = [_hidden(layer(x, **kwargs)) for x in inps]
