"""See and measure the vanishing (or exploding) gradient: ||dL/dh_t|| against the distance from a loss at
the last step, and the singular values of the one-step Jacobian ∂h_t/∂h_{t-1}, per model (rnnzoo.diagnose).

Prints, per model, the gradient norm at distances 1, 10, 100, ... and the farthest, and the fitted slope
of log10 ||dL/dh_t|| against distance (log10 change per step; < 0 vanishes, > 0 explodes); writes one PNG
with a column per model. Fresh models are built from --seed in float64 (so that norms far below float32's
range still show), on random N(0, 1) input; the loss is a fixed random linear readout of the last output.

Examples:
    rnnzoo diagnose                                       elman, lstm and gru side by side
    rnnzoo diagnose --model elman --recurrent-scale 0.5   small recurrent weights: a steep decay
    rnnzoo diagnose --model lstm --forget-bias 0 --model lstm --forget-bias 1 ...   (one value per run)
    rnnzoo diagnose runs/addition-gru                     a trained run's layer, on its own data
"""

from __future__ import annotations

import math

from ..checks import float_range, int_range
from ..cli import CommandError

NAME = "diagnose"
HELP = "gradient norm against distance and the recurrent Jacobian's singular values, per model (a PNG)"
DEFAULT_MODELS = ("elman", "lstm", "gru")
MAX_LENGTH = 10_000


def configure(parser):
    from .train import add_cell_options
    parser.add_argument("run_dir", metavar="RUN_DIR", nargs="?", default=None,
                        help="a run directory written by 'rnnzoo train': diagnose its trained recurrent layer")
    parser.add_argument("--model", action="append", default=None, metavar="NAME",
                        help=f"an architecture (see 'rnnzoo models'); repeat it or separate by commas for "
                             f"several (default {','.join(DEFAULT_MODELS)})")
    parser.add_argument("--hidden", type=int_range(1, 4096), default=32, help="hidden size (32)")
    parser.add_argument("--layers", type=int_range(1, 16), default=1,
                        help="stacked layers (1); the first layer's state is shown")
    parser.add_argument("--input-size", type=int_range(1, 4096), default=8, help="input features per step (8)")
    parser.add_argument("--length", type=int_range(2, MAX_LENGTH), default=None,
                        help=f"sequence length L, 2 to {MAX_LENGTH} (200; a run's own data: its length, cut to L)")
    parser.add_argument("--batch", type=int_range(1, 4096), default=16, help="sequences, averaged over (16)")
    parser.add_argument("--seed", type=int_range(0, 2 ** 32 - 1), default=0,
                        help="seed of the weights, the input and the readout (0)")
    parser.add_argument("--recurrent-scale", type=float_range(0, low_open=True), default=None, metavar="S",
                        help="multiply the recurrent weight matrices (weight_hh) by S: with the orthogonal "
                             "initialisation, the spectral radius of each recurrent block")
    parser.add_argument("--no-jacobian", action="store_true",
                        help="skip the Jacobian's singular values (the slow part: one Jacobian per step)")
    parser.add_argument("--out", default="diagnose.png", help="the PNG to write (diagnose.png)")
    add_cell_options(parser, "cell options (applied to each --model that has them, e.g. --forget-bias 1)")


def _models(args) -> list[str]:
    from .. import registry
    names = [n.strip() for given in (args.model or [",".join(DEFAULT_MODELS)]) for n in given.split(",") if n.strip()]
    if not names:
        raise CommandError("--model: give an architecture name (see 'rnnzoo models')")
    for name in names:
        try:
            entry = registry.get(name)
        except ValueError as e:
            raise CommandError(f"--model: {e}") from None
        if entry.spatial:
            raise CommandError(f"--model {name}: a convolutional cell (its steps are images); diagnose takes "
                               "vector cells")
    return list(dict.fromkeys(names))


def _cell_options(args, names) -> dict[str, dict]:
    """{model: its options}: each given cell option goes to the models that have it; one that none has
    is an error."""
    from .. import registry
    given = {k[len("cell__"):]: v for k, v in vars(args).items() if k.startswith("cell__")}
    per_model = {n: {k: v for k, v in given.items() if k in registry.get(n).options()} for n in names}
    unused = sorted(k for k in given if not any(k in o for o in per_model.values()))
    if unused:
        raise CommandError(f"{', '.join('--' + u.replace('_', '-') for u in unused)}: not an option of "
                           f"{', '.join(names)}; see 'rnnzoo models NAME'")
    return per_model


def _fresh(args):
    """{label: layer} and the input x (N, L, H_in), float64."""
    import torch

    from .. import diagnose
    names = _models(args)
    options = _cell_options(args, names)
    layers = {}
    for name in names:
        try:
            layers[name] = diagnose.build(name, args.input_size, args.hidden, num_layers=args.layers,
                                          recurrent_scale=args.recurrent_scale, seed=args.seed,
                                          dtype=torch.float64, **options[name])
        except (TypeError, ValueError) as e:
            raise CommandError(f"model {name!r}: {str(e).splitlines()[0]}") from None
    g = torch.Generator().manual_seed(args.seed)
    x = torch.randn(args.batch, args.length or 200, args.input_size, generator=g, dtype=torch.float64)
    return layers, {name: (x, None, {}) for name in names}, "random N(0, 1) input"


