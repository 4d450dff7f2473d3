r"""The gradient problem, seen and measured: how dLoss/dh_t shrinks (or grows) with the distance from the loss.

Backpropagation through time carries the gradient one step back by the transposed Jacobian of one step,

    dL/dh_{t-1} = dL/dh_t · ∂h_t/∂h_{t-1}        so  dL/dh_t = dL/dh_L · J_L J_{L-1} ... J_{t+1},

with J_t = ∂h_t/∂h_{t-1} the recurrent Jacobian of one step (for an Elman cell diag(1 - h_t²) W_hh).
When the singular values of the J_t stay below 1 the product shrinks geometrically with the distance
L - t and the early steps get no learning signal; above 1 it explodes (Bengio, Simard & Frasconi 1994,
Learning long-term dependencies with gradient descent is difficult; Pascanu, Mikolov & Bengio 2013, On
the difficulty of training recurrent neural networks). The LSTM's cell path has J ≈ diag(f), so a forget
gate near 1 (forget bias 1) lets the gradient travel further.

This module measures both for any registered vector cell, on the per-step loop that `Recurrent` runs
(`cell.project` once, then `cell.step` per step, padded steps masked as the driver masks them; no
dropout: the measurement is deterministic, as in eval mode):

    gradient_norms(layer, x)            ||dL/dh_t|| by distance L - t, and per state element
    jacobian_singular_values(layer, x)  singular values of ∂h_t/∂h_{t-1} along the sequence
    decay_slope(distance, norm)         least-squares slope of log10 ||dL/dh_t|| against distance
    plot(results, path)                 one column per model: norms (top), Jacobian spectrum (bottom)

"The state" h_t is every state element the step differentiates, concatenated per sample ((h, c) for the
LSTM). Elements that are not floating point, or that the step computes without autograd (the clockwork
cell's step counter t, a detached float), are held fixed and left out (`GradientNorms.skipped`).

Shapes: N batch, L length, H_in input features, k = total size of the differentiable state
    x              (L, N, H_in), (N, L, H_in) with the layer's batch_first, or (L, H_in) unbatched
    lengths        (N,) ints in [1, L], or None
    GradientNorms  distance (L,) = 0..L-1; norm (L,); elements {name: (L,)}; samples (N, L);
                   layers (num_layers, L)
    Jacobian       values (L, N, k), largest first (NaN at padded steps); mean (L, k)

Example:
    >>> import torch, rnnzoo
    >>> from rnnzoo import diagnose
    >>> rnn = diagnose.build("elman", 3, 16, recurrent_scale=0.5, seed=0)
    >>> x = torch.randn(4, 30, 3, generator=torch.Generator().manual_seed(0))
    >>> g = diagnose.gradient_norms(rnn, x)
    >>> g.norm.shape, bool(g.slope() < 0)
    (torch.Size([30]), True)
    >>> diagnose.jacobian_singular_values(rnn, x).mean.shape
    torch.Size([30, 16])
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from .checks import check_input, check_lengths, check_step_inputs
from .driver import Recurrent

RECURRENT_WEIGHTS = ("weight_hh", "weight_hy")  # the matrices --recurrent-scale multiplies (jordan: weight_hy)


def recurrent_layer(model, what: str) -> Recurrent:
    """The first rnnzoo.Recurrent in `model` (a module) with vector steps; a ValueError starting with `what`
    (the option or run it is for) where there is none or its cell reads images."""
    layer = next((m for m in model.modules() if isinstance(m, Recurrent)), None)
    if layer is None:
        raise ValueError(f"{what}: the model ({type(model).__name__}) has no recurrent layer (rnnzoo.Recurrent) "
                         "to measure")
    if layer.cells[0].input_dims != 1:
        raise ValueError(f"{what}: the model's recurrent layer runs {layer.cell_name!r}, a convolutional cell "
                         "(its steps are images); only vector cells are measured")
    return layer


@dataclass
class GradientNorms:
    """||dL/dh_t||_2 per sample, averaged over the batch (an arithmetic mean of per-sample Euclidean norms),
    by distance L - t from the loss, t = 1..L (distance 0: the final state). With lengths, a sample's
    distances count back from its own last step, and each distance averages the samples that reach it.

    norm, elements, samples: the first layer's forward cell (the one that reads x); layers: each
    layer's forward cell, full state (its gradient runs through the layers above it too)."""

    distance: torch.Tensor
    norm: torch.Tensor
    elements: dict[str, torch.Tensor]
    samples: torch.Tensor
    layers: torch.Tensor
    skipped: tuple[str, ...] = ()

    def slope(self) -> float:
        """decay_slope of `norm`: log10 change per step (< 0: vanishing, > 0: exploding)."""
        return decay_slope(self.distance, self.norm)


