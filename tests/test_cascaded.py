"""Pollack's sequential cascaded network: equations, options, bad input, and that it learns parity."""

import pytest
import torch

import rnnzoo


def pollack_reference(x, z0, weight_context, bias_context, act):
    """Pollack 1991 written out: W_t = reshape(W_c z_{t-1} + b_c) to (H, K), z_t = act(W_t [x_t; 1]).

    x (L, N, H_in), z0 (N, H); the context weights are indexed as documented:
    Wc_ijk = weight_context[i * K + k, j], bc_ik = bias_context[i * K + k].
    """
    L, N, H_in = x.shape
    H, K = z0.shape[1], H_in + 1
    zs, z = [], z0
    for t in range(L):
        new = torch.empty_like(z)
        for n in range(N):
            x_tilde = list(x[t, n]) + [torch.tensor(1.0, dtype=x.dtype)]
            for i in range(H):
                total = torch.tensor(0.0, dtype=x.dtype)
                for k in range(K):
                    w_ik = bias_context[i * K + k] + sum(weight_context[i * K + k, j] * z[n, j]
                                                         for j in range(H))
                    total = total + w_ik * x_tilde[k]
                new[n, i] = act(total)
        z = new
        zs.append(z)
    return torch.stack(zs), z


@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
@pytest.mark.parametrize("steps", [1, 3])
def test_steps_match_pollack_equation_written_with_loops(activation, steps):
    torch.manual_seed(0)
    rnn = rnnzoo.SequentialCascaded(3, 4, activation=activation).double()
    cell = rnn.cells[0]
    x = torch.randn(steps, 2, 3, dtype=torch.float64)
    z0 = torch.rand(2, 4, dtype=torch.float64)
    y, z = rnn(x, state=z0[None])
    act = torch.sigmoid if activation == "sigmoid" else torch.tanh
    with torch.no_grad():
        ys_ref, z_ref = pollack_reference(x, z0, cell.weight_context, cell.bias_context, act)
    torch.testing.assert_close(y, ys_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(z[0], z_ref, rtol=1e-12, atol=1e-12)


def test_default_activation_is_pollacks_sigmoid_and_state_stays_in_unit_interval():
    rnn = rnnzoo.SequentialCascaded(2, 5)
    assert rnn.cells[0].activation == "sigmoid"
    y, _ = rnn(torch.randn(6, 3, 2) * 10)
    assert bool(((y > 0) & (y < 1)).all())


def test_weights_are_a_function_of_state_so_the_first_step_from_zero_state_reads_x():
    # with z_0 = 0 the step's weights are b_c alone; a zero-initialised b_c would ignore x_1
    torch.manual_seed(1)
    rnn = rnnzoo.SequentialCascaded(2, 4)
    with torch.no_grad():
        y, _ = rnn(torch.randn(1, 5, 2))
    assert float(y[0].std(dim=0).min()) > 0


def test_parameter_shapes_follow_documented_layout():
    cell = rnnzoo.SequentialCascaded(3, 4).cells[0]
    assert cell.weight_context.shape == (4 * 4, 4)  # (H * (H_in + 1), H)
    assert cell.bias_context.shape == (16,)
    assert sum(p.numel() for p in cell.parameters()) == 16 * 4 + 16


def test_recurrent_dropout_masks_the_context_input_in_training_only():
    torch.manual_seed(2)
    rnn = rnnzoo.SequentialCascaded(2, 6, recurrent_dropout=0.5)
    x = torch.randn(5, 4, 2)
    rnn.eval()
    y_eval, _ = rnn(x)
    torch.testing.assert_close(rnn(x)[0], y_eval)
    rnn.train()
    y_train, _ = rnn(x)
    torch.testing.assert_close(y_train[0], y_eval[0])  # z_0 = 0: nothing to mask at step 1
    assert not torch.allclose(y_train[1:], y_eval[1:])


@pytest.mark.parametrize("activation", ["relu", "identity", "softmax"])
def test_activation_other_than_sigmoid_or_tanh_raises_naming_activation(activation):
    with pytest.raises(ValueError, match="activation"):
        rnnzoo.SequentialCascaded(3, 4, activation=activation)


def test_bad_sizes_and_unknown_options_raise():
    with pytest.raises(ValueError, match="hidden_size"):
        rnnzoo.SequentialCascaded(3, 0)
    with pytest.raises(TypeError, match="input_size"):
        rnnzoo.SequentialCascaded(3.0, 4)
    with pytest.raises(TypeError, match="peephole"):
        rnnzoo.SequentialCascaded(3, 4, peephole=True)
    with pytest.raises(ValueError, match="x must have"):
        rnnzoo.SequentialCascaded(3, 4)(torch.randn(5, 2, 2))


def test_learns_running_parity_and_generalises_to_longer_strings(one_thread):
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    rnn = rnnzoo.SequentialCascaded(1, 4, batch_first=True)
    head = torch.nn.Linear(4, 1)
    opt = torch.optim.Adam([*rnn.parameters(), *head.parameters()], lr=0.05)
    bits = torch.randint(0, 2, (64, 8, 1), generator=g).float()
    target = bits.cumsum(1) % 2
    losses = []
    for _ in range(100):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(head(rnn(bits)[0]), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] / 2
    longer = torch.randint(0, 2, (128, 20, 1), generator=g).float()
    with torch.no_grad():
        accuracy = ((head(rnn(longer)[0]) > 0).float() == longer.cumsum(1) % 2).float().mean()
    assert accuracy > 0.9  # a dynamical recognizer: parity of strings 2.5x longer than any seen
