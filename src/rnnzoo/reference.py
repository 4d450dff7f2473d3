r"""A from-scratch NumPy Elman network with hand-written backpropagation through time (BPTT).

The classic lesson (Trask's "Anyone can learn to code an LSTM-RNN in Python") teaches a recurrent
network to add binary numbers with nothing but NumPy. This is that lesson, kept small and exact: the
tests check the hand-written gradients against torch.autograd, `train_addition` learns 8-bit addition
to 100% on held-out pairs in well under a second, and the learnt carry rule then adds 32-bit numbers.

Network (float64, h_0 = 0; row vectors, so x_t is (N, I) and a weight is (out, in) as in torch):
    a_t = x_t W_xh^T + h_{t-1} W_hh^T + b_h        h_t = tanh(a_t)
    z_t = h_t W_hy^T + b_y                         y_t = sigmoid(z_t)
Loss: mean binary cross-entropy over all M = L*N*O outputs, computed stably from the logits z_t:
    loss = (1/M) sum_t sum (log(1 + exp(z_t)) - target_t * z_t)
BPTT recurrences (t = L .. 1, with da_{L+1} = 0):
    dz_t = (y_t - target_t) / M
    dh_t = dz_t W_hy + da_{t+1} W_hh          (from this step's output, and from the next step)
    da_t = dh_t * (1 - h_t^2)
    dW_hy = sum_t dz_t^T h_t     db_y = sum_t,n dz_t
    dW_xh = sum_t da_t^T x_t     dW_hh = sum_t da_t^T h_{t-1}     db_h = sum_t,n da_t

Binary addition: x has bits+1 steps of 2 features, x_t = (bit t of a, bit t of b), least significant
bit first, and a last step (0, 0); the target at step t is bit t of a + b, so the last step's target
is the carry out and the bits+1 output bits are the exact sum. A sum counts as right only when every
output bit is (y_t > 0.5 read as 1).

Example:
    >>> from rnnzoo.reference import train_addition, encode_addition, from_bits
    >>> result = train_addition(bits=8, seed=0, log=None)
    >>> result.accuracy, result.test_accuracy           # held-out 8-bit pairs, random 32-bit pairs
    (1.0, 1.0)
    >>> x, _ = encode_addition([173], [62], bits=8)
    >>> from_bits(result.model.predict(x)[..., 0])
    [235]
"""

from __future__ import annotations

import operator
import time
from dataclasses import dataclass, field

import numpy as np

PARAMS = ("W_xh", "W_hh", "b_h", "W_hy", "b_y")