@dataclass
class Jacobian:
    """Singular values of the one-step recurrent Jacobian ∂h_t/∂h_{t-1} of the first layer's forward
    cell, evaluated on the trajectory that x drives; t = 1..L along dim 0."""

    values: torch.Tensor
    names: tuple[str, ...] = field(default=())

    @property
    def mean(self) -> torch.Tensor:
        """(L, k): the mean over the batch (padded steps left out)."""
        return self.values.nanmean(1)


def decay_slope(distance, norm) -> float:
    """The least-squares slope b of log10(norm) = a + b * distance over the distances with a finite
    positive norm: log10 of the gradient's factor per step (-0.3: halves every step). NaN with fewer than
    two such points."""
    d = torch.as_tensor(distance, dtype=torch.float64).flatten()
    n = torch.as_tensor(norm, dtype=torch.float64).flatten()
    keep = torch.isfinite(n) & (n > 0)
    d, y = d[keep], torch.log10(n[keep])
    if len(d) < 2 or float(d.var()) == 0:
        return math.nan
    dc = d - d.mean()
    return float((dc * (y - y.mean())).sum() / (dc * dc).sum())


def build(cell: str, input_size: int, hidden_size: int, *, num_layers: int = 1, recurrent_scale=None,
          seed: int = 0, dtype=torch.float32, **options) -> Recurrent:
    """A batch_first `Recurrent` of `cell` initialised from `seed` (the global RNG is left as it was),
    its recurrent matrices (RECURRENT_WEIGHTS) times `recurrent_scale` where given: with the orthogonal
    initialisation of elman, lstm and gru that is the spectral radius of each recurrent block."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        layer = Recurrent(cell, input_size, hidden_size, num_layers=num_layers, batch_first=True, **options)
    layer = layer.to(dtype)
    if recurrent_scale is not None:
        scaled = [p for name, p in layer.named_parameters() if name.split(".")[-1] in RECURRENT_WEIGHTS
                  or name.split(".")[-2:-1] == ["weight_hh"]]  # rmlp: weight_hh.0, weight_hh.1
        if not scaled:
            raise ValueError(f"recurrent_scale: cell {layer.cell_name!r} has no recurrent weight matrix "
                             f"({' or '.join(RECURRENT_WEIGHTS)}) to scale")
        with torch.no_grad():
            for p in scaled:
                p.mul_(recurrent_scale)
    return layer


def default_loss(features: int, batch: int, dtype=torch.float32, device=None, seed: int = 0):
    """The default loss on the last step's output y (N, F): 0.5 Σ_n ||W y_n - z_n||², with W (F, F) ~
    N(0, 1/F) and z (N, F) ~ N(0, 1) fixed by `seed` (drawn in float64 from their own generator). A sum
    over the batch, so each sample's gradient does not depend on N. `loss.weight`, `loss.target` hold W, z."""
    g = torch.Generator().manual_seed(seed)
    weight = (torch.randn(features, features, generator=g, dtype=torch.float64) / math.sqrt(features))
    target = torch.randn(batch, features, generator=g, dtype=torch.float64)
    weight, target = weight.to(dtype=dtype, device=device), target.to(dtype=dtype, device=device)

    def loss(y):
        return 0.5 * ((y @ weight.T - target) ** 2).sum()

    loss.weight, loss.target = weight, target
    return loss


def _layer(layer):
    if isinstance(layer, str):
        raise TypeError(f"layer must be a rnnzoo.Recurrent; build one from a name with "
                        f"rnnzoo.diagnose.build({layer!r}, input_size, hidden_size)")
    if not isinstance(layer, Recurrent):
        raise TypeError(f"layer must be a rnnzoo.Recurrent, got {type(layer).__name__}")
    if layer.cells[0].input_dims != 1:
        raise ValueError(f"cell {layer.cell_name!r} reads images per step; the diagnosis takes vector cells only")
    return layer


