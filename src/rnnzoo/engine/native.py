"""Optional compiled kernels for the sequence engines and the echo state network's loops (the C++ sources in
kernels/, one extension), built on the user's machine.

`pip install rnnzoo` compiles nothing. `build()` (or `rnnzoo native build`, or a layer made with
engine="native") compiles kernels/*.cpp with torch's C++ extension tools, which takes about 40 s on the
2-core CI machine and needs a C++ compiler and ninja; the result is cached under `cache_dir()`, keyed by every
source and header, torch, Python and this CPU's features, so later processes load it in milliseconds.

kernels/: common.h (shared maths: exp/sigmoid/tanh, the products, activations, the state gradient), kernels.h
(the entry points and their shapes), lstm_forward.cpp, lstm_backward.cpp, elman_jordan.cpp, ctrnn.cpp, esn.cpp, scan.cpp
and bindings.cpp (the Python module: keyword arguments only, named as in kernels.h).

Eligibility: the engines use these kernels when the build for this key is in the cache (or was made
in this process), the environment does not say RNNZOO_NATIVE=0, and the tensors are CPU float32 or
float64. Otherwise they fall back, silently, to the pure-Python engine, which is the tested
reference. engine="native" insists: it builds on first use and raises when it cannot.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import platform
import shutil
import sys
from pathlib import Path

import torch

KERNELS = Path(__file__).with_name("kernels")
SOURCES = sorted(KERNELS.glob("*.cpp"))  # compiled, one object each, linked into one module
HEADERS = sorted(KERNELS.glob("*.h"))
FLAGS = ["-O3", "-march=native"]  # built where it runs: the CPU's own vector instructions

_module = None
_error: str | None = None
_looked = False  # the cache was looked in once: later calls without build=True do not stat it again


def _cpu_features() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return line
    except OSError:
        pass
    return platform.processor()


@functools.cache
def build_key() -> str:
    """A name for these sources (every .cpp and .h in kernels/) built by this torch and Python for this CPU."""
    h = hashlib.sha256()
    for path in (*SOURCES, *HEADERS):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    for part in (torch.__version__, sys.version, " ".join(FLAGS), platform.machine(), _cpu_features()):
        h.update(part.encode())
    return h.hexdigest()[:16]


def module_name() -> str:
    return f"rnnzoo_native_{build_key()}"


def cache_dir() -> Path:
    """$RNNZOO_CACHE_DIR, else $XDG_CACHE_HOME/rnnzoo, else ~/.cache/rnnzoo; then native/<key>."""
    root = os.environ.get("RNNZOO_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "rnnzoo")
    return Path(root) / "native" / build_key()


def _library() -> Path:
    return cache_dir() / f"{module_name()}.so"


def _import(path: Path):
    spec = importlib.util.spec_from_file_location(module_name(), path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def disabled() -> bool:
    return os.environ.get("RNNZOO_NATIVE", "").strip().lower() in ("0", "false", "no", "off")


def load(build: bool = False):
    """The compiled module, or None. build=False only loads a cached build; build=True compiles when
    there is none and raises RuntimeError (saying why) when that fails."""
    global _module, _error, _looked
    if _module is not None or (_looked and not build):
        return _module
    _looked = True
    lib = _library()
    if lib.exists():
        try:
            _module = _import(lib)
            return _module
        except (ImportError, OSError) as e:  # a stale or broken file: rebuild it when asked to
            _error = f"the cached build {lib} does not load: {e}"
            if not build:
                return None
    if not build:
        return None
    scripts = str(Path(sys.executable).parent)  # pip's ninja lands beside python, maybe not on PATH
    if shutil.which("ninja") is None and shutil.which("ninja", path=scripts) is not None:
        os.environ["PATH"] = scripts + os.pathsep + os.environ.get("PATH", "")
    compiler = os.environ.get("CXX", "c++")  # what torch's extension builder calls
    missing = [tool for tool in (compiler, "ninja") if shutil.which(tool) is None]
    if not SOURCES:
        _error = f"the kernels' C++ sources are missing from this installation ({KERNELS})"
        raise RuntimeError(_error)
    if missing:
        _error = (f"building the native kernels needs {' and '.join(missing)} on PATH (ninja: pip install "
                  f"ninja, or rnnzoo[native])")
        raise RuntimeError(_error)
    from torch.utils import cpp_extension
    cache_dir().mkdir(parents=True, exist_ok=True)
    try:
        _module = cpp_extension.load(name=module_name(), sources=[str(p) for p in SOURCES], extra_cflags=FLAGS,
                                     build_directory=str(cache_dir()), verbose=False)
    except Exception as e:  # compiler errors arrive as RuntimeError or CalledProcessError
        _error = f"building the native kernels failed: {e}"
        raise RuntimeError(_error) from e
    _error = None
    return _module


def build():
    """Compile (or load the cached build of) the native kernels; RuntimeError when that fails."""
    return load(build=True)


def unavailable_reason() -> str | None:
    """Why the engines will not use the native kernels now, or None when they will."""
    if disabled():
        return "RNNZOO_NATIVE=0 is set"
    if load() is None:
        return _error or ("the native kernels are not built (run `rnnzoo native build` or "
                          "rnnzoo.engine.native.build(); they need a C++ compiler)")
    return None


def kernels(like: torch.Tensor):
    """The compiled module when the engines should use it for tensors like `like`, else None."""
    from .common import DTYPES
    if disabled() or load() is None or like.device.type != "cpu" or like.dtype not in DTYPES:
        return None
    return _module


def contiguous(**arguments):
    """A kernel's keyword arguments as it takes them: strided tensors contiguous; None, numbers and oneDNN's
    packed weights (an opaque layout) as they are."""
    return {name: v.contiguous() if isinstance(v, torch.Tensor) and v.layout == torch.strided else v
            for name, v in arguments.items()}
