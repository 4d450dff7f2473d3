"""Run eligible layers on torch's own fused RNN kernels (the ones nn.LSTM, nn.GRU and nn.RNN call).

`Recurrent.fused_ineligible_reason` holds the eligibility check; this module only calls the kernel,
one layer at a time, so that the driver's merge modes and dropout between layers stay the same on
both paths. Cells keep one bias per gate; the kernel gets it as b_ih and zeros (or GRU's b_hn) as b_hh.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import PackedSequence

_KERNELS = {"lstm": torch.lstm, "gru": torch.gru, "rnn_tanh": torch.rnn_tanh, "rnn_relu": torch.rnn_relu}


def run(layer, source, states):
    """Run `layer` over `source` (time-major tensor or PackedSequence) from per-cell `states`.

    Returns (output like source, [final state tuple per cell]) with states in the batch's own order.
    """
    packed = isinstance(source, PackedSequence)
    data = source.data if packed else source
    kind = layer.cells[0].fused_kind
    kernel = _KERNELS[kind]
    D = layer.num_directions
    order = source.sorted_indices if packed else None
    finals = [None] * len(layer.cells)
    for index in range(layer.num_layers):
        cells = layer.cells[index * D:(index + 1) * D]
        weights = [w for cell in cells for w in cell.fused_weights()]
        first = states[index * D:(index + 1) * D]
        hx = tuple(torch.stack([s[j] for s in first]) for j in range(len(first[0])))  # (D, N, H)
        if order is not None:  # the kernel works in the packed (sorted) batch order
            hx = tuple(h.index_select(1, order) for h in hx)
        hx_arg = hx if kind == "lstm" else hx[0]
        if packed:
            result = kernel(data, source.batch_sizes, hx_arg, weights, True, 1, 0.0, layer.training, D == 2)
        else:
            result = kernel(data, hx_arg, weights, True, 1, 0.0, layer.training, D == 2, False)
        data, hn = result[0], tuple(result[1:])
        if order is not None:
            hn = tuple(h.index_select(1, source.unsorted_indices) for h in hn)
        for d in range(D):
            finals[index * D + d] = tuple(h[d] for h in hn)
        if D == 2 and layer.merge != "concat":
            fwd, bwd = data.chunk(2, dim=-1)
            data = layer._merge([fwd, bwd])
        if index < layer.num_layers - 1 and layer.dropout > 0:
            data = F.dropout(data, layer.dropout, layer.training)
    if packed:
        data = PackedSequence(data, source.batch_sizes, source.sorted_indices, source.unsorted_indices)
    return data, finals
