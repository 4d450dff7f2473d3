import os

os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest  # noqa: E402
import torch  # noqa: E402

from rnnzoo import registry  # noqa: E402

# Every registered (architecture, option set): the generic tests run over all of them, so a new
# architecture gets them by registering.
CASES = [(e, label, options) for e in registry.entries() for label, options in e.variants.items()]
CASE_IDS = [f"{e.name}:{label}" for e, label, _ in CASES]


def sample_input(entry, L, N, input_size, dtype=torch.float32, generator=None):
    """Time-major input (L, N, input_size, *spatial) for an entry."""
    return torch.randn(L, N, input_size, *entry.spatial, dtype=dtype, generator=generator)


def as_tuple(state):
    return state if isinstance(state, tuple) else (state,)


@pytest.fixture(scope="session")
def native_kernels():
    """rnnzoo.engine.native built (about 20 s the first time on a machine, then cached). Skips only
    where no C++ compiler is installed; a failed build with one is a failure."""
    import shutil

    from rnnzoo.engine import native
    if shutil.which(os.environ.get("CXX", "c++")) is None:
        pytest.skip("no C++ compiler: the optional compiled kernels cannot be built here")
    return native.build()


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


# Tests check correctness on tiny tensors, where one intra-op thread is fastest (and immune to a
# busy machine: two spinning threads on two shared cores were 100x slower here).
torch.set_num_threads(1)