def _size(value, argument: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{argument} must be an int, got {type(value).__name__} {value!r}")
    if value < 1:
        raise ValueError(f"{argument} must be >= 1, got {value}")
    return int(value)


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # = 1 / (1 + exp(-z)), without overflow


class NumpyElman:
    """Elman network in NumPy float64 with a sigmoid output per step; equations in the module docstring.

    Shapes: L steps, N batch, I input_size, H hidden_size, O output_size
        x (L, N, I); targets (L, N, O) in [0, 1]; y (L, N, O); h (L, N, H)
        params: W_xh (H, I), W_hh (H, H), b_h (H,), W_hy (O, H), b_y (O,)
    Init (from `seed`): W_xh, W_hy Glorot-uniform, W_hh orthogonal, biases 0.
    """

    def __init__(self, input_size: int, hidden_size: int, output_size: int = 1, seed: int = 0):
        self.input_size = _size(input_size, "input_size")
        self.hidden_size = H = _size(hidden_size, "hidden_size")
        self.output_size = _size(output_size, "output_size")
        rng = np.random.default_rng(seed)

        def glorot(fan_out, fan_in):
            limit = np.sqrt(6.0 / (fan_in + fan_out))
            return rng.uniform(-limit, limit, (fan_out, fan_in))

        q, r = np.linalg.qr(rng.standard_normal((H, H)))
        self.params = {"W_xh": glorot(H, self.input_size), "W_hh": q * np.sign(np.diag(r)),
                       "b_h": np.zeros(H), "W_hy": glorot(self.output_size, H),
                       "b_y": np.zeros(self.output_size)}

    def _check(self, x, targets=None):
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 3 or x.shape[0] < 1 or x.shape[2] != self.input_size:
            raise ValueError(f"x must have shape (L, N, {self.input_size}) with L >= 1, got {x.shape}")
        if targets is None:
            return x
        targets = np.asarray(targets, dtype=np.float64)
        if targets.shape != x.shape[:2] + (self.output_size,):
            raise ValueError(f"targets must have shape {x.shape[:2] + (self.output_size,)} "
                             f"(L, N, output_size) to match x, got {targets.shape}")
        return x, targets

    def _run(self, x):
        """Hidden states hs (L+1, N, H), hs[0] = h_0 = 0, and the output logits z (L, N, O)."""
        p = self.params
        hs = np.zeros((x.shape[0] + 1, x.shape[1], self.hidden_size))
        xa = x @ p["W_xh"].T + p["b_h"]  # the input part of a_t, all steps at once
        for t in range(x.shape[0]):
            hs[t + 1] = np.tanh(xa[t] + hs[t] @ p["W_hh"].T)
        return hs, hs[1:] @ p["W_hy"].T + p["b_y"]

    def forward(self, x):
        """Run a whole sequence: returns (y, h), output probabilities (L, N, O) and states (L, N, H)."""
        hs, z = self._run(self._check(x))
        return _sigmoid(z), hs[1:]

    def predict(self, x):
        """Output bits (L, N, O), int64: y > 0.5."""
        return (self.forward(x)[0] > 0.5).astype(np.int64)

    def loss_and_grads(self, x, targets):
        """Mean binary cross-entropy and {name: gradient} for every parameter, by hand-written BPTT."""
        x, targets = self._check(x, targets)
        p, (L, N, I), H = self.params, x.shape, self.hidden_size
        hs, z = self._run(x)
        loss = float(np.mean(np.logaddexp(0.0, z) - targets * z))
        dz = (_sigmoid(z) - targets) / targets.size          # (L, N, O)
        dh_out = dz @ p["W_hy"]                               # output's share of dh_t, (L, N, H)
        da = np.empty_like(dh_out)
        from_next = np.zeros((N, H))                          # da_{t+1} W_hh
        for t in range(L - 1, -1, -1):
            da[t] = (dh_out[t] + from_next) * (1.0 - hs[t + 1] ** 2)
            from_next = da[t] @ p["W_hh"]
        da2, dz2 = da.reshape(L * N, H), dz.reshape(L * N, -1)
        grads = {"W_xh": da2.T @ x.reshape(L * N, I),
                 "W_hh": da2.T @ hs[:-1].reshape(L * N, H),
                 "b_h": da2.sum(0),
                 "W_hy": dz2.T @ hs[1:].reshape(L * N, H),
                 "b_y": dz2.sum(0)}
        return loss, grads


class Adam:
    """Adam (Kingma & Ba 2015) in NumPy; `step(grads)` updates the `params` dict's arrays in place.

        m = b1 m + (1 - b1) g     v = b2 v + (1 - b2) g^2
        p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
    """

    def __init__(self, params: dict, lr: float = 0.01, betas=(0.9, 0.999), eps: float = 1e-8):
        if not lr > 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        self.params, self.lr, self.betas, self.eps, self.t = params, lr, betas, eps, 0
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}

    def step(self, grads: dict):
        self.t += 1
        b1, b2 = self.betas
        for k, p in self.params.items():
            g, m, v = grads[k], self.m[k], self.v[k]
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * g * g
            p -= self.lr * (m / (1 - b1 ** self.t)) / (np.sqrt(v / (1 - b2 ** self.t)) + self.eps)


# ---------------------------------------------------------------- binary addition data


