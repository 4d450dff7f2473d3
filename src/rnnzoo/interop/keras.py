"""Conversions from Keras LSTM / GRU / SimpleRNN layers or arrays (placeholder, being written)."""


def from_keras(cls, layer_or_weights):
    raise NotImplementedError
