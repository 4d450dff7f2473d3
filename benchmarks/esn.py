"""Mackey-Glass free-run prediction with an echo state network, after Jaeger & Haas (Science 2004),
and the same task with reservoirpy (a benchmark-only dependency, imported only here).

Protocol of each run (seed = run index; a fresh series and a fresh reservoir every run), implemented
once in `rnnzoo.reservoir.jaeger` (which `rnnzoo train mackey-glass` uses too):
  - teacher d(n) = tanh(x(n) - 1), x = MG17 (tau 17, beta 0.2, gamma 0.1, n 10) sampled every time
    unit from rnnzoo's RK4 integration with 10 subdivisions (rnnzoo.data.mackey_glass), the first
    1000 time units dropped;
  - ESN: 1000 tanh units (no leak), ~1% connectivity, spectral radius 0.8, input = bias only
    (bias weights U[-0.2, 0.2]), output feedback U[-0.56, 0.56], readout [1; x(n)];
  - 3000 teacher-forced steps, the first 1000 washed out, ridge readout in float64 (QR);
  - free run (closed loop) for 84 steps from the state the teacher left (`jaeger.free_run`); error
    e = y(3083) - d(3083), 84 steps after the last teacher.
NRMSE84 = sqrt(mean over runs of e^2) / std(d) (Jaeger's definition, over independent trials); the
per-run |e| / std(d) are printed too. Jaeger & Haas report NRMSE84 = 10^-4.2 (1000 units).

The comparison builds one rnnzoo ESN per run, hands the very same matrices (reservoir as a scipy CSR,
feedback, bias) to reservoirpy's Reservoir + Ridge with feedback (ESN(feedback=True)), and times
fit (3000 teacher-forced steps + readout) and generate (84 closed-loop steps) of both, without
state noise (reservoirpy's Reservoir has none) and with the same ridge; the times are the median over
the runs, each the best of --repeats; ratio = reservoirpy time / rnnzoo time (> 1: rnnzoo faster).
Both get the same threads (--threads, default 1: torch's, and numpy's BLAS through OPENBLAS/OMP/
MKL_NUM_THREADS set before numpy is imported). reservoirpy solves the normal equations, which break
down at the tiny ridge this task needs (A), so B runs both libraries on the normal equations at
--normal-ridge (1e-10: reservoirpy's best of 1e-10, 1e-8, 1e-6 here), the like-for-like algorithm.

    python benchmarks/esn.py                  # 20 runs + the reservoirpy comparison (a few minutes)
    python benchmarks/esn.py --runs 5 --compare-runs 3
    python benchmarks/esn.py --no-compare     # rnnzoo only

rnnzoo's loops run on the compiled kernels (rnnzoo.engine.native, built first unless --no-native; the
header says which); --no-native with RNNZOO_NATIVE=0 times the torch loops. The summary also times the
readout's floor, the Gram matrix Z^T Z (BLAS syrk) and its Cholesky factor on rnnzoo's own states, against
the 3x budget (reservoirpy's fit / 3).
"""

from __future__ import annotations

import os
import sys

# Equal resources: numpy's BLAS (reservoirpy) gets as many threads as torch (--threads, default 1);
# this must be set before numpy is imported.
_THREADS = sys.argv[sys.argv.index("--threads") + 1] if "--threads" in sys.argv[:-1] else "1"
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, _THREADS)

import argparse  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

import rnnzoo  # noqa: E402
from rnnzoo.engine import native  # noqa: E402
from rnnzoo.reservoir import ESN, _run, jaeger  # noqa: E402
from rnnzoo.reservoir.readout import gram  # noqa: E402
from rnnzoo.reservoir.jaeger import HORIZON, TRAIN, WASHOUT  # noqa: E402


def make_esn(seed: int, args, noise: float) -> ESN:
    return jaeger.make_esn(seed, units=args.size, spectral_radius=args.spectral_radius, density=args.density,
                           bias=args.bias, feedback=args.feedback, noise=noise)