def _from_run(args):
    """The run's first recurrent layer and its input on one batch of the run's validation data, captured
    as the model runs it (after any embedding); random input of the layer's size where that fails."""
    import torch

    from ..diagnose import recurrent_layer
    from ..train.fit import load_run, model_name
    refused = [flag for flag, dest in (("--model", "model"), ("--recurrent-scale", "recurrent_scale"))
               if getattr(args, dest) is not None]
    refused += ["--" + k[len("cell__"):].replace("_", "-") for k in vars(args) if k.startswith("cell__")]
    refused += [f"--{k}" for k in ("hidden", "layers", "input-size") if f"--{k}" in (getattr(args, "argv", None) or [])]
    if refused:
        raise CommandError(f"{', '.join(refused)}: not with RUN_DIR (the run's trained model is diagnosed as it is)")
    task, model, config = load_run(args.run_dir)
    try:
        layer = recurrent_layer(model, f"{args.run_dir} ({model_name(config['model'])})")
    except ValueError as e:
        raise CommandError(str(e)) from None
    captured = {}

    def hook(module, inputs, kwargs):
        captured.setdefault("call", (inputs, kwargs))

    handle = layer.register_forward_pre_hook(hook, with_kwargs=True)
    try:
        batch = next(iter(task.evaluation_loader(config, None)))
        task.step(model, batch, None)
    except (NotImplementedError, ValueError, TypeError, OSError, StopIteration, KeyError):
        captured.clear()
    finally:
        handle.remove()
    label = f"{model_name(config['model'])} ({args.run_dir})"
    if "call" in captured:
        x, lengths, extra = _captured_input(captured["call"], layer, args)
        if x is not None:
            return {label: layer}, {label: (x, lengths, extra)}, f"the run's own {config['task']} data"
    g = torch.Generator().manual_seed(args.seed)
    dtype = next(layer.parameters()).dtype
    x = torch.randn(args.batch, args.length or 200, layer.input_size, generator=g, dtype=dtype)
    if not layer.batch_first:
        x = x.transpose(0, 1)
    return {label: layer}, {label: (x, None, {})}, "random N(0, 1) input of the layer's size (the run's data " \
                                                   "could not be read as one batch)"


def _captured_input(call, layer, args):
    """(x, lengths, step inputs) from the layer's captured call, cut to --batch sequences and --length
    steps; (None, ...) for a call the diagnosis cannot repeat (a state passed in, a PackedSequence)."""
    import torch
    from torch.nn.utils.rnn import PackedSequence, pad_packed_sequence
    inputs, kwargs = call
    x = inputs[0] if inputs else kwargs.get("x")
    lengths = kwargs.get("lengths", inputs[2] if len(inputs) > 2 else None)
    extra = {k: v for k, v in kwargs.items() if k not in ("x", "state", "lengths")}
    if isinstance(x, PackedSequence):
        x, lengths = pad_packed_sequence(x, batch_first=layer.batch_first)
    if not isinstance(x, torch.Tensor) or x.dim() != 3:
        return None, None, {}
    x = x.detach()
    if not layer.batch_first:  # work batch-first, then back
        x = x.transpose(0, 1)
    L = min(x.shape[1], args.length or x.shape[1])
    x = x[:args.batch, :L]
    if lengths is not None:
        lengths = torch.as_tensor(lengths)[:args.batch].clamp(max=L)
    extra = {k: (v[:args.batch, :L] if layer.batch_first else v[:L, :args.batch]).detach() for k, v in extra.items()}
    return (x if layer.batch_first else x.transpose(0, 1)), lengths, extra


def run(args):
    import torch

    from .. import diagnose
    from ..memory._checks import figure_path
    try:
        path = figure_path(args.out)
    except ValueError as e:
        raise CommandError(f"--out: {e}") from None
    with torch.random.fork_rng(devices=[]):
        layers, inputs, source = _from_run(args) if args.run_dir else _fresh(args)
        results = {}
        for label, layer in layers.items():
            x, lengths, extra = inputs[label]
            grads = diagnose.gradient_norms(layer, x, lengths=lengths, seed=args.seed, **extra)
            jac = None if args.no_jacobian else diagnose.jacobian_singular_values(layer, x, lengths=lengths, **extra)
            results[label] = (grads, jac)
    L = len(next(iter(results.values()))[0].distance)
    N = len(next(iter(results.values()))[0].samples)
    print(f"||dL/dh_t|| (mean over {N} sequences) by distance L - t from the loss at the last step; L = {L}, "
          f"{source}")
    distances = diagnose.table_distances(L)
    width = max(12, *(len(label) for label in results))
    print(f"{'distance':>10}  " + "  ".join(f"{label:>{width}}" for label in results))
    for d in distances:
        print(f"{d:>10}  " + "  ".join(f"{float(g.norm[d]):>{width}.3e}" for g, _ in results.values()))
    print(f"{'slope':>10}  " + "  ".join(f"{g.slope():>+{width}.4f}" for g, _ in results.values()))
    print("slope: least-squares fit of log10 ||dL/dh_t|| against distance (log10 per step; < 0: vanishing)")
    if not args.no_jacobian:
        print(f"{'σ_max':>10}  " + "  ".join(f"{_mean(j.mean[:, 0]):>{width}.4f}" for _, j in results.values()))
        print("σ_max: the largest singular value of ∂h_t/∂h_{t-1}, averaged over steps and sequences")
    title = f"L = {L}, N = {N}, {source}"
    written = diagnose.plot(results, path, title=title)
    print(f"wrote {written}")
    return 0


def _mean(values) -> float:
    finite = values[values.isfinite()]
    return float(finite.mean()) if len(finite) else math.nan
