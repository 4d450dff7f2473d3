"""Hierarchical RNN: slow layers held bitwise between their updates, rate 1 is the plain stacked layer,
masking and state across calls, gradcheck, and the options."""

import pytest
import test_conformance
import torch
from test_registry import CONFORMANCE
from torch.func import functional_call

import rnnzoo
from rnnzoo import registry
from rnnzoo.models.hierarchical import HierarchicalRNN, SlowCell

F64 = torch.float64


def randomised(module, seed=0, scale=0.5):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * scale)
    return module


@pytest.mark.parametrize("cell", ["elman", "lstm", "ctrnn"])
def test_a_slow_layer_changes_only_at_its_update_steps(cell):
    model = randomised(HierarchicalRNN(cell, 3, hidden_size=4, rates=(1, 3), output="all"))
    x = torch.randn(2, 10, 3)
    y, _ = model(x)
    fast, slow = y[..., :4], y[..., 4:]
    for t in range(1, 10):
        assert torch.equal(slow[:, t], slow[:, t - 1]) == (t % 3 != 0), t
        assert not torch.equal(fast[:, t], fast[:, t - 1])
    # one step a call: the state after each step, clock included, carries to the next call
    state, held = None, []
    for t in range(10):
        y_t, state = model(x[:, t:t + 1], state=state)
        torch.testing.assert_close(y_t, y[:, t:t + 1], atol=1e-6, rtol=0)
        held.append(state[1])
    for t in range(1, 10):  # every element of the slow layer's state: the cell's, y and t
        unchanged = all(torch.equal(a, b) for a, b in zip(held[t][:-1], held[t - 1][:-1]))
        assert unchanged == (t % 3 != 0), t
        assert held[t][-1].flatten().tolist() == [(t + 1) % 3] * 2


@pytest.mark.parametrize("cell,options", [("gru", {}), ("lstm", {"proj_size": 2}), ("jordan", {"output_size": 3})])
def test_rate_one_everywhere_is_the_plain_stacked_layer(cell, options):
    model = HierarchicalRNN(cell, 3, hidden_size=5, num_layers=3, rates=(1, 1, 1), cell_options=options)
    plain = rnnzoo.Recurrent(cell, 3, 5, num_layers=3, batch_first=True, engine="loop", fused=False, **options)
    for k, layer in enumerate(model.layers):
        layer.cells[0].inner.load_state_dict(plain.cells[k].state_dict())
    x, lengths = torch.randn(4, 6, 3), torch.tensor([6, 2, 5, 1])
    y, state = model(x, lengths=lengths)
    y_plain, state_plain = plain(x, lengths=lengths)
    assert torch.equal(y, y_plain)
    state_plain = state_plain if isinstance(state_plain, tuple) else (state_plain,)
    for k, final in enumerate(state):
        n = len(state_plain)
        for a, b in zip(final[:n], state_plain):
            assert torch.equal(a, b[k:k + 1])
        assert torch.all(final[-1] == 0)  # a rate-1 clock is always due
    last = y_plain[torch.arange(4), lengths - 1]  # the top layer's output at each last real step
    assert torch.equal(state[-1][-2][0], last)  # is the output it holds


def test_padded_batch_equals_each_sequence_alone():
    model = randomised(HierarchicalRNN("gru", 3, hidden_sizes=(4, 3, 2), rates=(1, 2, 3), output="all").double())
    x = torch.randn(3, 8, 3, dtype=F64)
    lengths = torch.tensor([8, 3, 5])
    x_padded = x.clone()
    for n, length in enumerate(lengths):
        x_padded[n, length:] = 1e3
    y, state = model(x_padded, lengths=lengths)
    for n, length in enumerate(lengths.tolist()):
        y_alone, state_alone = model(x[n:n + 1, :length])
        torch.testing.assert_close(y[n:n + 1, :length], y_alone, atol=1e-12, rtol=0)
        assert torch.all(y[n, length:] == 0)
        for final, final_alone in zip(state, state_alone):
            for a, b in zip(final, final_alone):
                torch.testing.assert_close(a[:, n:n + 1], b, atol=1e-12, rtol=0)