def series(seed: int) -> torch.Tensor:
    return jaeger.teacher(TRAIN + HORIZON, seed)


def best_of(fn, repeats: int):
    out, best = None, math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return out, best


def jaeger_runs(args) -> list[float]:
    print(f"== rnnzoo, Jaeger & Haas protocol: {args.runs} runs, N={args.size}, noise={args.noise:g}, "
          f"ridge={args.ridge:g}")
    errors = []
    for run in range(args.runs):
        d = series(run)
        esn = make_esn(run, args, args.noise)
        t0 = time.perf_counter()
        esn.fit(targets=d[:TRAIN], washout=WASHOUT, ridge=args.ridge)
        e = jaeger.free_run(esn, d, TRAIN, HORIZON)[1]["nrmse"]  # |y(3083) - d(3083)| / std(d)
        errors.append(e)
        print(f"run {run:2d}: |e84| / std = {abs(e):.3e}  (log10 {math.log10(abs(e) + 1e-300):6.2f}, "
              f"{time.perf_counter() - t0:.2f} s)", flush=True)
    nrmse = math.sqrt(sum(e * e for e in errors) / len(errors))
    print(f"NRMSE84 over {len(errors)} runs = {nrmse:.3e} (log10 {math.log10(nrmse):.2f}); "
          f"mean of per-run |e|/std = {statistics.fmean(abs(e) for e in errors):.3e}; "
          f"target <= 3e-4: {'met' if nrmse <= 3e-4 else 'MISSED'}")
    return errors


