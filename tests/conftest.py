import os

os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("MPLBACKEND", "Agg")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

from rnnzoo import registry  # noqa: E402

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def shared_data(*parts: str) -> Path:
    """The path ../shared/data/<parts> (the project's real data), for a test to read. Where it is
    missing the test skips on a developer's machine, but fails under CI (the environment variable CI
    set, as CI services do): CI always has the folder, so a test of real data never passes there by
    skipping. Call it inside the test or fixture, not at import."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
            pytest.fail(f"the shared data {path} is missing, and CI (CI={os.environ['CI']!r}) must have it",
                        pytrace=False)
        pytest.skip(f"needs the shared data {path}")
    return path

# Every registered (architecture, option set): the generic tests run over all of them, so a new
# architecture gets them by registering.
CASES = [(e, label, options) for e in registry.entries() for label, options in e.variants.items()]
CASE_IDS = [f"{e.name}:{label}" for e, label, _ in CASES]


def sample_input(entry, L, N, input_size, dtype=torch.float32, generator=None):
    """Time-major input (L, N, input_size, *spatial) for an entry."""
    return torch.randn(L, N, input_size, *entry.spatial, dtype=dtype, generator=generator)


def as_tuple(state):
    return state if isinstance(state, tuple) else (state,)


def randomise(module, scale=0.5, seed=0):
    """Random parameters (peephole, LayerNorm and biases included, which start at 0 or 1)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * scale)
    return module


class EngineRun(torch.nn.Module):
    """Calls one engine's runner on a cell, so functional_call can swap the cell's parameters."""

    def __init__(self, cell):
        super().__init__()
        self.cell = cell

    def forward(self, xs, state, valid, mask):
        from rnnzoo import engine
        return engine.runner(self.cell).run(self.cell, xs, state, valid, mask)


def engine_inputs(cell, L, N, padded, dropout, dtype=torch.float64):
    """(xs, state, valid, mask) for an engine runner: projected input, a random state, right-padded
    lengths [L, 2, L - 1] when padded, recurrent-dropout masks when dropout."""
    from rnnzoo import engine
    g = torch.Generator().manual_seed(1)
    x = torch.randn(L, N, cell.input_size, dtype=dtype, generator=g)
    xs = engine.runner(cell).project(cell, x)
    xs = tuple(v.detach() for v in xs) if isinstance(xs, tuple) else xs.detach()
    state = tuple(torch.randn(s.shape, dtype=dtype, generator=g) * 0.5 for s in cell.init_state(x))
    valid = torch.arange(L)[:, None] < torch.tensor([L, 2, L - 1][:N])[None, :] if padded else None
    mask = None
    if dropout:
        mask = tuple((torch.rand(s.shape, generator=g, dtype=dtype) > 0.3).to(dtype) / 0.7
                     if j in cell.recurrent_inputs else None for j, s in enumerate(state))
    return xs, state, valid, mask


@pytest.fixture(scope="session")
def native_kernels():
    """rnnzoo.engine.native built (about 40 s the first time on a machine, then cached). Skips only
    where no C++ compiler is installed; a failed build with one is a failure."""
    import shutil

    from rnnzoo.engine import native
    if shutil.which(os.environ.get("CXX", "c++")) is None:
        pytest.skip("no C++ compiler: the optional compiled kernels cannot be built here")
    return native.build()


# The LSTM option sets the engine tests (Python and compiled) run every check on
LSTM_OPTIONS = {
    "plain": {}, "peephole": {"peephole": True}, "coupled": {"coupled": True},
    "layer_norm": {"layer_norm": True}, "proj_size": {"proj_size": 2},
    "peephole+coupled": {"peephole": True, "coupled": True},
    "peephole+layer_norm+proj": {"peephole": True, "layer_norm": True, "proj_size": 2},
    "all": {"peephole": True, "coupled": True, "layer_norm": True, "proj_size": 2},
}

