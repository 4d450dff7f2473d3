"""Conversions between rnnzoo layers and torch.nn.LSTM / GRU / RNN (placeholder, being written)."""


def from_torch(cls, module):
    raise NotImplementedError


def to_torch(layer):
    raise NotImplementedError