def to_bits(values, width: int):
    """Non-negative integers -> their low `width` bits, least significant first: (width, N) float64."""
    width = _size(width, "width")
    arr = np.asarray(values).reshape(-1)
    if arr.size and arr.dtype.kind in "iu" and width <= 62:  # fast path, no Python ints
        if arr.min() < 0 or arr.max() >= 1 << width:
            raise ValueError(f"values must be in [0, 2**{width}), got {arr.min()} .. {arr.max()}")
        return ((arr[None, :] >> np.arange(width)[:, None]) & 1).astype(np.float64)
    try:
        ints = [operator.index(v) for v in arr]  # Python ints of any size; floats are refused
    except TypeError:
        raise ValueError(f"values must be non-negative integers, got dtype {arr.dtype}") from None
    if any(v < 0 or v >> width for v in ints):
        raise ValueError(f"values must be in [0, 2**{width}), got {min(ints)} .. {max(ints)}")
    return np.array([[(v >> i) & 1 for v in ints] for i in range(width)], dtype=np.float64).reshape(width, -1)


def from_bits(bits) -> list[int]:
    """(width, N) bits, least significant first (> 0.5 read as 1) -> N Python ints (any width)."""
    bits = np.asarray(bits)
    if bits.ndim != 2:
        raise ValueError(f"bits must have shape (width, N), got {bits.shape}")
    on = bits > 0.5
    return [sum(1 << int(i) for i in np.flatnonzero(on[:, n])) for n in range(bits.shape[1])]


def encode_addition(a, b, bits: int):
    """Pairs of integers -> (x (bits+1, N, 2), targets (bits+1, N, 1)); see the module docstring."""
    bits = _size(bits, "bits")
    a_bits, b_bits = to_bits(a, bits), to_bits(b, bits)
    if a_bits.shape != b_bits.shape:
        raise ValueError(f"a and b must have the same length, got {a_bits.shape[1]} and {b_bits.shape[1]}")
    x = np.zeros((bits + 1, a_bits.shape[1], 2))
    x[:bits, :, 0], x[:bits, :, 1] = a_bits, b_bits
    a, b = np.asarray(a).reshape(-1), np.asarray(b).reshape(-1)
    fast = a.dtype.kind in "iu" and b.dtype.kind in "iu" and bits <= 61
    total = to_bits(a + b if fast else [int(u) + int(v) for u, v in zip(a, b)], bits + 1)
    return x, total[:, :, None]


def addition_batch(n: int, bits: int, rng):
    """n random pairs of `bits`-bit integers (uniform, any width) -> (x, targets) as `encode_addition`."""
    n, bits = _size(n, "n"), _size(bits, "bits")
    ab = rng.integers(0, 2, (bits, n, 2))
    x, targets, carry = np.zeros((bits + 1, n, 2)), np.zeros((bits + 1, n, 1)), np.zeros(n, np.int64)
    x[:bits] = ab
    for i in range(bits):  # ripple-carry adder
        total = ab[i, :, 0] + ab[i, :, 1] + carry
        targets[i, :, 0], carry = total & 1, total >> 1
    targets[bits, :, 0] = carry
    return x, targets


def exact_sums(model: NumpyElman, x, targets) -> float:
    """Fraction of the N sequences whose every output bit is right."""
    return float(np.mean(np.all(model.predict(x) == targets, axis=(0, 2))))


# ---------------------------------------------------------------- training


@dataclass
class AdditionResult:
    """What `train_addition` returns. accuracy: exact sums on the held-out `bits`-bit pairs;
    test_accuracy: exact sums on `n_test` random `test_bits`-bit pairs (None when test_bits is None)."""

    model: NumpyElman
    bits: int
    hidden: int
    seed: int
    steps: int
    seconds: float
    accuracy: float
    converged: bool
    exact_at: int | None
    test_bits: int | None
    test_accuracy: float | None
    held_out: tuple = field(repr=False)  # (a, b): the held-out pairs, as int arrays (or lists of ints)


