"""rnnzoo.reference: hand-written BPTT against torch.autograd and finite differences, binary addition."""

import numpy as np
import pytest
import torch

from rnnzoo.reference import (PARAMS, NumpyElman, addition_batch, encode_addition, exact_sums, from_bits,
                              to_bits, train_addition)


def torch_bce(params, x, targets):
    """The same network and loss, written independently in torch float64."""
    W_xh, W_hh, b_h, W_hy, b_y = (params[k] for k in PARAMS)
    h = torch.zeros(x.shape[1], W_hh.shape[0], dtype=torch.float64)
    logits = []
    for t in range(x.shape[0]):
        h = torch.tanh(x[t] @ W_xh.T + h @ W_hh.T + b_h)
        logits.append(h @ W_hy.T + b_y)
    return torch.nn.functional.binary_cross_entropy_with_logits(torch.stack(logits), targets)


def random_case(I, H, O, L, N, seed):
    rng = np.random.default_rng(seed)
    model = NumpyElman(I, H, O, seed=seed)
    for k in ("b_h", "b_y"):  # biases start at 0: make them matter
        model.params[k] += rng.normal(0, 0.5, model.params[k].shape)
    x = rng.normal(0, 1, (L, N, I))
    targets = rng.uniform(0, 1, (L, N, O))
    targets[0] = rng.integers(0, 2, (N, O))  # hard and soft targets
    return model, x, targets


@pytest.mark.parametrize("I,H,O,L,N", [(2, 16, 1, 9, 5), (3, 7, 4, 1, 2), (5, 4, 2, 23, 3)])
def test_bptt_matches_autograd(I, H, O, L, N):
    model, x, targets = random_case(I, H, O, L, N, seed=L)
    loss, grads = model.loss_and_grads(x, targets)
    params = {k: torch.tensor(v, requires_grad=True) for k, v in model.params.items()}
    ref = torch_bce(params, torch.tensor(x), torch.tensor(targets))
    ref.backward()
    assert abs(loss - ref.item()) < 1e-12
    assert set(grads) == set(PARAMS)
    for k in PARAMS:
        assert grads[k].shape == model.params[k].shape
        np.testing.assert_allclose(grads[k], params[k].grad.numpy(), rtol=1e-8, atol=1e-8, err_msg=k)


def test_bptt_matches_finite_differences():
    model, x, targets = random_case(3, 6, 2, 7, 4, seed=1)
    _, grads = model.loss_and_grads(x, targets)
    rng, eps = np.random.default_rng(0), 1e-6
    for k in PARAMS:
        p = model.params[k]
        for _ in range(3):
            i = tuple(int(rng.integers(0, n)) for n in p.shape)
            old = p[i]
            p[i] = old + eps
            up = model.loss_and_grads(x, targets)[0]
            p[i] = old - eps
            down = model.loss_and_grads(x, targets)[0]
            p[i] = old
            assert abs((up - down) / (2 * eps) - grads[k][i]) < 1e-7 * max(1.0, abs(grads[k][i])), (k, i)


def test_forward_shapes_and_loss_value():
    model, x, targets = random_case(2, 5, 3, 4, 6, seed=2)
    y, h = model.forward(x)
    assert y.shape == (4, 6, 3) and h.shape == (4, 6, 5) and y.dtype == np.float64
    assert np.all((0 < y) & (y < 1)) and np.all(np.abs(h) < 1)
    bce = -np.mean(targets * np.log(y) + (1 - targets) * np.log(1 - y))
    assert abs(model.loss_and_grads(x, targets)[0] - bce) < 1e-12
    np.testing.assert_array_equal(model.predict(x), (y > 0.5).astype(int))


def test_learns_8_bit_addition_and_generalises_to_32_bits():
    result = train_addition(bits=8, hidden=16, seed=0, log=None)  # seeds 0..39 verified
    assert result.converged and result.accuracy == 1.0 and result.steps < 1000
    assert len(set(zip(*result.held_out))) == 1000  # 1,000 distinct held-out pairs
    x, t = encode_addition(*result.held_out, bits=8)
    assert exact_sums(result.model, x, t) == 1.0
    assert result.test_bits == 32 and result.test_accuracy == 1.0
    x, _ = encode_addition([173, 2**32 - 1], [62, 2**32 - 1], bits=32)
    assert from_bits(result.model.predict(x)[:, :, 0]) == [235, 2**33 - 2]


