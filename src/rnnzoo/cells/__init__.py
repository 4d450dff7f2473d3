"""Recurrent cells. Importing this package registers every architecture (as timm does)."""

from ..registry import Entry, register
from .base import Cell
from .elman import ElmanCell
from .gru import GRUCell
from .jordan import JordanCell
from .lstm import LSTMCell

register(Entry(
    "elman", ElmanCell, "Elman simple recurrent network (tanh or relu)",
    "h' = act(W x + U h + b)", "Elman 1990, Finding structure in time", layer="Elman",
    variants={"default": {}, "relu": {"activation": "relu"}}, torch_counterpart="rnn"))
register(Entry(
    "jordan", JordanCell, "Jordan network: the context is the previous output",
    "h = act(W x + U y + b); y' = act_y(V h + c)", "Jordan 1986, Serial order", layer="Jordan",
    variants={"default": {}, "output_size": {"output_size": 3}}, torch_counterpart="rnn"))
register(Entry(
    "lstm", LSTMCell, "Long short-term memory (peephole, coupled, layer_norm, proj_size options)",
    "c' = f c + i g; h' = o tanh(c')", "Hochreiter & Schmidhuber 1997; Gers & Schmidhuber 2000",
    layer="LSTM",
    variants={"default": {}, "peephole": {"peephole": True}, "coupled": {"coupled": True},
              "layer_norm": {"layer_norm": True}, "proj_size": {"proj_size": 2},
              "peephole+coupled": {"peephole": True, "coupled": True}},
    torch_counterpart="lstm"))
register(Entry(
    "gru", GRUCell, "Gated recurrent unit (reset gate after or before the recurrent matmul)",
    "h' = (1 - z) n + z h", "Cho et al. 2014", layer="GRU",
    variants={"default": {}, "reset_before": {"reset_after": False}}, torch_counterpart="gru"))

__all__ = ["Cell", "ElmanCell", "GRUCell", "JordanCell", "LSTMCell"]