def _trajectory(layer, x, lengths, step_inputs):
    """Run the layer as the driver's per-step loop does; returns (output at each sample's last real step
    (N, F), per forward cell of each layer: [states h_1..h_L as tuples], that cell's step inputs,
    its initial state, the differentiable element indices, lengths)."""
    from .driver import _reverse
    x, unbatched = check_input(x, layer.cells[0], layer.batch_first)
    L, N = x.shape[:2]
    lengths = check_lengths(lengths, N, L, x.device)
    step_inputs = check_step_inputs(step_inputs, x, layer.batch_first, unbatched)
    full = L if lengths is None else int(lengths.min())
    valid = None if lengths is None else torch.arange(L, device=x.device)[:, None] < lengths[None, :]
    D, runs = layer.num_directions, []
    for index in range(layer.num_layers):
        outputs = []
        for d in range(D):
            cell = layer.cells[index * D + d]
            xin, extra = (x, step_inputs) if d == 0 else (
                _reverse(x, lengths), {k: _reverse(v, lengths) for k, v in step_inputs.items()})
            xs = cell.project(xin, **extra)
            xs = list(zip(*(v.unbind(0) for v in xs))) if isinstance(xs, tuple) else xs.unbind(0)
            init = tuple(s.requires_grad_() if s.is_floating_point() else s for s in cell.init_state(xin))
            state, states, ys, diff = init, [], [], None
            for t in range(L):
                y, new = cell.step(xs[t], state, None)
                if diff is None:  # the elements the step differentiates (not clockwork's counter t)
                    diff = tuple(j for j, e in enumerate(new) if e.is_floating_point() and e.requires_grad)
                if any(new[j] is s for j in diff for s in state):
                    # an element handed on unchanged gets a tensor of its own (a view), so that each
                    # step's state has its own gradient
                    own = {j: new[j].view_as(new[j]) for j in diff}
                    y = next((own[j] for j in diff if y is new[j]), y)
                    new = tuple(own.get(j, e) for j, e in enumerate(new))
                # h_t is the step's own output: at a sample's real steps the masked state below equals it,
                # and the loss reads the output y, which the step may return as the same tensor
                states.append(new)
                if t >= full:
                    m = valid[t].view(-1, *([1] * (y.dim() - 1)))
                    new = tuple(torch.where(m.view(-1, *([1] * (n.dim() - 1))), n, s) for n, s in zip(new, state))
                    y = torch.where(m, y, torch.zeros((), dtype=y.dtype, device=y.device))
                state = new
                ys.append(y)
            y = torch.stack(ys)
            outputs.append(y if d == 0 else _reverse(y, lengths))
            if d == 0:
                runs.append((cell, states, xs, init, diff))
        x = layer._merge(outputs)
    last = x[-1] if lengths is None else x[lengths - 1, torch.arange(N, device=x.device)]
    return last, runs, lengths, L, N


def _flat(parts, N):
    return torch.cat([p.reshape(N, -1) for p in parts], dim=1)


def gradient_norms(layer, x, loss_fn=None, lengths=None, seed: int = 0, **step_inputs) -> GradientNorms:
    """||dL/dh_t|| against the distance L - t from a loss at the last step (see GradientNorms).

    layer: a rnnzoo.Recurrent of a vector cell (any registered one; `build` makes one from a name).
    x: its input, laid out as the layer takes it (batch_first or not); lengths: (N,) real steps, or None.
    loss_fn: a callable of the output at each sequence's last real step, (N, F) -> scalar; by default
        `default_loss(F, N, seed=seed)`, a fixed random linear readout against a random target.
    step_inputs: per-step inputs of the cell (ctrnn's dt), as the layer takes them.
    Parameter gradients (.grad) are not touched: the gradients are taken with torch.autograd.grad.
    """
    layer = _layer(layer)
    with torch.enable_grad():
        last, runs, lengths, L, N = _trajectory(layer, x, lengths, step_inputs)
        loss_fn = loss_fn or default_loss(last.shape[1], N, last.dtype, last.device, seed)
        loss = loss_fn(last)
        wanted = [s[j] for _, states, _, _, diff in runs for s in states for j in diff]
        grads = torch.autograd.grad(loss, wanted, allow_unused=True)
    grads = iter([torch.zeros_like(w) if g is None else g.detach() for w, g in zip(wanted, grads)])
    ends = torch.full((N,), L, device=last.device) if lengths is None else lengths
    steps = torch.arange(1, L + 1, device=last.device)
    # step t of sample n sits at distance ends[n] - t; steps after a sample's end (negative) are dropped
    distance_of = ends[:, None] - steps[None, :]  # (N, L)

    def by_distance(per_step):  # (L, N) norms at t = 1..L -> (N, L) by distance, NaN where none
        out = torch.full((N, L), math.nan, dtype=torch.float64, device=per_step.device)
        keep = distance_of >= 0
        n_index = torch.arange(N, device=per_step.device)[:, None].expand(N, L)
        out[n_index[keep], distance_of[keep]] = per_step.T.double()[keep]
        return out

    layer_norms, first = [], None
    for r, (cell, states, _, _, diff) in enumerate(runs):
        g = [[next(grads) for _ in diff] for _ in states]  # [t][element] (N, ...)
        full_state = by_distance(torch.stack([_flat(parts, N).norm(dim=1) for parts in g]))
        layer_norms.append(full_state.nanmean(0))
        if r == 0:
            names = [cell.state_names[j] for j in diff]
            elements = {name: by_distance(torch.stack([parts[i].reshape(N, -1).norm(dim=1) for parts in g]))
                        .nanmean(0) for i, name in enumerate(names)}
            skipped = tuple(n for j, n in enumerate(cell.state_names) if j not in diff)
            first = full_state
    return GradientNorms(distance=torch.arange(L), norm=layer_norms[0], elements=elements, samples=first,
                         layers=torch.stack(layer_norms), skipped=skipped)


