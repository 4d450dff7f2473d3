"""Associative memories, stored by rules rather than trained by backpropagation.

    Hopfield        binary Hopfield network: Hebbian, Storkey, pseudo-inverse rules; async/sync recall
    ModernHopfield  dense continuous Hopfield network (Ramsauer et al. 2020), a differentiable layer
    BAM             Kosko's bidirectional associative memory
    capacity_sweep, plot_capacity   recall quality against the load P/N
    recall_demo     pictures (16x16 letters or your PNGs), corrupted and half-masked cues, recalls
    letters         16x16 bipolar letter pictures from a built-in 5x7 font

Every model is an nn.Module whose buffers are its whole state: save `model.state_dict()` with
safetensors and `model.config()` as JSON; `Class.from_config(config, tensors)` rebuilds it.
"""

from .bam import BAM, BAMRecall, bam_recall_rate
from .capacity import capacity_sweep, plot_capacity
from .demo import load_images, recall_demo
from .hopfield import Hopfield, HopfieldRecall
from .letters import letter_patterns, letters
from .modern_hopfield import ModernHopfield, ModernRecall

__all__ = ["Hopfield", "HopfieldRecall", "ModernHopfield", "ModernRecall", "BAM", "BAMRecall",
           "bam_recall_rate", "capacity_sweep", "plot_capacity", "recall_demo", "load_images", "letters",
           "letter_patterns"]
