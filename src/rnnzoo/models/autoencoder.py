"""`SeqAutoencoder`: a recurrent sequence autoencoder for real-valued multivariate series.

The Keras sequence-autoencoder example (LSTM encoder, RepeatVector, LSTM decoder) with what it leaves
out: right-padded batches of unequal lengths, any registered vector cell, a bidirectional or stacked
encoder, a decoder that starts from the code, teacher forcing with free running at evaluation, and a
per-sequence (or per-step) reconstruction error for anomaly scores. Built from a JSON-able dict, like
every model in rnnzoo.models.
"""

from __future__ import annotations

import torch
from torch import nn

from .. import registry
from ..checks import _shape, all_finite, check_batch_steps, check_bool, check_finite, check_lengths, check_size
from ..driver import Recurrent

DECODER_INPUTS = ("repeat", "teacher")


class SeqAutoencoder(nn.Module):
    r"""Recurrent encoder -> code vector -> recurrent decoder -> the sequence again.

    Equations (x_1..x_T one sequence of T real steps, F features; s the state elements of the cell,
    e.g. (h, c) for lstm, h for gru):
        s_T = [s_T^fwd ; s_T^bwd]            the encoder's last layer, final state (every element,
                                             both directions when bidirectional) at step T
        z = tanh(W_z s_T + b_z)              the code (N, C)
        s_0^(l) = tanh(W_s^(l) z + b_s^(l))  the decoder's initial state, per layer l and state element
        u_t = z                              decoder_input="repeat" (Keras' RepeatVector)
        u_t = x_{t-1}, u_1 = 0               decoder_input="teacher", training mode (teacher forcing)
        u_t = x̂_{t-1}, u_1 = 0               decoder_input="teacher", eval mode (free running: the
                                             decoder feeds back its own output, so the code must
                                             carry the whole sequence)
        y_t, s_t = decoder(u_t, s_{t-1})     the same cell, num_layers, one direction
        x̂_t = W_o y_t + b_o                  the reconstruction
        score = 1/(T F) Σ_{t<=T} ||x̂_t - x_t||²

    Args (all JSON-able; `config()` returns them, so `SeqAutoencoder(**m.config())` rebuilds `m`):
        cell: a registered vector cell (`rnnzoo.available()`; not a convolutional one)
        input_size: F, features per step (keyword-only, required)
        hidden_size, num_layers: of the encoder and of the decoder
        code_size: C; 0 gives C = the size of s_T (D * the sum of the state elements' sizes)
        bidirectional: the encoder only (the decoder generates forwards)
        decoder_input: "repeat" or "teacher" (see the equations)
        dropout: between stacked layers (encoder and decoder) and on the code fed to the decoder;
            training mode only
        cell_options: the cell's options, e.g. {"peephole": True} for lstm

    Shapes: N batch, L padded length, F input_size, C code size, D = 2 if bidirectional else 1
        x (N, L, F) right-padded, or (L, F) unbatched; lengths (N,) ints in [1, L] or None (all L)
        forward -> reconstruction (N, L, F), code (N, C)
        encode -> (N, C); reconstruct -> (N, L, F); score -> (N,), or (N, L) with per_step=True
        (unbatched x: the same without N). Outputs are 0 at padded steps.

    Modes: the methods follow the module's mode. In training mode "teacher" is teacher-forced and
    dropout is on; call `.eval()` before scoring, so that "teacher" runs free and dropout is off.
    encode, reconstruct and score track gradients like forward (they are differentiable); wrap them
    in `torch.no_grad()` for inference. x must be finite (NaN or inf refused: fill missing values
    first) and have the parameters' dtype.

    Example:
        >>> import torch
        >>> from rnnzoo.models.autoencoder import SeqAutoencoder
        >>> model = SeqAutoencoder("lstm", input_size=3, hidden_size=16, code_size=4).eval()
        >>> x, lengths = torch.randn(2, 7, 3), torch.tensor([7, 5])
        >>> recon, code = model(x, lengths)
        >>> recon.shape, code.shape, model.score(x, lengths).shape
        (torch.Size([2, 7, 3]), torch.Size([2, 4]), torch.Size([2]))
        >>> bool((recon[1, 5:] == 0).all())  # padded steps
        True
    """

    def __init__(self, cell: str = "gru", *, input_size: int, hidden_size: int = 64, code_size: int = 0,
                 num_layers: int = 1, bidirectional: bool = False, decoder_input: str = "repeat",
                 dropout: float = 0.0, cell_options: dict | None = None):
        super().__init__()
        if registry.get(cell).spatial:  # get() names `cell` for a non-str or an unknown name
            raise ValueError(f"cell must be a vector cell; {cell!r} is convolutional (its steps are images)")
        check_size(input_size, "input_size")
        check_size(hidden_size, "hidden_size")
        check_size(code_size, "code_size", minimum=0)
        check_size(num_layers, "num_layers")
        bidirectional = check_bool(bidirectional, "bidirectional")
        if decoder_input not in DECODER_INPUTS:
            raise ValueError(f"decoder_input must be 'repeat' or 'teacher', got {decoder_input!r}")
        if not 0 <= check_finite(dropout, "dropout") < 1:
            raise ValueError(f"dropout must be a float in [0, 1), got {dropout!r}")
        if cell_options is not None and not isinstance(cell_options, dict):
            raise TypeError(f"cell_options must be a dict of the cell's options, got {type(cell_options).__name__}")
        self._config = dict(cell=cell, input_size=input_size, hidden_size=hidden_size, code_size=code_size,
                            num_layers=num_layers, bidirectional=bidirectional, decoder_input=decoder_input,
                            dropout=dropout, cell_options=dict(cell_options or {}))
        self.input_size, self.decoder_input = input_size, decoder_input
        options = dict(cell_options or {})
        self.encoder = Recurrent(cell, input_size, hidden_size, num_layers=num_layers, bidirectional=bidirectional,
                                 dropout=dropout, batch_first=True, **options)
        D = self.encoder.num_directions
        sizes = self._state_sizes(self.encoder)
        self.code_size = code_size or D * sum(sizes)
        self.to_code = nn.Linear(D * sum(sizes), self.code_size)
        self.decoder = Recurrent(cell, self.code_size if decoder_input == "repeat" else input_size, hidden_size,
                                 num_layers=num_layers, dropout=dropout, batch_first=True, **options)
        self.state_sizes = self._state_sizes(self.decoder)  # per state element, the same in every layer
        self.to_state = nn.Linear(self.code_size, num_layers * sum(self.state_sizes))
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(self.decoder.output_size, input_size)

    @staticmethod
    def _state_sizes(layer: Recurrent) -> list[int]:
        cell = layer.cells[-1]
        # a vector cell's state shapes depend on its sizes only, not on x's values
        return [int(torch.Size(s).numel()) for s in cell.state_shapes(torch.zeros(1, 1, cell.input_size))]

    def config(self) -> dict:
        """The constructor's arguments, JSON-able: `SeqAutoencoder(**m.config())` rebuilds `m`."""
        return {**self._config, "cell_options": dict(self._config["cell_options"])}

    # --- the public calls ---------------------------------------------------------------------------
    def forward(self, x, lengths=None):
        """x (N, L, F) -> (reconstruction (N, L, F), 0 at padded steps; code (N, C))."""
        x, lengths, unbatched = self._check(x, lengths)
        recon, code = self._run(x, lengths)
        return (recon[0], code[0]) if unbatched else (recon, code)

    def encode(self, x, lengths=None):
        """x (N, L, F) -> the code (N, C)."""
        x, lengths, unbatched = self._check(x, lengths)
        code = self._encode(x, lengths)
        return code[0] if unbatched else code

    def reconstruct(self, x, lengths=None):
        """x (N, L, F) -> the reconstruction (N, L, F), 0 at padded steps (free running in eval mode)."""
        return self.forward(x, lengths)[0]

    def score(self, x, lengths=None, per_step: bool = False):
        """Mean squared reconstruction error over each sequence's real steps and features, (N,); with
        per_step=True the mean over features at each step, (N, L), 0 at padded steps. Call `.eval()`
        first (see the class docstring); higher means less like the training data."""
        per_step = check_bool(per_step, "per_step")
        x, lengths, unbatched = self._check(x, lengths)
        err, valid = self._errors(x, lengths)
        out = err if per_step else err.sum(1) / valid.sum(1)
        return out[0] if unbatched else out

    def loss(self, x, lengths=None):
        """The training loss: mean squared error over all real steps and features of the batch (a scalar)."""
        x, lengths, _ = self._check(x, lengths)
        err, valid = self._errors(x, lengths)
        return err.sum() / valid.sum()

    # --- the computation ----------------------------------------------------------------------------
    def _run(self, x, lengths):
        code = self._encode(x, lengths)
        recon = self._decode(self.drop(code), x, lengths)
        return recon * self._valid(x, lengths).unsqueeze(-1), code

    def _encode(self, x, lengths):
        _, state = self.encoder(x, lengths=lengths)  # each element (num_layers * D, N, H_j)
        D = self.encoder.num_directions
        state = state if isinstance(state, tuple) else (state,)
        s = torch.cat([e[-D:].transpose(0, 1).reshape(e.shape[1], -1) for e in state], dim=-1)  # (N, D * S)
        return torch.tanh(self.to_code(s))

    def _decode(self, code, x, lengths):
        N, L, F = x.shape
        layers = self.decoder.num_layers
        s0 = torch.tanh(self.to_state(code)).view(N, layers, -1)  # (N, layers, sum of the elements' sizes)
        state = tuple(e.transpose(0, 1).contiguous() for e in s0.split(self.state_sizes, dim=-1))
        if self.decoder_input == "repeat":
            y, _ = self.decoder(code.unsqueeze(1).expand(N, L, code.shape[1]), state=state, lengths=lengths)
            return self.out(y)
        if self.training:  # teacher forcing: step t reads the true step t-1
            previous = torch.cat([x.new_zeros(N, 1, F), x[:, :-1]], dim=1)
            y, _ = self.decoder(previous, state=state, lengths=lengths)
            return self.out(y)
        steps, previous = [], x.new_zeros(N, 1, F)
        for _ in range(L):  # free running: step t reads the reconstruction of step t-1
            y, state = self.decoder(previous, state=state)
            previous = self.out(y)  # (N, 1, F)
            steps.append(previous)
        # padded steps need no lengths here: the decoder runs forwards, so they come after every real step
        return torch.cat(steps, dim=1)

    def _errors(self, x, lengths):
        """Squared error per step, averaged over features, 0 at padded steps (N, L); the valid mask."""
        recon, _ = self._run(x, lengths)
        valid = self._valid(x, lengths)
        return (recon - x).pow(2).mean(-1) * valid, valid

    @staticmethod
    def _valid(x, lengths):
        N, L = x.shape[:2]
        if lengths is None:
            return x.new_ones(N, L)
        return (torch.arange(L, device=x.device)[None, :] < lengths[:, None]).to(x.dtype)

    def _check(self, x, lengths):
        """x as (N, L, F) and lengths as int64 (N,) or None, with a flag saying x came unbatched."""
        want = f"(N, L, input_size={self.input_size})"
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x must be a torch.Tensor {want}, got {type(x).__name__}")
        if not x.is_floating_point():
            raise TypeError(f"x must be a floating-point tensor {want}, got dtype {x.dtype}")
        if x.dim() not in (2, 3):
            raise ValueError(f"x must be 3-D {want} or 2-D (L, input_size) unbatched, got {x.dim()}-D "
                             f"with shape {_shape(x.shape)}")
        unbatched = x.dim() == 2
        if unbatched:
            if lengths is not None:
                raise ValueError("lengths must be None for an unbatched x (L, input_size): its one sequence is "
                                 "all of x")
            x = x.unsqueeze(0)
        N, L = check_batch_steps(x, self.input_size)
        weight = self.out.weight
        if x.dtype != weight.dtype:
            raise TypeError(f"x must have the model's dtype {weight.dtype}, got {x.dtype}; convert the input, "
                            f"x.to({weight.dtype}), or the model, model.to({x.dtype})")
        if not all_finite(x):
            raise ValueError("x contains NaN or inf; fill or drop missing values before encoding")
        return x, check_lengths(lengths, N, L, x.device), unbatched