def _step_jacobian(cell, xp, state, diff):
    """(N, k, k): ∂ state_t / ∂ state_{t-1} per sample, k the differentiable elements' total size. The
    step is per sample, so the Jacobian of the batch-summed outputs with respect to the batched inputs
    holds every sample's Jacobian and nothing across samples."""
    N = state[0].shape[0]
    inputs = tuple(state[j].detach() for j in diff)

    def f(*parts):
        full = list(state)
        for j, p in zip(diff, parts):
            full[j] = p
        new = cell.step(xp, tuple(full), None)[1]
        return tuple(new[j].sum(0) for j in diff)

    try:
        jac = torch.autograd.functional.jacobian(f, inputs, vectorize=True)
    except RuntimeError:  # an operation vmap cannot batch: one backward pass per output instead
        jac = torch.autograd.functional.jacobian(f, inputs)
    rows = [torch.cat([jac[i][j].reshape(-1, N, inputs[j][0].numel()).permute(1, 0, 2)
                       for j in range(len(diff))], dim=2) for i in range(len(diff))]
    return torch.cat(rows, dim=1)


def jacobian_singular_values(layer, x, lengths=None, **step_inputs) -> Jacobian:
    """Singular values of the one-step Jacobian ∂h_t/∂h_{t-1} of the first layer's forward cell along the
    trajectory x drives (torch.autograd.functional.jacobian of `cell.step`, per sample; see Jacobian).
    Steps after a sample's length are NaN (there the driver carries the state: J = I)."""
    layer = _layer(layer)
    with torch.enable_grad():
        _, runs, lengths, L, N = _trajectory(layer, x, lengths, step_inputs)
        cell, states, xs, init, diff = runs[0]
        previous = [init] + states[:-1]
        values = []
        for t in range(L):
            xp = tuple(v.detach() for v in xs[t]) if isinstance(xs[t], tuple) else xs[t].detach()
            values.append(torch.linalg.svdvals(_step_jacobian(cell, xp, previous[t], diff)))
    values = torch.stack(values).double()  # (L, N, k)
    if lengths is not None:
        padded = torch.arange(L, device=values.device)[:, None] >= lengths[None, :]
        values[padded] = math.nan
    return Jacobian(values=values, names=tuple(cell.state_names[j] for j in diff))


def table_distances(L: int) -> list[int]:
    """The distances a summary shows: 1, 10, 100, ... below L, and the farthest, L - 1."""
    out, d = [], 1
    while d < L:
        out.append(d)
        d *= 10
    return out + ([L - 1] if L - 1 not in out and L > 1 else [])


def plot(results: dict, path, title: str = "") -> str:
    """One PNG, one column per model: top, ||dL/dh_t|| (log scale) against the distance with the fitted
    slope; bottom, the Jacobian's largest and smallest singular values (batch means) and the band between
    against t. results: {label: (GradientNorms, Jacobian or None)}. Returns the file written."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .memory._checks import figure_path
    path = figure_path(path)
    fig, axes = plt.subplots(2, len(results), figsize=(4 * len(results), 6.5), squeeze=False)
    for col, (label, (grads, jac)) in enumerate(results.items()):
        top, bottom = axes[0, col], axes[1, col]
        d, n = grads.distance.numpy(), grads.norm.numpy()
        top.semilogy(d, n, label="full state")
        if len(grads.elements) > 1:
            for name, values in grads.elements.items():
                top.semilogy(d, values.numpy(), lw=0.8, alpha=0.7, label=name)
        slope = grads.slope()
        if math.isfinite(slope):
            keep = (grads.norm > 0) & torch.isfinite(grads.norm)
            a = float(torch.log10(grads.norm[keep]).mean() - slope * grads.distance[keep].double().mean())
            top.semilogy(d, 10 ** (a + slope * d), "k--", lw=0.8, label=f"fit: {slope:+.3f}/step")
        top.set(title=f"{label}: slope {slope:+.3f} log10/step", xlabel="distance from the loss L - t",
                ylabel="||dL/dh_t||")
        top.legend(fontsize=7)
        if jac is not None:
            mean, t = jac.mean.numpy(), range(1, jac.values.shape[0] + 1)
            bottom.fill_between(t, mean[:, -1], mean[:, 0], alpha=0.2)
            bottom.semilogy(t, mean[:, 0], label="largest")
            bottom.semilogy(t, mean[:, -1], label="smallest")
            bottom.axhline(1.0, color="gray", ls=":", lw=0.8)
            bottom.set(xlabel="step t", ylabel="singular values of ∂h_t/∂h_{t-1}")
            bottom.legend(fontsize=7)
        else:
            bottom.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
