"""Clockwork RNN: the equations against a plain loop, modules held bitwise between their updates, the
block upper-triangular recurrent weight (also after training), per-sequence clocks under masking and
across calls, gradcheck, and the options."""

import pytest
import torch
from torch.func import functional_call

import rnnzoo
from rnnzoo.cells.clockwork import ClockworkCell

F64 = torch.float64


def randomised(layer, seed=0, scale=0.5):
    """Random weights, kept block upper-triangular (as training keeps them)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for cell in layer.cells:
            for p in cell.parameters():
                p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * scale)
            cell.weight_hh.mul_(cell.mask)
    return layer


def reference(cell, x):
    """The paper's equations, module by module, for time-major x (L, N, H_in), from h = 0."""
    bounds = torch.cumsum(torch.tensor((0, *cell.module_sizes)), 0).tolist()
    h = x.new_zeros(x.shape[1], cell.hidden_size)
    ys = []
    for t in range(x.shape[0]):
        new = h.clone()
        for i, period in enumerate(cell.periods):
            if t % period == 0:
                a, b = bounds[i], bounds[i + 1]  # module i hears modules i, i + 1, ... (units a:)
                u = x[t] @ cell.weight_ih[a:b].T + h[:, a:] @ cell.weight_hh[a:b, a:].T + cell.bias[a:b]
                new[:, a:b] = torch.tanh(u)
        h = new
        ys.append(h)
    return torch.stack(ys)


def test_the_step_is_the_papers_equations():
    layer = randomised(rnnzoo.Clockwork(3, 7, periods=(1, 2, 3, 5)).double())
    x = torch.randn(11, 2, 3, dtype=F64)
    y, (h, t) = layer(x)
    torch.testing.assert_close(y, reference(layer.cells[0], x), atol=1e-12, rtol=0)
    assert layer.cells[0].module_sizes == (2, 2, 2, 1)
    assert t.flatten().tolist() == [11.0, 11.0]  # 11 steps, lcm(1, 2, 3, 5) = 30


def test_a_module_holds_its_state_bitwise_between_its_updates():
    layer = randomised(rnnzoo.Clockwork(2, 6, periods=(1, 3, 4), batch_first=True))
    y, _ = layer(torch.randn(2, 13, 2))  # (N, L, H), modules of 2 units
    for i, period in enumerate((1, 3, 4)):
        units = y[:, :, 2 * i:2 * i + 2]
        for t in range(1, 13):
            same = torch.equal(units[:, t], units[:, t - 1])
            assert same == (t % period != 0), (period, t)


def test_the_recurrent_weight_is_block_upper_triangular_and_training_keeps_it_so():
    layer = rnnzoo.Clockwork(3, 9, periods=(1, 2, 4), batch_first=True)  # modules of 3 units
    cell = layer.cells[0]
    below = torch.zeros(9, 9, dtype=torch.bool)
    for i in range(3):
        below[3 * i:3 * i + 3, :3 * i] = True  # module i hears no faster module j < i
    torch.testing.assert_close(cell.mask, (~below).float())
    assert torch.all(cell.weight_hh[below] == 0) and torch.all(cell.weight_hh[~below] != 0)
    opt = torch.optim.AdamW(layer.parameters(), lr=0.1, weight_decay=0.1)
    x = torch.randn(4, 8, 3)
    for _ in range(3):
        opt.zero_grad()
        y, (h, t) = layer(x)
        y.square().mean().backward()
        assert torch.all(cell.weight_hh.grad[below] == 0)
        opt.step()
    assert torch.all(cell.weight_hh[below] == 0) and torch.all(cell.recurrent_weight()[below] == 0)
    assert cell.weight_hh.grad[~below].abs().min() > 0  # every allowed connection learns
    # weights loaded from elsewhere: the step still ignores the entries below the blocks
    with torch.no_grad():
        cell.weight_hh[below] = 5.0
    assert torch.all(cell.recurrent_weight()[below] == 0)


