"""Second-order RNN (Giles et al. 1992): its equation, the low-rank form, its options, and learning."""

import math
import time

import pytest
import torch
import torch.nn.functional as F

import rnnzoo
from rnnzoo.cells.second_order import SecondOrderCell

ACTS = {"sigmoid": lambda s: 1 / (1 + math.exp(-s)), "tanh": math.tanh}


def giles_step(W, b, h, x, act):
    """h'_i = act(Σ_jk W_ijk h_j x_k + b_i), written out index by index."""
    H, _, K = W.shape
    out = torch.empty(h.shape[0], H, dtype=torch.float64)
    for n in range(h.shape[0]):
        for i in range(H):
            s = float(b[i])
            for j in range(H):
                for k in range(K):
                    s += float(W[i, j, k]) * float(h[n, j]) * float(x[n, k])
            out[n, i] = act(s)
    return out


def cp_weight(A, B, C):
    """W_ijk = Σ_r A_ir B_jr C_kr, by loops."""
    W = torch.zeros(A.shape[0], B.shape[0], C.shape[0], dtype=torch.float64)
    for i in range(A.shape[0]):
        for j in range(B.shape[0]):
            for k in range(C.shape[0]):
                W[i, j, k] = sum(float(A[i, r] * B[j, r] * C[k, r]) for r in range(A.shape[1]))
    return W


def one_step(cell, h, x):
    y, (h_new,) = cell.step(cell.project(x[None])[0], (h,))
    assert y is h_new
    return y


@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
def test_full_rank_step_matches_the_published_equation_float64(activation):
    cell = SecondOrderCell(3, 4, activation=activation).double()
    assert cell.weight.shape == (4, 4, 3)
    h, x = torch.randn(2, 4, dtype=torch.float64), torch.randn(2, 3, dtype=torch.float64)
    want = giles_step(cell.weight.detach(), cell.bias.detach(), h, x, ACTS[activation])
    torch.testing.assert_close(one_step(cell, h, x), want, atol=1e-12, rtol=0)


@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
@pytest.mark.parametrize("rank", [1, 3, 8])
def test_low_rank_step_equals_the_equation_with_W_built_from_A_B_C(activation, rank):
    cell = SecondOrderCell(2, 4, rank=rank, activation=activation).double()
    A, B, C = (p.detach() for p in (cell.weight_a, cell.weight_b, cell.weight_c))
    assert A.shape == (4, rank) and B.shape == (4, rank) and C.shape == (2, rank)
    W = cp_weight(A, B, C)
    torch.testing.assert_close(cell.full_weight().detach(), W, atol=1e-12, rtol=0)
    h, x = torch.randn(3, 4, dtype=torch.float64), torch.randn(3, 2, dtype=torch.float64)
    want = giles_step(W, cell.bias.detach(), h, x, ACTS[activation])
    torch.testing.assert_close(one_step(cell, h, x), want, atol=1e-12, rtol=0)


def test_with_a_zero_start_state_the_first_output_is_act_of_the_bias_alone():
    """M(x) h vanishes at h = 0: the documented reason to pass a start state (Giles: (1, 0, ..., 0))."""
    layer = rnnzoo.SecondOrder(3, 4)
    y, _ = layer(torch.randn(1, 5, 3))
    torch.testing.assert_close(y[0], torch.sigmoid(layer.cells[0].bias).expand(5, 4).detach())


def test_rank_up_to_the_cp_bound_is_accepted_and_above_it_is_a_value_error():
    # every H x H x H_in tensor has CP rank <= H * min(H, H_in): 4 * min(4, 3) = 12
    assert rnnzoo.SecondOrder(3, 4, rank=12).cells[0].rank == 12
    assert rnnzoo.SecondOrder(5, 2, rank=4).cells[0].rank == 4
    for h_in, h, bad in ((3, 4, 13), (5, 2, 5), (1, 6, 7)):
        with pytest.raises(ValueError, match=r"rank must be <= .* = %d" % (bad - 1)):
            rnnzoo.SecondOrder(h_in, h, rank=bad)


def test_bad_rank_and_activation_raise_errors_naming_the_argument():
    for bad in (0, -3):
        with pytest.raises(ValueError, match="rank"):
            rnnzoo.SecondOrder(3, 4, rank=bad)
    for bad in (2.0, True, "2"):
        with pytest.raises(TypeError, match="rank"):
            rnnzoo.SecondOrder(3, 4, rank=bad)
    for bad in ("relu", "identity", None):
        with pytest.raises(ValueError, match="activation"):
            rnnzoo.SecondOrder(3, 4, activation=bad)


def test_repr_and_parameters_follow_the_options():
    full, low = rnnzoo.SecondOrder(3, 4), rnnzoo.SecondOrder(3, 4, rank=2, activation="tanh")
    assert [n for n, _ in full.cells[0].named_parameters()] == ["weight", "bias"]
    assert [n for n, _ in low.cells[0].named_parameters()] == ["weight_a", "weight_b", "weight_c", "bias"]
    assert repr(full.cells[0]) == "SecondOrderCell(3, 4, activation='sigmoid')"
    assert repr(low.cells[0]) == "SecondOrderCell(3, 4, rank=2, activation='tanh')"


@pytest.mark.parametrize("options", [{}, {"rank": 4}], ids=["full", "rank4"])
def test_learns_running_parity_halving_the_loss_in_seconds(options):
    """Bits arrive one-hot; at each step the target is the parity of the bits so far (fresh batches)."""
    torch.manual_seed(0)
    H, N, L = 8, 64, 10
    layer = rnnzoo.SecondOrder(2, H, **options)
    readout = torch.nn.Linear(H, 1)
    params = list(layer.parameters()) + list(readout.parameters())
    opt = torch.optim.Adam(params, lr=0.05)
    start_state = torch.zeros(1, N, H)
    start_state[..., 0] = 1.0  # Giles et al.'s start state: with h = 0 the first bit would be lost

    def loss_fn():
        bits = torch.randint(0, 2, (L, N))
        y, _ = layer(F.one_hot(bits, 2).float(), state=start_state)
        return F.binary_cross_entropy_with_logits(readout(y).squeeze(-1), (bits.cumsum(0) % 2).float())

    first = loss_fn().item()
    start, loss = time.perf_counter(), first
    for _ in range(400):
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        opt.step()
        if loss.item() < first / 2 or time.perf_counter() - start > 20:
            break
    assert loss.item() < first / 2, (first, loss.item())