# Option sets the engine tests run on top of each entry's registry variants: those whose code differs
# inside an engine (every LSTM combination, each activation, the CTRNN's dt and RK4, ...). Which cells
# have engines comes from the registry alone (Entry.engine); tests/test_registry.py checks that every
# name here is a registered entry with an engine.
ENGINE_OPTIONS = {
    "lstm": LSTM_OPTIONS,
    "gru": {"reset_after": {}, "reset_before": {"reset_after": False}},
    "elman": {"tanh": {}, "relu": {"activation": "relu"}},
    "jordan": {"tanh": {}, "relu+sigmoid+output_size": {"activation": "relu", "output_activation": "sigmoid",
                                                        "output_size": 2},
               "identity+tanh": {"activation": "identity"}},
    "ctrnn": {"euler": {"tau": 1.5}, "sigmoid+fixed_tau+dt": {"activation": "sigmoid", "learn_tau": False, "dt": 0.5},
              "relu": {"activation": "relu", "dt": 0.1}, "identity": {"activation": "identity", "dt": 0.1},
              "rk4": {"method": "rk4", "dt": 0.5, "tau": 1.5},
              "rk4+relu": {"method": "rk4", "activation": "relu", "dt": 0.1, "tau": 2.0},
              "rk4+sigmoid+fixed_tau": {"method": "rk4", "activation": "sigmoid", "learn_tau": False}},
    "second_order": {"sigmoid": {}, "tanh": {"activation": "tanh"}, "rank+sigmoid": {"rank": 2},
                     "rank+tanh": {"rank": 4, "activation": "tanh"}},
    "rmlp": {"tanh": {}, "sigmoid+3_layers": {"activation": "sigmoid", "layer_sizes": (5, 2)},
             "relu": {"activation": "relu", "layer_sizes": (4,)}},
    "fully_recurrent": {"tanh": {}, "sigmoid+units": {"activation": "sigmoid", "input_units": 2, "output_units": 2}},
}


def rec_dropout(name: str, p: float) -> float:
    """p, or 0 for cells with no recurrent input to drop (minGRU, minLSTM refuse recurrent_dropout)."""
    return p if registry.get(name).cell.recurrent_inputs else 0.0


def engine_cases(native: bool = False) -> list:
    """(name, label, options) for every registered entry with a sequence engine (with native=True: one
    whose engine runs on the compiled kernels): ENGINE_OPTIONS' sets, then the registry variants not
    among them, so that a new cell with an engine is tested by registering it."""
    cases = []
    for entry in registry.entries():
        if entry.engine is None or (native and not entry.engine.native):
            continue
        option_sets = dict(ENGINE_OPTIONS.get(entry.name, {}))
        for label, options in entry.variants.items():
            if options not in option_sets.values():
                option_sets[label if label not in option_sets else f"variant:{label}"] = options
        if native:  # option sets the compiled kernels do not run (mingru's scan="log") are not theirs to test
            option_sets = {label: options for label, options in option_sets.items()
                           if entry.engine.native_kernels(entry.cell(3, 3, **options))}
        cases += [(entry.name, label, options) for label, options in option_sets.items()]
    return cases


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


# Tests check correctness on tiny tensors, where one intra-op thread is fastest (and immune to a
# busy machine: two spinning threads on two shared cores were 100x slower here).
torch.set_num_threads(1)


@pytest.fixture
def one_thread():
    """One intra-op thread for the test, restored after it (CLI commands under test may set --threads)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def gradcheck_engine_function(cell, padded, dropout) -> bool:
    """torch.autograd.gradcheck (float64) of `cell`'s engine runner with respect to its input (every part:
    ctrnn's dt too), initial state and parameters, on L = 4, N = 3, with padding and dropout masks as asked."""
    from torch.func import functional_call
    run = EngineRun(cell)
    xs, state, valid, mask = engine_inputs(cell, L=4, N=3, padded=padded, dropout=dropout)
    names = [n for n, _ in run.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_() for _, p in run.named_parameters())
    xs = xs if isinstance(xs, tuple) else (xs,)

    def f(*flat):
        xp, st, ps = flat[:len(xs)], flat[len(xs):len(xs) + len(state)], flat[len(xs) + len(state):]
        y, final = functional_call(run, dict(zip(names, ps)), (xp if len(xp) > 1 else xp[0], st, valid, mask))
        return (y, *final)

    inputs = (*(v.requires_grad_() for v in xs), *(s.requires_grad_() for s in state), *params)
    return torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-6, rtol=1e-4)


def gradcheck_padded_layer(layer) -> bool:
    """gradcheck (float64, fast mode) of a layer on x (4, 3, 3) with lengths [4, 2, 3], with respect to x and
    every parameter; the same dropout masks at every evaluation."""
    from torch.func import functional_call
    x = torch.randn(4, 3, 3, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([4, 2, 3])
    names = [n for n, _ in layer.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_() for _, p in layer.named_parameters())

    def f(x, *ps):
        torch.manual_seed(7)
        y, final = functional_call(layer, dict(zip(names, ps)), (x,), {"lengths": lengths})
        return (y, *as_tuple(final))

    return torch.autograd.gradcheck(f, (x, *params), eps=1e-6, atol=1e-6, rtol=1e-4, fast_mode=True)
