"""`mackey-glass`: an echo state network learns the chaotic Mackey-Glass series (MG17) and runs free.

No backpropagation: the reservoir is fixed and random, and the linear readout is fitted in closed form
(ridge regression in float64) on teacher-forced states, with the protocol of Jaeger & Haas (Science
2004; `rnnzoo.reservoir.jaeger`): 1000 units, spectral radius 0.8, output feedback, 3000 teacher
steps of which the first 1000 are washed out, then a free (closed-loop) run of 84 steps. The figure
is the error at the horizon, |y(train + 84) - d(train + 84)| / std(d): Jaeger's NRMSE84 for one run
(their average over runs is 10^-4.2).

The run directory holds the ESN (model.safetensors: every matrix, the readout included), config.json
(the ESN's constructor arguments and the series' parameters and seed, so `rnnzoo evaluate`
regenerates the teacher and recomputes the free run from the saved files alone), metrics.csv and
plots/free_run.png.
"""

from __future__ import annotations

import csv
import inspect
import io
import math

import torch

from ...reservoir import jaeger
from .. import run as rundir
from .base import ClosedFormTask


class MackeyGlass(ClosedFormTask):
    name = "mackey-glass"
    description = "echo state network on the Mackey-Glass series, fitted in closed form; free run"
    data_help = "generated (Mackey-Glass, tau 17, squashed by tanh); no --data"
    monitor, mode = "horizon_nrmse", "min"
    models = ("esn",)
    defaults = dict(ClosedFormTask.defaults, model="esn")
    data_types = {"mackey_glass": dict, "seed": int, "train_steps": int, "washout": int, "horizon": int}
    PLOT_STEPS = 500  # the free-run plot runs on past the horizon to show where the prediction parts

    def add_arguments(self, parser):
        from ...checks import int_range
        D = jaeger.DEFAULTS
        parser.add_argument("--units", type=int_range(1, 20000), default=D["units"],
                            help=f"reservoir units ({D['units']})")
        parser.add_argument("--spectral-radius", type=float, default=D["spectral_radius"],
                            help=f"spectral radius of the reservoir matrix ({D['spectral_radius']})")
        parser.add_argument("--leak", type=float, default=D["leak"],
                            help=f"leak rate in (0, 1]; 1 is no leak ({D['leak']})")
        parser.add_argument("--density", type=float, default=D["density"],
                            help=f"fraction of nonzero reservoir weights ({D['density']})")
        parser.add_argument("--bias-scaling", type=float, default=D["bias"],
                            help=f"bias weights U[-s, s] (the input: a constant) ({D['bias']})")
        parser.add_argument("--feedback-scaling", type=float, default=D["feedback"],
                            help=f"output feedback weights U[-s, s] ({D['feedback']})")
        parser.add_argument("--state-noise", type=float, default=D["noise"],
                            help=f"state noise U[-s, s] while fitting ({D['noise']})")
        parser.add_argument("--ridge", type=float, default=D["ridge"],
                            help=f"ridge of the readout's regression ({D['ridge']:g})")
        parser.add_argument("--washout", type=int_range(0), default=jaeger.WASHOUT,
                            help=f"teacher steps dropped before fitting ({jaeger.WASHOUT})")
        parser.add_argument("--train-steps", type=int_range(1), default=jaeger.TRAIN,
                            help=f"teacher-forced steps, the washout included ({jaeger.TRAIN})")
        parser.add_argument("--horizon", type=int_range(1), default=jaeger.HORIZON,
                            help=f"free-run steps; the figure is the error at the last one ({jaeger.HORIZON})")

    def setup(self, args):
        if args.data:
            raise ValueError(f"task {self.name} generates its data; --data is not used")
        if args.washout >= args.train_steps:
            raise ValueError(f"--washout ({args.washout}) must be smaller than --train-steps "
                             f"({args.train_steps}): nothing would be left to fit")
        checks = [("--spectral-radius", args.spectral_radius, lambda v: v > 0, "> 0"),
                  ("--leak", args.leak, lambda v: 0 < v <= 1, "in (0, 1]"),
                  ("--density", args.density, lambda v: 0 < v <= 1, "in (0, 1]"),
                  ("--bias-scaling", args.bias_scaling, lambda v: v >= 0, ">= 0"),
                  ("--feedback-scaling", args.feedback_scaling, lambda v: v >= 0, ">= 0"),
                  ("--state-noise", args.state_noise, lambda v: v >= 0, ">= 0"),
                  ("--ridge", args.ridge, lambda v: v >= 0, ">= 0")]
        for flag, value, ok, want in checks:
            if not (math.isfinite(value) and ok(value)):
                raise ValueError(f"{flag} must be {want}, got {value}")
        return {"series": "mackey_glass", "mackey_glass": dict(jaeger.SERIES), "seed": args.seed,
                "train_steps": args.train_steps, "washout": args.washout, "horizon": args.horizon}

    # --- fitting ------------------------------------------------------------------------------
    def _teacher(self, data, length):
        return jaeger.teacher(length, data["seed"], data["mackey_glass"])

    def fit(self, args, data, run_dir):
        train, washout, horizon = data["train_steps"], data["washout"], data["horizon"]
        esn = jaeger.make_esn(args.seed, units=args.units, spectral_radius=args.spectral_radius,
                              density=args.density, leak=args.leak, bias=args.bias_scaling,
                              feedback=args.feedback_scaling, noise=args.state_noise, ridge=args.ridge)
        d = self._teacher(data, train + horizon)
        esn.fit(targets=d[:train], washout=washout)
        esn.eval()
        figures = self._figures(esn, data)
        files = {rundir.BEST: rundir.save_weights(run_dir / rundir.BEST, esn)}
        metrics = {"step": train, **figures, "ridge": esn.ridge_}
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=list(metrics), lineterminator="\n")
        writer.writeheader()
        writer.writerow(metrics)
        rundir.atomic_write(run_dir / "metrics.csv", text.getvalue().encode())
        config = {"model": esn.config(), "best": {self.monitor: figures[self.monitor]}, "metrics": figures,
                  "training": {"seed": args.seed, "threads": args.threads, "ridge": esn.ridge_,
                               "washout": washout, "train_steps": train, "closed_form": True},
                  "steps": train, "files": files}
        config["plots"] = self.plot(esn, {**config, "data": data}, run_dir)
        return esn, config

    def _figures(self, esn, data) -> dict:
        train, horizon = data["train_steps"], data["horizon"]
        d = self._teacher(data, train + horizon)
        _, m = jaeger.free_run(esn, d, train, horizon)
        return {"horizon_nrmse": m["nrmse"], "free_run_nrmse": m["free_run_nrmse"],
                "train_nrmse": jaeger.train_nrmse(esn, d, train, data["washout"])}

    # --- a saved run --------------------------------------------------------------------------
    def build_model(self, model_config):
        from ...reservoir import ESN
        c = model_config
        if not isinstance(c, dict) or c.get("class") != "ESN":
            raise ValueError("its model entry is not an ESN's config")
        missing = [k for k in inspect.signature(ESN).parameters if k not in c and k not in ("dtype", "_draw")]
        if missing:  # the constructor's defaults would quietly stand in for them
            raise ValueError(f"its model entry has no {', '.join(map(repr, missing))}")
        if c.get("dtype", "float64") not in ("float32", "float64"):
            raise ValueError(f"its model entry's dtype must be \"float32\" or \"float64\", got {c['dtype']!r}")
        esn = ESN(**{k: v for k, v in c.items() if k not in ("class", "ridge_", "dtype")},
                  dtype=getattr(torch, c.get("dtype", "float64")), _draw=False)  # load_run loads the weights
        esn.ridge_ = c.get("ridge_")
        return esn

    def evaluate(self, model, config, data_path, **options):
        if data_path is not None:
            raise ValueError(f"task {self.name} generates its data; --data is not used")
        if options:
            raise ValueError(f"task {self.name} takes no {', '.join('--' + k for k in options)}")
        return self._figures(model, config["data"])

    def free_run(self, model, config, steps: int):
        """(prediction, truth): `steps` closed-loop steps after the run's teacher, and the true series."""
        data = config["data"]
        train = data["train_steps"]
        d = self._teacher(data, train + steps)
        y = model.generate(steps, prime=d[:train]).reshape(steps)
        return y, d[train:train + steps]

    def predict(self, model, config, inputs):
        """`rnnzoo predict RUN [STEPS]`: the free run after the teacher, against the true series."""
        if len(inputs) > 1:
            raise ValueError(f"{self.name} predicts from one number, the free-run steps, got {len(inputs)} inputs")
        try:
            steps = int(inputs[0]) if inputs else config["data"]["horizon"]
        except ValueError:
            raise ValueError(f"{self.name} predicts from the number of free-run steps, got {inputs[0]!r}") from None
        if not 1 <= steps <= 100_000:
            raise ValueError(f"the free-run steps must be from 1 to 100000, got {steps}")
        y, truth = self.free_run(model, config, steps)
        train = config["data"]["train_steps"]
        lines = [f"{'step':>6} {'prediction':>12} {'truth':>12} {'error':>12}"]
        lines += [f"{train + k:>6d} {float(p):>12.8f} {float(t):>12.8f} {float(p - t):>12.3e}"
                  for k, (p, t) in enumerate(zip(y, truth))]
        sd = float(self._teacher(config["data"], train + config["data"]["horizon"]).std())
        lines.append(f"error after {steps} free-run steps / std of the series: {abs(float(y[-1] - truth[-1])) / sd:.3e}")
        return lines

    def generate(self, model, config, prompt, length, temperature=0.8, top_k=0, greedy=False, seed=None):
        """`rnnzoo generate RUN --length N`: N values of the free run after the teacher, one a line."""
        if prompt:
            raise ValueError(f"--prompt applies to charlm runs; a {self.name} run continues its own teacher")
        if length < 1:
            raise ValueError(f"--length must be >= 1, got {length}")
        y, _ = self.free_run(model, config, length)
        return "\n".join(f"{float(v):.8f}" for v in y)

    def plot(self, model, config, run_dir):
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        data = config["data"]
        train, horizon = data["train_steps"], data["horizon"]
        steps = max(horizon, self.PLOT_STEPS)
        y, truth = self.free_run(model, config, steps)
        before = self._teacher(data, train)[max(0, train - 200):]
        t = torch.arange(train, train + steps)
        fig, (ax, ax2) = plt.subplots(2, 1, figsize=(9, 5.5), sharex=True, height_ratios=(3, 2))
        ax.plot(torch.arange(train - len(before), train), before, c="0.6", lw=1, label="teacher (forced)")
        ax.plot(t, truth, c="k", lw=1.2, label="truth")
        ax.plot(t, y, c="tab:red", lw=1, ls="--", label="free run (ESN)")
        for a in (ax, ax2):
            a.axvline(train, c="0.4", lw=0.8)
            a.axvline(train + horizon - 1, c="tab:blue", lw=0.8, ls=":")
        e = config["best"][self.monitor]
        ax.set(ylabel="tanh(x - 1)", title=f"Mackey-Glass free run, ESN of {model.reservoir_size} units: "
               f"NRMSE at step {horizon} = {e:.2e}")
        ax.legend(loc="upper left", fontsize=8)
        err = (y - truth).abs().clamp_min(1e-16) / float(self._teacher(data, train + horizon).std())
        ax2.semilogy(t, err, c="tab:red", lw=1)
        ax2.set(xlabel="time step", ylabel="|error| / std")
        ax2.text(train + horizon, float(err.min()), f" horizon {horizon}", color="tab:blue", fontsize=8)
        ax2.grid(alpha=0.3)
        fig.tight_layout()
        (run_dir / "plots").mkdir(parents=True, exist_ok=True)
        fig.savefig(run_dir / "plots" / "free_run.png", dpi=100)
        plt.close(fig)
        return ["free_run.png"]

    def summary(self, model, config, run_dir):
        m, h = config["metrics"], config["data"]["horizon"]
        return (f"NRMSE{h} (|error| at free-run step {h} / std) = {m['horizon_nrmse']:.3e} "
                f"(log10 {math.log10(max(m['horizon_nrmse'], 1e-300)):.2f}; Jaeger & Haas 2004: -4.2 averaged "
                f"over runs)\nfree-run NRMSE over the {h} steps = {m['free_run_nrmse']:.3e}; teacher-forced "
                f"one-step NRMSE = {m['train_nrmse']:.3e}; ridge {model.ridge_:g}")