def test_train_addition_logs_progress():
    lines = []
    result = train_addition(bits=3, hidden=8, seed=1, steps=50, test_bits=None, log=lines.append,
                            log_every=10)
    assert result.test_accuracy is None and result.steps <= 50 and len(result.held_out[0]) == 16
    assert lines and all(line.startswith("step ") and "held-out exact sums" in line for line in lines)


def test_bits_round_trip():
    values = [0, 1, 2, 5, 173, 255]
    bits = to_bits(values, 8)
    assert bits.shape == (8, 6) and bits.dtype == np.float64
    np.testing.assert_array_equal(bits[:, 4], [1, 0, 1, 1, 0, 1, 0, 1])  # 173, least significant first
    assert from_bits(bits) == values
    assert from_bits(to_bits(np.array(values), 8)) == values
    big = [2**100 + 12345, 3**60, 0]
    assert from_bits(to_bits(big, 101)) == big


def test_addition_encoding():
    x, t = encode_addition([173, 255], [62, 255], bits=8)
    assert x.shape == (9, 2, 2) and t.shape == (9, 2, 1)
    assert np.all(x[8] == 0)  # the extra step reads (0, 0) and writes the carry
    assert from_bits(x[:8, :, 0]) == [173, 255] and from_bits(x[:8, :, 1]) == [62, 255]
    assert from_bits(t[:, :, 0]) == [235, 510]
    rng = np.random.default_rng(0)
    for bits in (1, 8, 40, 70):
        x, t = addition_batch(50, bits, rng)
        a, b = from_bits(x[:bits, :, 0]), from_bits(x[:bits, :, 1])
        assert x.shape == (bits + 1, 50, 2) and np.all(x[bits] == 0)
        assert from_bits(t[:, :, 0]) == [u + v for u, v in zip(a, b)]
        np.testing.assert_array_equal(encode_addition(a, b, bits)[1], t)


@pytest.mark.parametrize("call,name", [
    (lambda: NumpyElman(0, 4), "input_size"),
    (lambda: NumpyElman(2, 0), "hidden_size"),
    (lambda: NumpyElman(2, 4, -1), "output_size"),
    (lambda: NumpyElman(2, 4.5), "hidden_size"),
    (lambda: train_addition(bits=0, log=None), "bits"),
    (lambda: train_addition(hidden=0, log=None), "hidden"),
    (lambda: train_addition(steps=0, log=None), "steps"),
    (lambda: train_addition(test_bits=0, log=None), "test_bits"),
    (lambda: addition_batch(10, 0, np.random.default_rng(0)), "bits"),
    (lambda: addition_batch(0, 8, np.random.default_rng(0)), "n"),
    (lambda: encode_addition([1, 2], [3], 8), "a and b"),
    (lambda: to_bits([256], 8), "values"),
    (lambda: to_bits([-1], 8), "values"),
    (lambda: to_bits([1.5], 8), "values"),
    (lambda: to_bits([1], 0), "width"),
    (lambda: from_bits(np.zeros(3)), "bits"),
])
def test_bad_arguments_raise_value_error_naming_them(call, name):
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        call()


def test_mismatched_shapes_raise_value_error():
    model = NumpyElman(2, 4, 1)
    with pytest.raises(ValueError, match=r"^x\b"):
        model.forward(np.zeros((5, 3, 3)))
    with pytest.raises(ValueError, match=r"^x\b"):
        model.forward(np.zeros((5, 2)))
    with pytest.raises(ValueError, match=r"^targets\b"):
        model.loss_and_grads(np.zeros((5, 3, 2)), np.zeros((5, 3, 2)))
    with pytest.raises(ValueError, match=r"^targets\b"):
        model.loss_and_grads(np.zeros((5, 3, 2)), np.zeros((4, 3, 1)))