def compare(args) -> dict | None:
    try:
        import reservoirpy
        import scipy.sparse as sp
        from reservoirpy import ESN as RPyESN
        from reservoirpy.nodes import Reservoir, Ridge
    except ImportError as e:
        print(f"== reservoirpy comparison skipped: reservoirpy could not be imported ({e}); "
              f"pip install reservoirpy to run it")
        return None
    print(f"== rnnzoo vs reservoirpy {reservoirpy.__version__}: same matrices, no noise, {args.compare_runs} runs, "
          f"times best of {args.repeats}; A: ridge {args.ridge:g} (rnnzoo QR readout), B: ridge {args.normal_ridge:g}, "
          f"both on the normal equations (rnnzoo solver='normal')")
    rows = []
    for run in range(args.compare_runs):
        d = series(run)
        sd, truth = float(d.std()), float(d[TRAIN + HORIZON - 1])
        esn = make_esn(run, args, 0.0)
        esn.fit(targets=d[:50], washout=10, ridge=args.ridge)  # warm-up (CSR cache, allocator)

        def z_fit(ridge, solver):
            esn.solver = solver
            return esn.fit(targets=d[:TRAIN], washout=WASHOUT, ridge=ridge)

        _, t_fit = best_of(lambda: z_fit(args.ridge, "qr"), args.repeats)
        state = esn.last_state
        _, t_loop = best_of(lambda: esn.run(teacher=d[:TRAIN]), args.repeats)  # the 3000 teacher-forced steps
        y, t_gen = best_of(lambda: esn.generate(HORIZON, state=state), args.repeats)
        e_z = (float(y[HORIZON - 1, 0]) - truth) / sd
        _, t_fit_n = best_of(lambda: z_fit(args.normal_ridge, "normal"), args.repeats)
        Z = torch.cat([torch.ones(TRAIN - WASHOUT, 1, dtype=torch.float64), esn.run(teacher=d[:TRAIN])[0][WASHOUT:]], 1)
        G, t_gram = best_of(lambda: gram(Z), args.repeats)
        _, t_chol = best_of(lambda: np.linalg.cholesky(G.numpy() + args.normal_ridge * np.eye(G.shape[0])), args.repeats)
        e_zn = (float(esn.generate(HORIZON)[HORIZON - 1, 0]) - truth) / sd

        W = sp.csr_matrix(esn.weight_hh[0].numpy())
        x_in, target = np.zeros((TRAIN, 0)), d[:TRAIN].numpy()[:, None]

        def rpy_fit(ridge):
            model = RPyESN(reservoir=Reservoir(W=W, Win=esn.weight_fb.numpy().copy(), bias=esn.bias[0].numpy().copy(),
                                               lr=1.0, input_dim=1), readout=Ridge(ridge=ridge), feedback=True)
            model.initialize(x_in, target)
            t0 = time.perf_counter()
            model.fit(x_in, target, warmup=WASHOUT)
            return model, time.perf_counter() - t0

        def rpy_best(ridge):
            fits = [rpy_fit(ridge) for _ in range(args.repeats)]
            return fits[-1][0], min(t for _, t in fits)

        model, r_fit = rpy_best(args.ridge)
        saved = model.reservoir.state, dict(model.feedback_buffers)

        def rpy_gen():
            model.reservoir.state = saved[0]
            model.feedback_buffers = {k: v.copy() for k, v in saved[1].items()}
            return model.run(iters=HORIZON)

        out, r_gen = best_of(rpy_gen, args.repeats)
        e_r = (float(out[HORIZON - 1, 0]) - truth) / sd
        model_n, r_fit_n = rpy_best(args.normal_ridge)
        e_rn = (float(model_n.run(iters=HORIZON)[HORIZON - 1, 0]) - truth) / sd
        rows.append(dict(e_z=e_z, e_r=e_r, e_zn=e_zn, e_rn=e_rn, t_fit=t_fit, r_fit=r_fit, t_fit_n=t_fit_n,
                         r_fit_n=r_fit_n, t_gen=t_gen, r_gen=r_gen, t_loop=t_loop, t_gram=t_gram, t_chol=t_chol))
        print(f"run {run}: A |e84|/std rnnzoo {abs(e_z):.2e} reservoirpy {abs(e_r):.2e}, fit {t_fit * 1e3:6.1f} vs "
              f"{r_fit * 1e3:6.1f} ms, generate {t_gen * 1e3:5.2f} vs {r_gen * 1e3:5.2f} ms | B |e84|/std rnnzoo "
              f"{abs(e_zn):.2e} reservoirpy {abs(e_rn):.2e}, fit {t_fit_n * 1e3:6.1f} vs {r_fit_n * 1e3:6.1f} ms",
              flush=True)

    def nrmse(key):
        return math.sqrt(statistics.fmean(r[key] ** 2 for r in rows))

    def med(key):
        return statistics.median(r[key] for r in rows)

    res = {"nrmse_rnnzoo": nrmse("e_z"), "nrmse_reservoirpy": nrmse("e_r"), "nrmse_rnnzoo_normal": nrmse("e_zn"),
           "nrmse_reservoirpy_normal": nrmse("e_rn"), "fit_ratio": med("r_fit") / med("t_fit"),
           "fit_ratio_normal": med("r_fit_n") / med("t_fit_n"), "generate_ratio": med("r_gen") / med("t_gen")}
    verdict = {True: "met", False: "MISSED"}
    print(f"A (ridge {args.ridge:g}): NRMSE84 rnnzoo {res['nrmse_rnnzoo']:.3e}, reservoirpy "
          f"{res['nrmse_reservoirpy']:.3e}; time ratio reservoirpy / rnnzoo (medians): fit "
          f"{res['fit_ratio']:.2f}x, generate {res['generate_ratio']:.2f}x")
    print(f"B (ridge {args.normal_ridge:g}, normal equations in both): NRMSE84 rnnzoo "
          f"{res['nrmse_rnnzoo_normal']:.3e}, reservoirpy {res['nrmse_reservoirpy_normal']:.3e}; fit time ratio "
          f"{res['fit_ratio_normal']:.2f}x")
    loop, readout = med("t_loop") * 1e3, (med("t_fit") - med("t_loop")) * 1e3
    print(f"rnnzoo fit (A) = {loop:.0f} ms of reservoir steps + {readout:.0f} ms of QR readout; generate "
          f"{med('t_gen') / HORIZON * 1e6:.1f} us/step vs reservoirpy's {med('r_gen') / HORIZON * 1e6:.1f}")
    floor = (med("t_gram") + med("t_chol")) * 1e3
    print(f"rnnzoo fit (B) = {med('t_fit_n') * 1e3:.0f} ms, of which Gram Z^T Z (syrk, {TRAIN - WASHOUT} x "
          f"{1 + args.size}) {med('t_gram') * 1e3:.1f} ms + Cholesky {med('t_chol') * 1e3:.1f} ms = {floor:.1f} ms; "
          f"3x needs the whole fit in {med('r_fit_n') / 3 * 1e3:.1f} ms")
    best = min(res["nrmse_reservoirpy"], res["nrmse_reservoirpy_normal"])
    print(f"targets: NRMSE same or better: {verdict[res['nrmse_rnnzoo'] <= best]}; >= 3x faster: fit "
          f"{verdict[max(res['fit_ratio'], res['fit_ratio_normal']) >= 3]}, "
          f"generate {verdict[res['generate_ratio'] >= 3]}")
    return res


