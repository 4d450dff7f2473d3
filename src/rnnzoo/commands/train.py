"""Train any registered architecture on a task, with Lightning: progress bar, validation, early
stopping, gradient clipping, LR schedule, CSV and TensorBoard logs, checkpoints and --resume.

The run directory (--out) gets config.json, model.safetensors (best) and last.safetensors, metrics.csv,
tensorboard/, plots/*.png and checkpoints/last.ckpt. Cell options follow --model, e.g.
`--model lstm --peephole`, `--model gru --no-reset-after`, `--model second_order --rank 8`.

Examples:
    rnnzoo train addition --model gru
    rnnzoo train charlm --epochs 1 --out runs/alice
    rnnzoo train sentiment --data ../aclImdb_v1.tar.gz --model lstm --hidden 128
    rnnzoo train mackey-glass --model esn --units 1000   an echo state network, fitted in closed form
                                                        (no Lightning; --hidden, --epochs... do not apply)
    rnnzoo train classify --data ucr_uea/GunPoint        LSTM-FCN on the archive's TRAIN/TEST split
    rnnzoo train forecast --data Airline.csv --horizon 12 --season 12 --transform log
    rnnzoo train forecast --data Airline.csv --horizon 12 --season 12 --model esn   closed form
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from .. import registry
from ..checks import float_range, int_range
from ..cli import CommandError
from ..threads import setting as thread_setting

NAME = "train"
SEED_MAX = 2 ** 32 - 1  # Lightning's seed_everything takes no more (and draws a random seed instead)
LOG_GRADIENTS_EVERY = 50  # --log-gradients without K (rnnzoo.train.gradients)
LOG_GRADIENTS_HELP = (
    f"every K training steps ({LOG_GRADIENTS_EVERY} when given without K; 0: off, the default), log ||dL/dh_t|| of "
    "the recurrent layer on that step's batch by distance from a loss at the last step (rnnzoo.diagnose, a fixed "
    "random readout) and its fitted log10 slope: grad_norm/distance_D and grad_norm/slope in TensorBoard and "
    "metrics.csv. Cost at K=50: 2-3%% of the training time (a measurement costs about one training step of the "
    "layer: 323 ms against a 224 ms step for charlm's 2 x 256 LSTM, one thread); on addition at the defaults it is "
    "within the noise (10 epochs: 4.1 s without, 3.8 s with, medians of 3 interleaved runs)")
HELP = ("train a model on a task (addition, sentiment, charlm, translate, classify, regress, forecast, autoencode, "
        "anomaly, sst, adding, copy, first-symbol; mackey-glass: an ESN in closed form)")


def _value(text: str):
    """A cell option's value from the command line: JSON where it parses (8, 0.5, [16, 8]), else text."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text
    except RecursionError:
        raise argparse.ArgumentTypeError("JSON nested too deeply") from None


def add_cell_options(parser, title: str) -> None:
    """A group of flags, one per option of any registered cell (dest cell__NAME; a bool is a --x/--no-x switch,
    anything else a JSON value), absent from the namespace unless given."""
    cells = parser.add_argument_group(title)
    for name, default in cell_option_names().items():
        flag = "--" + name.replace("_", "-")
        if isinstance(default, bool):
            cells.add_argument(flag, dest=f"cell__{name}", action=argparse.BooleanOptionalAction,
                               default=argparse.SUPPRESS)
        else:
            cells.add_argument(flag, dest=f"cell__{name}", type=_value, default=argparse.SUPPRESS,
                               metavar="VALUE")


def cell_option_names() -> dict[str, object]:
    """Every option of every registered cell, with a default that shows its kind."""
    options: dict[str, object] = {}
    for entry in registry.entries():
        for name, default in entry.options().items():
            options.setdefault(name, default)
    return options


