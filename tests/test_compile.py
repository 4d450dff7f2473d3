"""torch.compile(layer, fullgraph=True) and torch.jit.trace: while tracing, the input checks that read values
are skipped and the plan takes torch's kernel or the per-step loop (rnnzoo.plan), so each layer traces into
one graph and computes what the eager layer computes.

Most tests compile with the "aot_eager" backend: dynamo finds every graph break (fullgraph=True turns one
into an error) and AOT autograd traces the backward, in 0.4-1.3 s a layer on 2 cores; inductor adds code
generation, 11-19 s a layer there (cold), so one test uses it."""

import warnings

import pytest
import torch

import rnnzoo

# (cell, options); the comments give the path an eager call takes (compiled kernels built) and a compiled one
LAYERS = {
    "lstm": ("lstm", {}),                         # torch's fused kernel (the loop, compiled for training)
    "peephole_lstm": ("lstm", {"peephole": True}),  # eager: the engine (an autograd Function); compiled: loop
    "elman": ("elman", {}),                       # eager: the compiled kernels beat torch's; compiled: fused
    "gru": ("gru", {}),                           # torch's fused kernel
    "ctrnn_rk4_dt": ("ctrnn", {"method": "rk4"}),  # eager: compiled kernels; compiled: loop, dt >= 0 unchecked
}


@pytest.fixture(autouse=True)
def fresh_dynamo():
    """Each test compiles from scratch: no cached graph of another layer, no recompile limit reached."""
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def layer_and_inputs(key):
    cell, options = LAYERS[key]
    torch.manual_seed(0)
    layer = rnnzoo.Recurrent(cell, 3, 4, batch_first=True, **options)
    x = torch.randn(2, 5, 3)
    kwargs = {"dt": torch.rand(2, 5) * torch.tensor([1.0, 1.0, 0.0, 1.0, 1.0])} if cell == "ctrnn" else {}
    return layer, x, kwargs


@pytest.mark.parametrize("key", LAYERS)
def test_compiled_fullgraph_inference_equals_the_eager_layer(key):
    layer, x, kwargs = layer_and_inputs(key)
    layer.eval()
    compiled = torch.compile(layer, fullgraph=True, backend="aot_eager")
    with torch.no_grad():
        y, state = compiled(x, **kwargs)
        y_eager, state_eager = layer(x, **kwargs)
    torch.testing.assert_close(y, y_eager)
    torch.testing.assert_close(state, state_eager)


@pytest.mark.parametrize("key", LAYERS)
def test_compiled_fullgraph_training_step_has_the_eager_layers_gradients(key):
    """The backward too: a plain LSTM takes the loop while compiling for training, since AOT autograd
    cannot trace the backward of torch's CPU LSTM kernel (oneDNN)."""
    layer, x, kwargs = layer_and_inputs(key)
    compiled = torch.compile(layer, fullgraph=True, backend="aot_eager")
    grads = []
    for run in (compiled, layer):
        layer.zero_grad()
        y, _ = run(x, **kwargs)
        y.square().sum().backward()
        grads.append([p.grad.clone() for p in layer.parameters()])
    for got, want in zip(*grads):
        torch.testing.assert_close(got, want)


def test_the_default_backend_compiles_a_peephole_lstm_into_one_graph():
    """inductor (torch.compile's default) on the layer whose eager call runs the engine."""
    layer, x, _ = layer_and_inputs("peephole_lstm")
    layer.eval()
    compiled = torch.compile(layer, fullgraph=True)
    with torch.no_grad():
        y, state = compiled(x)
        y_eager, state_eager = layer(x)
    torch.testing.assert_close(y, y_eager)
    torch.testing.assert_close(state, state_eager)


def test_the_plan_leaves_the_engines_while_tracing_and_says_why(monkeypatch):
    """What the compile tests rely on, decided in one place: under a trace no call takes the engine or the
    compiled kernels; a plain LSTM being trained leaves torch's kernel too, any other fused cell keeps it."""
    from rnnzoo import engine, plan
    for module in (engine, plan):
        monkeypatch.setattr(module, "tracing", lambda: True)
    peephole = rnnzoo.Recurrent("lstm", 3, 4, peephole=True)
    assert peephole.path(backward=True) == peephole.path(backward=False) == "loop"
    assert "torch.compile" in peephole.plan().reason
    assert rnnzoo.Recurrent("elman", 3, 4).path(backward=True) == "fused"
    assert rnnzoo.Recurrent("gru", 3, 4).path(backward=True) == "fused"
    lstm = rnnzoo.Recurrent("lstm", 3, 4)
    assert lstm.path(backward=False) == "fused" and lstm.path(backward=True) == "loop"
    with pytest.raises(ValueError, match="fused=True.*torch.compile"):
        rnnzoo.Recurrent("lstm", 3, 4, fused=True).plan(backward=True)


@pytest.mark.filterwarnings("ignore:`torch.jit.trace:DeprecationWarning")  # deprecated in torch, still working
def test_jit_trace_of_a_layer_whose_eager_call_runs_the_engine_replays_on_new_input():
    """torch.jit.trace takes the loop as torch.compile does (tracing the engine's Function fails inside
    torch); the trace then holds no value check and replays on other input of the same shape."""
    layer, x, _ = layer_and_inputs("peephole_lstm")
    layer.eval()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # the trace unrolls the loop over L: expected
        traced = torch.jit.trace(layer, (x,), check_trace=False)
        other = torch.randn(2, 5, 3)
        torch.testing.assert_close(traced(other)[0], layer(other)[0])


def test_eager_calls_still_refuse_nan_input_and_negative_dt():
    """The checks skipped while tracing still run in every eager call."""
    layer, x, _ = layer_and_inputs("lstm")
    x[0, 1, 2] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        layer(x)
    ctrnn, x, kwargs = layer_and_inputs("ctrnn_rk4_dt")
    kwargs["dt"][1, 1] = -0.5
    with pytest.raises(ValueError, match="dt"):
        ctrnn(x, **kwargs)


@pytest.mark.filterwarnings("ignore:`torch.jit.script:DeprecationWarning")
def test_torch_jit_script_is_not_supported_as_documented():
    """README says so: forward takes per-step inputs as **kwargs, which TorchScript cannot compile. A
    change that made scripting work would fail here, and the README sentence would be updated with it."""
    with pytest.raises(Exception, match="variable number of arguments"):
        torch.jit.script(rnnzoo.Recurrent("lstm", 3, 4))