def train_addition(bits: int = 8, hidden: int = 16, steps: int = 5000, seed: int = 0, *, batch: int = 32,
                   lr: float = 0.03, settle: int = 200, n_test: int = 1000, test_bits: int | None = 32,
                   eval_every: int = 25, log=print, log_every: int = 100) -> AdditionResult:
    """Train a `NumpyElman(2, hidden, 1)` with Adam on binary addition until every held-out sum is exact.

    Held out: `n_test` distinct pairs of `bits`-bit integers (a quarter of all pairs if that is fewer),
    which the training batches never contain (bits <= 31; wider pairs are a separate random draw).
    They serve only as the stopping test, checked every `eval_every` steps; `test_bits` then measures
    generalisation on `n_test` random pairs of wider numbers, which no stopping rule has seen.
    Once every held-out sum is exact it trains `settle` more steps (still checking), which firms up the
    learnt carry so that it holds over long numbers, and stops; or it stops after `steps` steps
    (`converged` says which; `exact_at` is the step that first reached 100%). `log(str)` gets a
    progress line every `log_every` steps and when 100% is reached; log=None is silent.
    """
    bits, hidden, steps, batch, n_test = (_size(v, a) for v, a in ((bits, "bits"), (hidden, "hidden"),
                                           (steps, "steps"), (batch, "batch"), (n_test, "n_test")))
    eval_every, log_every = _size(eval_every, "eval_every"), _size(log_every, "log_every")
    if isinstance(settle, bool) or not isinstance(settle, (int, np.integer)) or settle < 0:
        raise ValueError(f"settle must be an int >= 0, got {settle!r}")
    if test_bits is not None:
        test_bits = _size(test_bits, "test_bits")
    rng = np.random.default_rng(seed)
    model = NumpyElman(2, hidden, 1, seed=seed)
    opt = Adam(model.params, lr)

    if bits <= 31:  # pair codes a * 2**bits + b fit in int64: hold out codes, sample the rest
        space = 1 << (2 * bits)
        held = np.sort(rng.choice(space, min(n_test, max(1, space // 4)), replace=False))
        held_out = (held >> bits, held & ((1 << bits) - 1))

        def sample():
            codes = rng.integers(0, space, batch)
            while (clash := held[np.minimum(np.searchsorted(held, codes), held.size - 1)] == codes).any():
                codes[clash] = rng.integers(0, space, int(clash.sum()))
            return encode_addition(codes >> bits, codes & ((1 << bits) - 1), bits)
    else:
        x_held, _ = addition_batch(n_test, bits, rng)
        held_out = (from_bits(x_held[:bits, :, 0]), from_bits(x_held[:bits, :, 1]))

        def sample():
            return addition_batch(batch, bits, rng)

    x_test, t_test = encode_addition(*held_out, bits)
    start, accuracy, step, exact_at, losses, done = time.perf_counter(), 0.0, 0, None, [], False
    while not done:
        step += 1
        loss, grads = model.loss_and_grads(*sample())
        opt.step(grads)
        losses.append(loss)
        settled = exact_at is not None and step >= exact_at + settle
        if step % eval_every == 0 or step == steps or settled:
            accuracy = exact_sums(model, x_test, t_test)
            exact_at = (exact_at or step) if accuracy == 1.0 else None
        done = step == steps or (exact_at is not None and step >= exact_at + settle)
        if log is not None and (step % log_every == 0 or step == exact_at or done):
            log(f"step {step:5d}  loss {np.mean(losses[-log_every:]):.4f}  "
                f"held-out exact sums {accuracy:6.1%}")
    seconds = time.perf_counter() - start
    test_accuracy = None
    if test_bits is not None:
        test_accuracy = exact_sums(model, *addition_batch(n_test, test_bits, rng))
    return AdditionResult(model, bits, hidden, seed, step, seconds, accuracy, accuracy == 1.0,
                          exact_at, test_bits, test_accuracy, held_out)
