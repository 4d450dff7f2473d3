"""The models that `rnnzoo train` tasks train: recurrent layers with what a task puts around them.

    sequence    SequenceModel: embedding or features -> Recurrent -> linear head, per step or per
                sequence (addition, sentiment, charlm)
    seq2seq     Seq2Seq: encoder-decoder over token ids with attention, reversed input, beam search
                (translate)
    autoencoder SeqAutoencoder: real-valued sequences to a fixed code and back (reconstruction scores)
    hierarchical HierarchicalRNN: stacked layers on their own clocks, layer k updating every r_k steps
    history_compressor HistoryCompressor: Schmidhuber's (1992) stack where only unpredicted inputs go up
    tree        TreeRNN, BinaryTreeLSTM, ChildSumTreeLSTM: recursive networks over parse trees, batched
                by level (sst)

A model here is an `nn.Module` that

  - is built from one JSON-able dict of keyword arguments: `Model(**config)`;
  - returns that dict from `config()`, so `rnnzoo train` writes it into config.json as "model" and a
    run directory rebuilds the model from JSON alone (its weights come from safetensors, no pickles);
  - keeps everything it needs in its `state_dict`, with nothing drawn at random after `__init__`.

A task builds its model from that dict (`Task.build_model`) both when training and when loading a
run, and computes its loss from the model's output (`Task.step`); the model knows nothing of tasks.
Networks fitted without backpropagation (the echo state network) live in `rnnzoo.reservoir`.
"""

from .autoencoder import SeqAutoencoder
from .hierarchical import HierarchicalRNN
from .history_compressor import HistoryCompressor
from .rnn_fcn import RNNFCN
from .seq2seq import Seq2Seq
from .sequence import SequenceModel
from .tree import BinaryTreeLSTM, ChildSumTreeLSTM, TreeRNN

__all__ = ["BinaryTreeLSTM", "ChildSumTreeLSTM", "HierarchicalRNN", "HistoryCompressor", "RNNFCN", "Seq2Seq",
           "SeqAutoencoder", "SequenceModel", "TreeRNN"]