def add_common(parser, task):
    d = task.defaults
    g = parser.add_argument_group("model")
    g.add_argument("--model", default=d["model"], help=f"architecture ({d['model']}); see 'rnnzoo models'")
    g.add_argument("--hidden", type=int_range(1), default=d["hidden"], help=f"hidden size ({d['hidden']})")
    g.add_argument("--layers", type=int_range(1), default=d["layers"], help=f"stacked layers ({d['layers']})")
    g.add_argument("--bidirectional", action=argparse.BooleanOptionalAction, default=d.get("bidirectional", False),
                   help=f"add a backward direction per layer{' (the default here)' if d.get('bidirectional') else ''}")
    g.add_argument("--merge", choices=["concat", "sum", "mul", "ave"], default="concat",
                   help="how bidirectional outputs combine (concat)")
    fraction = float_range(0, 1, high_open=True)  # a dropout of 1 would train on zeros
    g.add_argument("--dropout", type=fraction, default=d["dropout"], help=f"dropout between layers ({d['dropout']})")
    g.add_argument("--recurrent-dropout", type=fraction, default=d["recurrent_dropout"],
                   help=f"variational dropout on the recurrent input ({d['recurrent_dropout']})")
    g.add_argument("--io-dropout", type=fraction, default=d["io_dropout"],
                   help=f"dropout on the model's input (after any embedding) and before its output layer "
                        f"({d['io_dropout']})")
    add_cell_options(parser, "cell options (those of --model; see 'rnnzoo models NAME')")
    t = parser.add_argument_group("training")
    t.add_argument("--epochs", type=int_range(1), default=d["epochs"], help=f"epochs ({d['epochs']})")
    t.add_argument("--batch-size", type=int_range(1), default=d["batch_size"],
                   help=f"sequences per batch ({d['batch_size']})")
    t.add_argument("--lr", type=float_range(0, low_open=True), default=d["lr"], help=f"Adam learning rate ({d['lr']})")
    t.add_argument("--weight-decay", type=float_range(0), default=d.get("weight_decay", 0.0),
                   help=f"L2 penalty on the weights, Adam's weight_decay ({d.get('weight_decay', 0.0)})")
    t.add_argument("--lr-schedule", choices=["plateau", "cosine", "none"], default=d["lr_schedule"],
                   help="plateau (halve the LR when validation stalls), cosine (from --lr to 0 over --epochs, "
                        f"stepped each epoch), or none; default {d['lr_schedule']}")
    t.add_argument("--clip", type=float_range(0), default=d["clip"],
                   help=f"clip the gradient norm to this; 0 turns it off ({d['clip']})")
    t.add_argument("--log-gradients", type=int_range(0), nargs="?", const=LOG_GRADIENTS_EVERY, default=0, metavar="K",
                   help=LOG_GRADIENTS_HELP)
    t.add_argument("--patience", type=int_range(1), default=d["patience"],
                   help="early stopping: epochs without improvement")
    t.add_argument("--max-time", type=int_range(0), default=0, help="stop after N seconds (0: no limit)")
    t.add_argument("--seed", type=int_range(0, SEED_MAX), default=0, help="random seed (0)")
    t.add_argument("--threads", type=thread_setting, default="auto",
                   help="torch threads per process: auto (default: from the model's size, timed against one "
                        "thread while training; see rnnzoo.threads), a number, or 0 for torch's default")
    t.add_argument("--devices", type=int_range(1), default=1, help="processes (with --strategy ddp)")
    t.add_argument("--strategy", choices=["auto", "ddp", "ddp_spawn", "ddp_fork"], default="auto",
                   help="Lightning strategy for --devices > 1 (auto)")
    io = parser.add_argument_group("data and output")
    io.add_argument("--data", default=None, help=task.data_help)
    io.add_argument("--out", default=None, help="run directory (default runs/TASK-MODEL)")
    io.add_argument("--config", default=None,
                    help="JSON file of option values (names as the flags, with _); flags override it")
    io.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")


# what a closed-form task (fitted in one go, no backpropagation) still takes of the common options
CLOSED_FORM_OPTIONS = ("help", "model", "seed", "threads", "data", "out", "config")


def hide_backprop_options(parser, task) -> None:
    """For a closed-form task: every common option but CLOSED_FORM_OPTIONS leaves the help and gets no
    default, so `run` sees exactly those given (on the command line or in --config) and refuses them."""
    parser.backprop_options = {}
    for action in parser._actions:
        if action.dest == "model":
            action.help = f"model: {', '.join(task.models)} (fitted in closed form; default {action.default})"
        elif action.dest not in CLOSED_FORM_OPTIONS:
            action.default, action.help = argparse.SUPPRESS, argparse.SUPPRESS
            parser.backprop_options[action.dest] = action.option_strings[0]


def configure(parser):
    from ..train.tasks import TASKS, ClosedFormTask
    sub = parser.add_subparsers(title="tasks", metavar="TASK", dest="task")
    for task in TASKS.values():
        p = sub.add_parser(task.name, help=task.description, description=task.description)
        add_common(p, task)
        p.common_options = {a.dest: a.option_strings[0] for a in p._actions if a.option_strings and a.dest != "help"}
        if isinstance(task, ClosedFormTask):
            hide_backprop_options(p, task)
        elif task.structured_models:
            model = next(a for a in p._actions if a.dest == "model")
            model.help = (f"{', '.join(task.structured_models)} (the task's own; default {model.default}), or a "
                          "registered cell (see 'rnnzoo models')")
        task.add_arguments(p.add_argument_group(f"{task.name} options"))
        p.set_defaults(run=run, parser=p)


_UNSET = object()