def test_gradcheck_float64_tiny_model():
    model = randomised(HierarchicalRNN("elman", 2, hidden_sizes=(3, 2), rates=(1, 2), output="all").double())
    x = torch.randn(3, 5, 2, dtype=F64, requires_grad=True)
    lengths = torch.tensor([5, 2, 4])
    names = [n for n, _ in model.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_() for _, p in model.named_parameters())

    def run(x, *ps):
        y, state = functional_call(model, dict(zip(names, ps)), (x,), {"lengths": lengths})
        return y, *(final[0] for final in state)

    assert torch.autograd.gradcheck(run, (x, *params), eps=1e-6, atol=1e-6, rtol=1e-4)


def test_slow_cell_holds_the_output_of_a_cell_whose_output_is_not_its_state():
    layer = randomised(rnnzoo.Recurrent(SlowCell, 2, 3, inner="ctrnn", rate=2, options={"tau": 2.0}))
    y, (h, y_held, t) = layer(torch.randn(5, 1, 2))
    assert torch.equal(y[3], y[2]) and not torch.equal(y[4], y[3])
    torch.testing.assert_close(y[-1], torch.tanh(h[0]))  # the output act(h) of the last update
    assert torch.equal(y_held[0], y[-1]) and t.item() == 1.0


def test_packed_input_and_config_round_trip():
    from torch.nn.utils.rnn import pack_padded_sequence
    model = HierarchicalRNN("lstm", 3, hidden_size=4, num_layers=2, output="all", cell_options={"peephole": True})
    assert model.rates == (1, 2) and model.output_size == 8
    again = HierarchicalRNN(**model.config())
    again.load_state_dict(model.state_dict())
    x, lengths = torch.randn(3, 6, 3), torch.tensor([6, 2, 4])
    y, _ = model(x, lengths=lengths)
    packed, _ = again(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
    torch.testing.assert_close(packed.data, pack_padded_sequence(y, lengths, batch_first=True,
                                                                 enforce_sorted=False).data)


def test_bad_arguments_raise_named_errors():
    with pytest.raises(ValueError, match=r"either hidden_sizes .* or hidden_size"):
        HierarchicalRNN("gru", 3, (4, 4), hidden_size=4)
    with pytest.raises(ValueError, match=r"give num_layers or rates"):
        HierarchicalRNN("gru", 3, hidden_size=4)
    with pytest.raises(ValueError, match=r"rates must give one rate per layer \(2\)"):
        HierarchicalRNN("gru", 3, (4, 4), rates=(1, 2, 4))
    with pytest.raises(ValueError, match=r"rates\[1\] must be >= 1"):
        HierarchicalRNN("gru", 3, (4, 4), rates=(1, 0))
    with pytest.raises(ValueError, match=r"output must be one of"):
        HierarchicalRNN("gru", 3, (4,), output="last")
    with pytest.raises(ValueError, match=r"inner must be a vector cell"):
        HierarchicalRNN("conv_lstm", 3, (4,))
    with pytest.raises(TypeError, match=r"unknown option 'bogus'"):
        HierarchicalRNN("gru", 3, (4,), cell_options={"bogus": 1})
    model = HierarchicalRNN("gru", 3, (4, 4))
    with pytest.raises(ValueError, match=r"state must be a tuple with one entry per layer \(2\)"):
        model(torch.randn(1, 2, 3), state=torch.zeros(2, 1, 4))


SLOW = registry.Entry("slow", SlowCell, "test only", "-", "-", layer=None,
                      variants={"lstm_rate3": {"inner": "lstm", "rate": 3},
                                "ctrnn_rate2": {"inner": "ctrnn", "rate": 2, "options": {"tau": 2.0}}})


@pytest.fixture
def slow():
    """SlowCell registered for one test, then removed, so the rest of the suite never sees it."""
    registry.register(SLOW)
    try:
        yield SLOW
    finally:
        registry.unregister("slow")


# every per-entry check of the conformance suite, but learning the delayed copy (output at t the input
# at t - 1), which a layer that updates every 2 or 3 steps cannot do
SLOW_CHECKS = [c for c in CONFORMANCE if c != "test_learns_delayed_copy_halving_the_loss_in_seconds"]


@pytest.mark.parametrize("variant", list(SLOW.variants))
@pytest.mark.parametrize("check", SLOW_CHECKS)
def test_slow_cell_passes_the_conformance_suite(slow, check, variant):
    getattr(test_conformance, check)(slow, variant, slow.variants[variant])