def test_padded_batch_equals_each_sequence_alone_with_its_own_clock():
    layer = randomised(rnnzoo.Clockwork(3, 5, periods=(1, 2, 3), num_layers=2, bidirectional=True).double().eval())
    x = torch.randn(9, 3, 3, dtype=F64)
    lengths = torch.tensor([9, 4, 7])
    x_padded = x.clone()
    for n, length in enumerate(lengths):
        x_padded[length:, n] = 1e3
    y, (h, t) = layer(x_padded, lengths=lengths)
    # each direction counted the real steps only, modulo lcm(1, 2, 3) = 6
    assert t[:, :, 0].tolist() == [[3.0, 4.0, 1.0]] * 4
    for n, length in enumerate(lengths.tolist()):
        y_alone, (h_alone, t_alone) = layer(x[:length, n:n + 1])
        torch.testing.assert_close(y[:length, n:n + 1], y_alone, atol=1e-12, rtol=0)
        assert torch.all(y[length:, n] == 0)
        torch.testing.assert_close(h[:, n:n + 1], h_alone, atol=1e-12, rtol=0)
        assert torch.equal(t[:, n:n + 1], t_alone)


@pytest.mark.parametrize("split", [1, 3, 5])
def test_a_state_passed_back_continues_every_clock(split):
    layer = randomised(rnnzoo.Clockwork(3, 6, periods=(1, 2, 4), batch_first=True).double())
    x = torch.randn(2, 9, 3, dtype=F64)
    y, (h, t) = layer(x)
    y1, s1 = layer(x[:, :split])
    y2, (h2, t2) = layer(x[:, split:], state=s1)
    torch.testing.assert_close(torch.cat([y1, y2], dim=1), y, atol=1e-12, rtol=0)
    torch.testing.assert_close(h2, h, atol=1e-12, rtol=0)
    assert torch.equal(t2, t) and t.flatten().tolist() == [1.0, 1.0]  # 9 mod 4


def test_gradcheck_float64_padded_with_a_running_clock():
    layer = randomised(rnnzoo.Clockwork(2, 4, periods=(1, 2, 3), num_layers=2, bidirectional=True).double())
    x = torch.randn(5, 3, 2, dtype=F64, requires_grad=True)
    lengths = torch.tensor([5, 2, 4])
    h0 = torch.randn(4, 3, 4, dtype=F64, requires_grad=True)
    t0 = torch.tensor([1.0, 2.0, 5.0], dtype=F64).expand(4, 3)[..., None]  # mid-cycle clocks
    names = [n for n, _ in layer.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_() for _, p in layer.named_parameters())

    def run(x, h0, *ps):
        y, (h, t) = functional_call(layer, dict(zip(names, ps)), (x,), {"state": (h0, t0), "lengths": lengths})
        return y, h

    assert torch.autograd.gradcheck(run, (x, h0, *params), eps=1e-6, atol=1e-6, rtol=1e-4)


def test_options_and_their_errors():
    assert ClockworkCell(3, 10).periods == (1, 2, 4, 8)
    assert ClockworkCell(3, 2).periods == (1, 2)  # default: 4 modules, or one per unit when fewer
    assert ClockworkCell(3, 10, modules=3).periods == (1, 2, 4)
    assert ClockworkCell(3, 10, periods=(2, 3), modules=2).cycle == 6
    assert ClockworkCell(3, 10, periods=[1, 16]).module_sizes == (5, 5)
    with pytest.raises(ValueError, match=r"periods must be strictly increasing"):
        ClockworkCell(3, 10, periods=(1, 4, 2))
    with pytest.raises(ValueError, match=r"periods\[0\] must be >= 1"):
        ClockworkCell(3, 10, periods=(0, 1))
    with pytest.raises(TypeError, match=r"periods must be a non-empty tuple"):
        ClockworkCell(3, 10, periods=4)
    with pytest.raises(ValueError, match=r"modules \(3\) must be len\(periods\) \(2\)"):
        ClockworkCell(3, 10, periods=(1, 2), modules=3)
    with pytest.raises(ValueError, match=r"5 modules need hidden_size >= 5"):
        ClockworkCell(3, 4, modules=5)
    with pytest.raises(ValueError, match=r"activation must be one of"):
        ClockworkCell(3, 4, activation="gelu")