def given_options(args) -> set[str]:
    """The options (dests) typed on the command line after `train TASK`, whatever their values: parsed
    again into a namespace where every option is pre-set to a marker, which argparse leaves alone
    unless the option is given (it only fills in defaults that are missing)."""
    argv = list(getattr(args, "argv", None) or [])
    if args.task not in argv:
        return set()
    dests = [a.dest for a in args.parser._actions if a.dest != "help"]
    marked = argparse.Namespace(**dict.fromkeys(dests, _UNSET))
    args.parser.parse_known_args(argv[argv.index(args.task) + 1:], namespace=marked)
    return {dest for dest in dests if getattr(marked, dest) is not _UNSET}


def config_value(action, key: str, value, where: str):
    """A --config value through the checks its flag gets: a switch takes JSON true/false only (never the
    string "false", which is truthy); a number option a JSON number, run through the flag's `type=`
    (its range); any other option a string (or null where its default is None), through `type=` and
    `choices`. Cell options other than switches go to the cell as they are, which checks them."""
    def refuse(what):
        raise CommandError(f"--config {where}: {key!r}: {what}")
    shown = json.dumps(value)
    if action.nargs == 0:  # store_true, --x/--no-x
        if not isinstance(value, bool):
            refuse(f"must be true or false (JSON booleans), got {shown}")
        return value
    if action.type is _value:
        return value
    if value is None and action.default is None:
        return None
    kind = getattr(action.type, "__name__", "")
    if kind in ("int", "float", "integer", "number"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            refuse(f"must be {'an integer' if kind in ('int', 'integer') else 'a number'} (JSON), got {shown}")
        text = shown  # as it would be typed: 0.001, 1e-05, NaN (which the range check refuses)
    elif kind == "threads" and isinstance(value, int) and not isinstance(value, bool):
        text = shown  # --threads: "auto" or a number
    elif not isinstance(value, str):
        refuse(f"must be a string, got {shown}")
    else:
        text = value
    try:
        converted = action.type(text) if action.type else text
    except (argparse.ArgumentTypeError, TypeError, ValueError) as e:
        refuse(str(e))
    if action.choices is not None and converted not in action.choices:
        refuse(f"must be one of {', '.join(map(repr, action.choices))}, got {shown}")
    return converted


def apply_config_file(args):
    """Values from --config for every option not given on the command line, each checked as its flag
    is (`config_value`); `args.given` is the set of options given either way (the rest are defaults),
    which --resume reads."""
    args.given = given_options(args)
    if not args.config:
        return args
    path = Path(args.config)
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CommandError(f"--config {path} does not exist") from None
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:  # RecursionError: nested too deep
        raise CommandError(f"--config {path} is not valid JSON: {e}") from None
    if not isinstance(values, dict):
        raise CommandError(f"--config {path} must hold a JSON object of option values")
    defaults = vars(args.parser.parse_args([]))
    actions = {action.dest: action for action in args.parser._actions}
    for key, value in values.items():
        key = key.replace("-", "_")
        dest = f"cell__{key}" if key in cell_option_names() else key
        if dest in getattr(args.parser, "backprop_options", {}):  # a closed-form task: run refuses it
            setattr(args, dest, getattr(args, dest, value))
        elif dest == key and (key not in defaults or key in ("config", "parser", "run")):
            raise CommandError(f"--config {path}: unknown option {key!r}")
        else:
            value = config_value(actions[dest], key, value, str(path))  # checked even where a flag overrides it
            if dest not in args.given:
                setattr(args, dest, value)
        args.given.add(dest)
    return args


def check_closed_form(args, task) -> None:
    """--model among the task's own models; no backpropagation option (--hidden, --epochs, cell options)."""
    given = [flag for dest, flag in args.parser.backprop_options.items() if dest in vars(args)]
    given += ["--" + k[len("cell__"):].replace("_", "-") for k in vars(args) if k.startswith("cell__")]
    given = list(dict.fromkeys(given))
    if given:
        raise CommandError(f"{', '.join(given)}: {'not an option' if len(given) == 1 else 'not options'} of task "
                           f"{task.name!r}, which fits {'/'.join(task.models)} in closed form (no backpropagation); "
                           f"see 'rnnzoo train {task.name} --help' for its options")
    if args.model not in task.models:
        raise CommandError(f"--model: task {task.name!r} fits {', '.join(task.models)} in closed form, "
                           f"got {args.model!r}")


def check_cell_options(entry, hidden: int, options: dict) -> None:
    """The cell's own checks of its options (types, ranges), on a throwaway cell, before any data is
    read; the random stream is left as it was."""
    import torch
    try:
        with torch.random.fork_rng(devices=[]):
            entry.cell(1, hidden, **options)
    except (TypeError, ValueError) as e:
        raise CommandError(f"model {entry.name!r}: {str(e).splitlines()[0]}") from None


def _number(value: float) -> str:
    return f"{value:.4f}" if value == 0 or abs(value) >= 1e-3 else f"{value:.3e}"


def run(args):
    from ..train.tasks import TASKS, ClosedFormTask
    if args.task is None:
        raise CommandError(f"train needs a task: 'rnnzoo train TASK', TASK one of {', '.join(TASKS)} "
                           "(see 'rnnzoo tasks', 'rnnzoo train TASK --help')")
    args = apply_config_file(args)
    task = TASKS[args.task]
    if isinstance(task, ClosedFormTask):
        return run_closed_form(args, task)
    check_model_options(args, task)
    if args.model in task.closed_form_models:
        return run_closed_form(args, task, checked=True)
    if args.model in task.structured_models:
        return run_structured(args, task)
    try:
        entry = registry.get(args.model)
    except ValueError as e:
        raise CommandError(f"--model: {e}") from None
    given = {k[len("cell__"):]: v for k, v in vars(args).items() if k.startswith("cell__")}
    unknown = sorted(set(given) - set(entry.options()))
    if unknown:
        raise CommandError(f"model {args.model!r} has no option(s) {', '.join('--' + u for u in unknown)}; "
                           f"its options: {', '.join(entry.options()) or 'none'}")
    if entry.spatial:
        raise CommandError(f"model {args.model!r} reads images (N, L, C, H, W); task {args.task!r} "
                           "gives vectors per step")
    check_cell_options(entry, args.hidden, given)
    args.cell_options = given
    return _train(args)


def run_structured(args, task):
    """A model of the task's own that is not a registered cell (sst's tree networks): the recurrent-layer
    options it has no use for, and every cell option, are refused by name rather than ignored."""
    flags = {a.dest: a.option_strings[0] for a in args.parser._actions if a.option_strings}
    given = [flags[d] for d in task.structured_refuses if d in args.given]
    given += ["--" + k[len("cell__"):].replace("_", "-") for k in vars(args) if k.startswith("cell__")]
    if given:
        raise CommandError(f"{', '.join(dict.fromkeys(given))}: not for --model {args.model} (a model of task "
                           f"{task.name!r}, not a recurrent layer)")
    args.cell_options = {}
    return _train(args)


def _train(args):
    from ..train import fit as training
    _prepare(args)
    try:
        config = training.fit(args)
    except (ValueError, TypeError, OSError) as e:
        raise CommandError(str(e).splitlines()[0]) from None
    if config:
        best = ", ".join(f"{k} {v:.4f}" for k, v in config["best"].items() if v is not None)
        print(f"\nrun directory: {args.out}  (best {best}; {config['steps']} steps, {config['seconds']} s)")
        print(f"plots: {', '.join(config['plots'])}")
        if config.get("summary"):
            print(config["summary"])
    return 0


def _prepare(args):
    """glibc's malloc keeping freed memory (rnnzoo._malloc), the default run directory. (--threads is
    applied by training.fit, per process, once the model's size is known.)"""
    from .._malloc import retain_freed_memory
    retain_freed_memory()
    args.out = args.out or os.path.join("runs", f"{args.task}-{args.model}")


def check_model_options(args, task) -> None:
    """A task that trains cells and also fits some models in closed form (--model esn): the options of the
    one kind of model refused with the other, by name, rather than ignored."""
    flags = {a.dest: a.option_strings[0] for a in args.parser._actions if a.option_strings}
    if args.model in task.closed_form_models:
        backprop = [d for d in args.parser.common_options if d not in CLOSED_FORM_OPTIONS] + list(task.backprop_options)
        given = [flags[d] for d in backprop if d in args.given]
        given += ["--" + k[len("cell__"):].replace("_", "-") for k in vars(args) if k.startswith("cell__")]
        if given:
            raise CommandError(f"{', '.join(dict.fromkeys(given))}: not for --model {args.model}, which is fitted in "
                               f"closed form (no backpropagation)")
    else:
        given = [flags[d] for d in task.closed_form_options if d in args.given]
        if given:
            raise CommandError(f"{', '.join(given)}: only for --model {'/'.join(task.closed_form_models)}, "
                               f"got --model {args.model}")


def run_closed_form(args, task, checked=False):
    from ..train import fit as training
    if not checked:
        check_closed_form(args, task)
    _prepare(args)
    try:
        config = training.fit(args)
    except (ValueError, TypeError, OSError) as e:
        raise CommandError(str(e).splitlines()[0]) from None
    figures = ", ".join(f"{k} {_number(v)}" for k, v in config["best"].items() if v is not None)
    print(f"\nrun directory: {args.out}  ({figures}; fitted in closed form on {config['steps']} steps, "
          f"{config['seconds']} s)")
    print(f"plots: {', '.join(config['plots'])}")
    if config.get("summary"):
        print(config["summary"])
    return 0
