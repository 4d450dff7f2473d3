"""Reservoir computing: fixed random recurrent networks with a trained linear readout.

    ESN          echo state network (Jaeger 2001): sparse/dense reservoir, leak, feedback, noise, deep
    SequenceESN  a reservoir read once per sequence (last and mean state): classify, regress, forecast
    readout      ridge regression in closed form (float64) with k-fold cross-validation
    init         reservoir matrices scaled to an exact spectral radius

`ESN` is an nn.Module whose buffers are its whole state: save `esn.state_dict()` with safetensors and
`esn.config()` as JSON; `ESN.from_config(config, tensors)` rebuilds it.
"""

from .esn import ESN, ESNState
from .init import reservoir_matrix, spectral_radius
from .readout import fit_readout, ridge_cv, ridge_fit
from .sequence_esn import SequenceESN

__all__ = ["ESN", "ESNState", "SequenceESN", "reservoir_matrix", "spectral_radius", "ridge_fit", "ridge_cv", "fit_readout"]
