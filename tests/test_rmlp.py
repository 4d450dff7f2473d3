"""RMLP (recurrent multilayer perceptron): equations, state layout, recurrent dropout, bad input, learning."""

import time

import pytest
import torch

import rnnzoo
from rnnzoo.cells.rmlp import RMLPCell


def reference_step(x, hs, Ws, Us, bs, act=torch.tanh):
    """Puskorius & Feldkamp's RMLP step, written out: layer l reads layer l-1 of the same step."""
    new, below = [], x
    for h, W, U, b in zip(hs, Ws, Us, bs):
        below = act(below @ W.T + h @ U.T + b)
        new.append(below)
    return new


def params(cell):
    return list(cell.weight_ih), list(cell.weight_hh), list(cell.bias)


def randomise_(cell):
    with torch.no_grad():
        for p in cell.parameters():
            p.copy_(torch.randn_like(p) * 0.5)


@pytest.mark.parametrize("activation, act", [("tanh", torch.tanh), ("relu", torch.relu),
                                             ("sigmoid", torch.sigmoid)])
def test_one_step_matches_published_rmlp_equations_float64(activation, act):
    cell = RMLPCell(3, 4, layer_sizes=(5, 2), activation=activation).double()
    randomise_(cell)
    x = torch.randn(1, 6, 3, dtype=torch.float64)
    state = tuple(torch.randn(6, s, dtype=torch.float64) for s in (5, 2, 4))
    y, new = cell.step(cell.project(x)[0], state)
    want = reference_step(x[0], state, *params(cell), act=act)
    for got, ref in zip(new, want):
        torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(y, want[-1], rtol=1e-12, atol=1e-12)


def test_layer_over_sequence_matches_reference_loop_with_initial_state_float64():
    layer = rnnzoo.RecurrentMLP(3, 4, layer_sizes=(5,), batch_first=True).double()
    cell = layer.cells[0]
    randomise_(cell)
    x = torch.randn(2, 7, 3, dtype=torch.float64)
    h0 = (torch.randn(1, 2, 5, dtype=torch.float64), torch.randn(1, 2, 4, dtype=torch.float64))
    y, (h1, h2) = layer(x, h0)
    hs, ys = [h[0] for h in h0], []
    for t in range(7):
        hs = reference_step(x[:, t], hs, *params(cell))
        ys.append(hs[-1])
    torch.testing.assert_close(y, torch.stack(ys, 1), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(h1[0], hs[0], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(h2[0], hs[1], rtol=1e-12, atol=1e-12)


def test_state_is_one_tensor_per_layer_sized_by_layer_sizes_and_hidden_size():
    layer = rnnzoo.RecurrentMLP(3, 4, layer_sizes=[6, 5], num_layers=2, bidirectional=True)
    cell = layer.cells[0]
    assert cell.state_names == ("h1", "h2", "h3")
    assert cell.recurrent_inputs == (0, 1, 2)
    y, state = layer(torch.randn(7, 2, 3))
    assert y.shape == (7, 2, 8)
    assert [tuple(s.shape) for s in state] == [(4, 2, 6), (4, 2, 5), (4, 2, 4)]
    assert RMLPCell(3, 4).layer_sizes == (4,)  # default: one inner layer of hidden_size units


def test_recurrent_dropout_mask_reaches_each_layers_recurrence():
    cell = RMLPCell(3, 4, layer_sizes=(5, 2)).double()
    randomise_(cell)
    xp = cell.project(torch.randn(1, 3, 3, dtype=torch.float64))[0]
    state = tuple(torch.randn(3, s, dtype=torch.float64) for s in (5, 2, 4))
    for l in range(3):
        mask = tuple(torch.zeros_like(s) if j == l else None for j, s in enumerate(state))
        zeroed = tuple(torch.zeros_like(s) if j == l else s for j, s in enumerate(state))
        _, masked = cell.step(xp, state, mask)
        _, want = cell.step(xp, zeroed)
        for a, b in zip(masked, want):
            torch.testing.assert_close(a, b)
        assert not torch.allclose(masked[l], cell.step(xp, state)[1][l])


def test_recurrent_dropout_changes_training_output_but_not_eval_output():
    layer = rnnzoo.RecurrentMLP(3, 4, layer_sizes=(5,), recurrent_dropout=0.5)
    x = torch.randn(6, 2, 3)
    layer.eval()
    y_eval = layer(x)[0]
    torch.testing.assert_close(layer(x)[0], y_eval)
    layer.train()
    assert not torch.allclose(layer(x)[0], y_eval)


@pytest.mark.parametrize("layer_sizes, error", [
    ((), ValueError), ([], ValueError), ((3, 0), ValueError), ((-2,), ValueError),
    ((3, 2.5), TypeError), ((None,), TypeError), ((True,), TypeError), ("5", TypeError),
    (5, TypeError), ({5}, TypeError)])
def test_bad_layer_sizes_raise_naming_layer_sizes(layer_sizes, error):
    with pytest.raises(error, match="layer_sizes"):
        RMLPCell(3, 4, layer_sizes=layer_sizes)
    with pytest.raises(error, match="layer_sizes"):
        rnnzoo.RecurrentMLP(3, 4, layer_sizes=layer_sizes)


@pytest.mark.parametrize("activation, error", [("swish", ValueError), ("", ValueError),
                                               (None, TypeError), (torch.tanh, TypeError)])
def test_bad_activation_raises_naming_activation(activation, error):
    with pytest.raises(error, match="activation"):
        rnnzoo.RecurrentMLP(3, 4, activation=activation)


def test_initial_state_with_wrong_layer_count_or_size_is_rejected_naming_state():
    layer = rnnzoo.RecurrentMLP(3, 4, layer_sizes=(5,))
    x = torch.randn(6, 2, 3)
    with pytest.raises(ValueError, match="state"):
        layer(x, (torch.zeros(1, 2, 5),))
    with pytest.raises(ValueError, match="state h1"):
        layer(x, (torch.zeros(1, 2, 4), torch.zeros(1, 2, 4)))


def test_learns_delayed_copy_loss_at_least_halves_within_seconds(one_thread):
    torch.manual_seed(0)
    delay, L, N = 2, 16, 64
    rnn = rnnzoo.RecurrentMLP(1, 16, layer_sizes=(16,), batch_first=True)
    readout = torch.nn.Linear(16, 1)
    opt = torch.optim.Adam([*rnn.parameters(), *readout.parameters()], lr=0.02)
    x = torch.randn(N, L, 1)
    target = torch.cat([torch.zeros(N, delay, 1), x[:, :-delay]], 1)

    def loss_fn():
        return torch.nn.functional.mse_loss(readout(rnn(x)[0])[:, delay:], target[:, delay:])

    first, start = loss_fn().item(), time.perf_counter()
    for _ in range(80):
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        opt.step()
    final = loss_fn().item()
    assert final < 0.5 * first, (first, final)
    assert time.perf_counter() - start < 20  # ~1 s on one idle core; generous for a shared machine