def main(argv=None):
    p = argparse.ArgumentParser(description="ESN Mackey-Glass (Jaeger & Haas 2004) and reservoirpy comparison")
    p.add_argument("--runs", type=int, default=20, help="independent runs of the protocol (default 20)")
    p.add_argument("--compare-runs", type=int, default=5, help="runs of the reservoirpy comparison")
    p.add_argument("--no-compare", action="store_true", help="skip the reservoirpy comparison")
    p.add_argument("--repeats", type=int, default=3, help="timings: best of this many")
    p.add_argument("--size", type=int, default=jaeger.DEFAULTS["units"])
    p.add_argument("--density", type=float, default=jaeger.DEFAULTS["density"])
    p.add_argument("--spectral-radius", type=float, default=jaeger.DEFAULTS["spectral_radius"])
    p.add_argument("--bias", type=float, default=jaeger.DEFAULTS["bias"], help="bias weights U[-bias, bias] (the bias input)")
    p.add_argument("--feedback", type=float, default=jaeger.DEFAULTS["feedback"], help="feedback weights U[-f, f]")
    p.add_argument("--noise", type=float, default=jaeger.DEFAULTS["noise"], help="state noise U[-noise, noise] during training")
    p.add_argument("--ridge", type=float, default=jaeger.DEFAULTS["ridge"])
    p.add_argument("--normal-ridge", type=float, default=1e-10,
                   help="comparison B: both libraries on the normal equations at this ridge")
    p.add_argument("--threads", type=int, default=1,
                   help="threads for torch and for numpy's BLAS (reservoirpy), the same for both (default 1)")
    p.add_argument("--no-native", action="store_true",
                   help="do not build the compiled kernels (a cached build is still used unless RNNZOO_NATIVE=0)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    if not args.no_native:
        try:
            native.build()
        except RuntimeError as error:
            print(f"native kernels: {error}", file=sys.stderr)
    warnings.filterwarnings("ignore", message=".*ill-conditioned matrix.*")  # reservoirpy at tiny ridges
    print(f"rnnzoo {rnnzoo.__version__}, torch {torch.__version__}, numpy {np.__version__}, python "
          f"{platform.python_version()}, torch threads {torch.get_num_threads()}, numpy BLAS threads "
          f"{os.environ.get('OPENBLAS_NUM_THREADS')} (OPENBLAS/OMP/MKL_NUM_THREADS)")
    reason = _run.native_reason(make_esn(0, args, 0.0)) if args.size else None
    print(f"rnnzoo's reservoir loops: {'compiled kernels (rnnzoo.engine.native)' if reason is None else 'torch (' + reason + ')'}")
    errors = jaeger_runs(args) if args.runs > 0 else []
    result = None if args.no_compare or args.compare_runs <= 0 else compare(args)
    return errors, result


if __name__ == "__main__":
    main()
