"""Echo state network (Jaeger 2001): a fixed random reservoir and a linear readout fitted by ridge."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from ..cells.base import get_activation
from ..checks import check_bool, check_seed, check_size
from . import _run
from ._data import (
    check_count,
    check_fraction,
    check_nonneg,
    layout_out,
    pair,
    sequences,
)
from .init import check_radius, dense_matrix, reservoir_matrix
from .readout import DEFAULT_RIDGES, SOLVERS, check_ridge, fit_readout


class ESNState(NamedTuple):
    """x (num_layers, B, N): reservoir states; y (B, O): the last output (the teacher's when forced)."""

    x: torch.Tensor
    y: torch.Tensor


class ESN(nn.Module):
    r"""Echo state network with optional output feedback, leaky units, state noise and stacked reservoirs.

    For layer l = 1..num_layers, with v_1(n) = u(n) and v_l(n) = x_{l-1}(n):
        x_l(n) = (1 - a) x_l(n-1) + a f(W_l x_l(n-1) + W_in,l v_l(n) + b_l [+ W_fb y(n-1)]_{l=1} + nu(n))
        y(n)   = W_out [1; u(n); x_1(n); ...; x_L(n)]          (u(n) only with readout_input)
    a = leak_rate, f = activation, nu(n) ~ U[-noise, noise] (training only). W_l: random sparse (density)
    or dense, scaled to spectral_radius exactly; W_in,1, b, W_fb: uniform in [-s, s] with s =
    input_scaling, bias_scaling, feedback_scaling; deeper layers' W_in,l: inter_scaling (default 1/sqrt(N)).
    fit: teacher forcing (y(n-1) = target(n-1), y(-1) from the state, 0 by default), the first
    `washout` steps of every sequence dropped, W_out by ridge regression in float64 on the states of
    all sequences (`readout.fit_readout`; ridge=None: chosen from `ridges` by `folds`-fold CV; solver
    "qr" (accurate at tiny ridges) or "normal" (Cholesky of Z^T Z + ridge I, about twice as fast)).
    predict: driven by inputs (feedback: the teacher if given, else the ESN's own outputs).
    generate: closed loop; with feedback y(n) feeds back through W_fb, without it y(n) is the next
    input (then input_size must equal output_size). generated[k] predicts target step L + k. Both
    refuse an ESN that was never fitted (its readout all zeros). dtype: torch.float32 or float64.

    Shapes (time-major; batch_first swaps L and B): L steps, B sequences, I input_size, N
    reservoir_size, O output_size, F = 1 + I (readout_input) + num_layers * N
        inputs (L, B, I), (L, I) or (L,) when I = 1, or a list of those; targets alike with O
        weight_hh (num_layers, N, N); weight_ih (N, I); weight_ih_deep (num_layers - 1, N, N);
        bias (num_layers, N); weight_fb (N, O); weight_out (O, F)
    Saving: an nn.Module whose buffers are its state; `config()` (JSON) and `ESN.from_config(config,
    tensors)` rebuild it from state_dict() tensors saved with safetensors.
    Loops run with one torch thread (`rnnzoo._loops.single_thread`); sparse=True multiplies by a CSR copy.
    Where the compiled kernels are built (`rnnzoo native build`), sparse tanh/sigmoid reservoirs run their
    loops in C++ (the closed loop: one layer, one sequence); `rnnzoo.reservoir._run.native_reason(esn)`
    says why not otherwise, and the torch loops run instead.

    Example:
        >>> import torch
        >>> from rnnzoo.reservoir import ESN
        >>> from rnnzoo.data import mackey_glass
        >>> s = mackey_glass(1200, seed=0)
        >>> esn = ESN(1, 200, 1, spectral_radius=0.9, input_scaling=0.5, seed=0)
        >>> esn = esn.fit(s[:999], s[1:1000], washout=100, ridge=1e-8)   # one-step-ahead targets
        >>> y = esn.generate(20)                                         # closed loop, 20 steps
        >>> bool((y[:, 0] - s[1000:1020]).pow(2).mean().sqrt() / s.std() < 0.05)
        True
    """

    def __init__(self, input_size: int, reservoir_size: int, output_size: int = 1, *,
                 spectral_radius: float = 0.9, density: float | None = None, sparse: bool = True,
                 leak_rate: float = 1.0, input_scaling: float = 1.0, bias_scaling: float = 0.0,
                 feedback: bool = False, feedback_scaling: float = 1.0, noise: float = 0.0,
                 num_layers: int = 1, inter_scaling: float | None = None, activation: str = "tanh",
                 readout_input: bool = True, ridge: float | None = None, ridges=DEFAULT_RIDGES, folds: int = 5,
                 solver: str = "qr", washout: int = 0, batch_first: bool = False, seed: int | None = None,
                 dtype: torch.dtype = torch.float64, _draw: bool = True):
        super().__init__()
        self.input_size = check_count(input_size, "input_size")
        self.reservoir_size = N = check_size(reservoir_size, "reservoir_size")
        self.output_size = O = check_size(output_size, "output_size")
        self.spectral_radius = check_radius(spectral_radius)
        self.leak_rate = check_fraction(leak_rate, "leak_rate")
        self.density = None if density is None else check_fraction(density, "density")
        self.input_scaling = check_nonneg(input_scaling, "input_scaling")
        self.bias_scaling = check_nonneg(bias_scaling, "bias_scaling")
        self.feedback_scaling = check_nonneg(feedback_scaling, "feedback_scaling")
        self.noise = check_nonneg(noise, "noise")
        self.num_layers = check_size(num_layers, "num_layers")
        self.inter_scaling = N ** -0.5 if inter_scaling is None else check_nonneg(inter_scaling, "inter_scaling")
        self.activation = activation
        self._f = get_activation(activation)
        self.ridge = None if ridge is None else check_ridge(ridge)
        self.ridges, self.folds = tuple(float(r) for r in ridges), folds
        if solver not in SOLVERS:
            raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")
        self.solver = solver
        self.washout = check_count(washout, "washout")
        self.sparse, self.feedback = check_bool(sparse, "sparse"), check_bool(feedback, "feedback")
        self.readout_input, self.batch_first = check_bool(readout_input, "readout_input"), check_bool(batch_first, "batch_first")
        if dtype not in (torch.float32, torch.float64):
            raise TypeError(f"dtype must be torch.float32 or torch.float64 (the reservoir loops' types), got {dtype!r}")
        self.seed, self.dtype = check_seed(seed, "seed"), dtype
        self.ridge_, self.cv_errors, self.last_state = None, None, None
        g = torch.Generator().manual_seed(seed if seed is not None else int(torch.randint(0, 2**62, (1,))))
        self._noise_gen = torch.Generator().manual_seed(int(torch.randint(0, 2**62, (1,), generator=g)))
        L, I = self.num_layers, self.input_size
        hh = [reservoir_matrix(N, self.spectral_radius, density=self.density, generator=g, dtype=dtype)
              if _draw else torch.zeros(N, N, dtype=dtype) for _ in range(L)]  # from_config skips eigvals
        deep = [dense_matrix(N, N, self.inter_scaling, generator=g, dtype=dtype) for _ in range(L - 1)]
        self.register_buffer("weight_hh", torch.stack(hh))
        self.register_buffer("weight_ih", dense_matrix(N, I, self.input_scaling, generator=g, dtype=dtype))
        self.register_buffer("weight_ih_deep", torch.stack(deep) if deep else torch.zeros(0, N, N, dtype=dtype))
        self.register_buffer("bias", dense_matrix(L, N, self.bias_scaling, generator=g, dtype=dtype))
        self.register_buffer("weight_fb", dense_matrix(N, O, self.feedback_scaling, generator=g, dtype=dtype)
                             if self.feedback else torch.zeros(N, O, dtype=dtype))
        self.register_buffer("weight_out", torch.zeros(O, self.features, dtype=dtype))

    @property
    def features(self) -> int:
        """F, the readout's regressors per step: 1 + I (readout_input) + num_layers * N."""
        return 1 + (self.input_size if self.readout_input else 0) + self.num_layers * self.reservoir_size

    # --- running the reservoir ----------------------------------------------------------------
    def initial_state(self, batch: int = 1) -> ESNState:
        """Zero states and a zero previous output for `batch` sequences."""
        z = torch.zeros(self.num_layers, batch, self.reservoir_size, dtype=self.dtype)
        return ESNState(z, torch.zeros(batch, self.output_size, dtype=self.dtype))

    def _check_state(self, state, B: int) -> ESNState:
        if state is None:
            return self.initial_state(B)
        if not isinstance(state, ESNState):
            raise TypeError(f"state must be an ESNState (x, y), got {type(state).__name__}")
        want = (self.num_layers, B, self.reservoir_size)
        if tuple(state.x.shape) != want or tuple(state.y.shape) != (B, self.output_size):
            raise ValueError(f"state must have x {want} and y {(B, self.output_size)}, got x "
                             f"{tuple(state.x.shape)} and y {tuple(state.y.shape)}")
        return ESNState(state.x.to(self.dtype), state.y.to(self.dtype))

    def _features(self, u, X) -> torch.Tensor:
        parts = [torch.ones(*X.shape[:2], 1, dtype=self.dtype)]
        if self.readout_input and self.input_size:
            parts.append(u)
        return torch.cat(parts + [X], -1)

    def _readout(self, u, X) -> torch.Tensor:
        return self._features(u, X) @ self.weight_out.T

    def _check_fitted(self, method: str) -> None:
        """predict and generate read the readout: refuse an ESN that was never fitted (its weight_out all
        zeros, no ridge_), whose outputs would be zeros that look like an answer."""
        if self.ridge_ is None and not bool(self.weight_out.any()):
            raise ValueError(f"{method}: this ESN is not fitted (its readout weight_out is all zeros); call "
                             "fit(inputs, targets) first, or load a fitted one (ESN.from_config)")

    def _pair(self, inputs, targets, argument: str = "targets"):
        return pair(inputs, targets, self.input_size, self.output_size, argument, self.batch_first, self.dtype)

    # --- public API ---------------------------------------------------------------------------
    @torch.no_grad()
    def fit(self, inputs=None, targets=None, *, washout: int | None = None, ridge: float | None = None,
            state: ESNState | None = None) -> "ESN":
        """Teacher-forced runs over every sequence, washout dropped, W_out by ridge (CV when None).

        Sets weight_out, ridge_ (the ridge used), cv_errors (per ridge of `ridges`, or None) and
        last_state (where the last sequence ended, its y the last target) for `generate`.
        """
        if targets is None:
            raise ValueError("targets must be given (the teacher outputs to fit), got None")
        washout = self.washout if washout is None else check_count(washout, "washout")
        ridge = self.ridge if ridge is None else check_ridge(ridge)
        us, ds, unbatched = self._pair(inputs, targets)
        for d in ds:
            if d.shape[0] <= washout:
                raise ValueError(f"washout={washout} must be shorter than every sequence: got a sequence of "
                                 f"{d.shape[0]} steps (nothing left to fit)")
        Zs, Ys = [], []
        for u, d in zip(us, ds):
            X, final = _run.driven(self, u, d, self._check_state(state, d.shape[1]), self.noise)
            Zs.append(self._features(u[washout:], X[washout:]).transpose(0, 1).reshape(-1, self.features))
            Ys.append(d[washout:].transpose(0, 1).reshape(-1, self.output_size))
        Z, Y = (Zs[0], Ys[0]) if len(Zs) == 1 else (torch.cat(Zs), torch.cat(Ys))  # 16 MB a copy at N = 1000
        W, self.ridge_, self.cv_errors = fit_readout(Z, Y, ridge, ridges=self.ridges, folds=self.folds,
                                                     solver=self.solver)
        self.weight_out.copy_(W)
        self.last_state, self._unbatched = ESNState(final.x, ds[-1][-1]), unbatched
        return self

    @torch.no_grad()
    def run(self, inputs=None, *, teacher=None, steps: int | None = None, state: ESNState | None = None):
        """Reservoir states (L, B, num_layers * N) of a driven run (no noise), and the final state.

        With feedback, teacher (L, B, O) is fed back (y(n-1) = teacher(n-1)); it is required here.
        input_size = 0: give `steps` (or a teacher) instead of inputs.
        """
        if self.feedback and teacher is None:
            raise ValueError("teacher must be given to run an ESN with feedback (or use predict/generate)")
        if teacher is not None:
            us, ds, unbatched = self._pair(inputs, teacher, "teacher")
            u, d = us[0], ds[0]
        elif inputs is None:
            if self.input_size or steps is None:
                raise ValueError(f"inputs must be given (input_size={self.input_size}), or steps when input_size=0")
            u, d, unbatched = torch.zeros(check_size(steps, "steps"), 1, 0, dtype=self.dtype), None, True
        else:
            (u, *_), unbatched = sequences(inputs, self.input_size, "inputs", self.batch_first, self.dtype)
            d = None
        state = self._check_state(state, u.shape[1])
        X, final = _run.driven(self, u, d if self.feedback else None, state, 0.0)
        return layout_out(X, unbatched, self.batch_first), final

    @torch.no_grad()
    def predict(self, inputs=None, *, teacher=None, steps: int | None = None, state: ESNState | None = None,
                return_state: bool = False):
        """Outputs (L, B, O) driven by inputs; with feedback, the teacher's or (None) the ESN's own y."""
        self._check_fitted("predict")
        if self.feedback and teacher is None:
            if inputs is None and (self.input_size or steps is None):
                raise ValueError(f"inputs must be given (input_size={self.input_size}), or steps when input_size=0")
            if inputs is not None:
                (u, *_), unbatched = sequences(inputs, self.input_size, "inputs", self.batch_first, self.dtype)
            else:
                u, unbatched = torch.zeros(check_size(steps, "steps"), 1, 0, dtype=self.dtype), True
            y, final = _run.closed(self, u.shape[0], u, self._check_state(state, u.shape[1]))
        else:
            X, final = self.run(inputs, teacher=teacher, steps=steps, state=state)
            unbatched = X.dim() == 2
            X = X.unsqueeze(1) if unbatched else (X.transpose(0, 1) if self.batch_first else X)
            (u, *_), _ = (sequences(inputs, self.input_size, "inputs", self.batch_first, self.dtype)
                          if inputs is not None else ([torch.zeros(X.shape[0], X.shape[1], 0, dtype=self.dtype)], 0))
            y = self._readout(u, X)
        y = layout_out(y, unbatched, self.batch_first)
        return (y, final) if return_state else y

    @torch.no_grad()
    def generate(self, steps: int, *, inputs=None, prime=None, prime_inputs=None, state: ESNState | None = None,
                 return_state: bool = False):
        """Run `steps` steps in closed loop on the ESN's own output: (steps, B, O).

        Starts from `state`, else from the end of `prime` (a target sequence run teacher-forced with
        feedback, or as the inputs without it), else from where `fit` ended. inputs (steps, B, I):
        the external inputs during generation (feedback ESNs with input_size > 0).
        """
        steps = check_size(steps, "steps")
        if not self.feedback and self.input_size != self.output_size:
            raise ValueError(f"generate without feedback feeds y back as the input: input_size "
                             f"({self.input_size}) must equal output_size ({self.output_size})")
        self._check_fitted("generate")
        unbatched = getattr(self, "_unbatched", True)
        if prime is not None:
            if self.feedback:
                us, ds, unbatched = self._pair(prime_inputs, prime, "prime")
                _, state = _run.driven(self, us[0], ds[0], self._check_state(state, ds[0].shape[1]), 0.0)
            else:
                (p, *_), unbatched = sequences(prime, self.input_size, "prime", self.batch_first, self.dtype)
                _, state = _run.driven(self, p, None, self._check_state(state, p.shape[1]), 0.0)
        elif state is None:
            state = self.last_state if self.last_state is not None else self.initial_state(1)
        u = None
        if self.feedback and self.input_size:
            if inputs is None:
                raise ValueError(f"inputs must be given: this feedback ESN has input_size={self.input_size}")
            (u, *_), unbatched = sequences(inputs, self.input_size, "inputs", self.batch_first, self.dtype)
            if u.shape[0] != steps:
                raise ValueError(f"inputs must have steps={steps} time steps, got {u.shape[0]}")
        state = self._check_state(state, state.y.shape[0])
        y, final = _run.closed(self, steps, u, state)
        y = layout_out(y, unbatched and y.shape[1] == 1, self.batch_first)
        return (y, final) if return_state else y

    # --- saving -------------------------------------------------------------------------------
    def config(self) -> dict:
        """JSON-able constructor arguments plus ridge_; the tensors are `state_dict()`."""
        keys = ("input_size", "reservoir_size", "output_size", "spectral_radius", "density", "sparse", "leak_rate",
                "input_scaling", "bias_scaling", "feedback", "feedback_scaling", "noise", "num_layers", "inter_scaling",
                "activation", "readout_input", "ridge", "folds", "solver", "washout", "batch_first", "seed")
        out = {"class": "ESN", **{k: getattr(self, k) for k in keys}}
        return {**out, "ridges": list(self.ridges), "ridge_": self.ridge_,
                "dtype": str(self.dtype).removeprefix("torch.")}

    @classmethod
    def from_config(cls, config: dict, tensors: dict) -> "ESN":
        """Rebuild from `config()` and the `state_dict()` tensors (e.g. safetensors.torch.load_file)."""
        kwargs = {k: v for k, v in config.items() if k not in ("class", "ridge_", "dtype")}
        esn = cls(**kwargs, dtype=getattr(torch, config.get("dtype", "float64")), _draw=False)
        esn.load_state_dict(tensors)
        esn.ridge_ = config.get("ridge_")
        return esn

    def extra_repr(self) -> str:
        opts = [f"{self.input_size}, {self.reservoir_size}, {self.output_size}",
                f"spectral_radius={self.spectral_radius}", f"leak_rate={self.leak_rate}"]
        opts += [name for name in ("feedback", "sparse") if getattr(self, name)]
        return ", ".join(opts + ([f"num_layers={self.num_layers}"] if self.num_layers > 1 else []))
