"""rnnzoo.models.rnn_fcn.RNNFCN (LSTM-FCN / GRU-FCN): a padded batch gives what each series gives alone, the
masked batch norm takes its statistics from real steps only, the gradients are right (float64 gradcheck),
it rebuilds from its JSON config and safetensors weights, each bad argument is refused by name, and it
learns a small two-class problem."""

import json
import math
import warnings

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch.func import functional_call

from rnnzoo.models import RNNFCN
from rnnzoo.models.rnn_fcn import MaskedBatchNorm1d

pytestmark = pytest.mark.usefixtures("one_thread")


def padded_batch(lengths=(9, 4, 7, 1), D=2, dtype=torch.float64, seed=1, fill="garbage"):
    """x (N, L, D) right-padded to max(lengths), its padded steps random garbage (or zeros), and lengths."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor(lengths)
    x = torch.randn(len(lengths), int(lengths.max()), D, dtype=dtype, generator=g)
    pad = torch.arange(x.shape[1])[None, :] >= lengths[:, None]
    garbage = 100 * torch.randn(x.shape, dtype=dtype, generator=g) if fill == "garbage" else torch.zeros_like(x)
    return torch.where(pad[..., None], garbage, x), lengths


def randomise(model, seed=0):
    """Random parameters and batch-norm running statistics (positive variances), so that eval mode is
    not the identity normalisation."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * 0.5)
        for norm in model.norms:
            norm.running_mean.copy_(torch.randn(norm.running_mean.shape, generator=g) * 0.3)
            norm.running_var.copy_(torch.rand(norm.running_var.shape, generator=g) + 0.5)
    return model


def tiny(cell="gru", **kwargs):
    options = dict(hidden_size=3, output_size=2, filters=(3, 4), kernels=(4, 3), rnn_dropout=0.0)
    return RNNFCN(cell, 2, **{**options, **kwargs})


@pytest.mark.parametrize("pool", ["last", "mean", "max"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_padded_batch_gives_each_series_logits_alone(cell, bidirectional, pool):
    torch.manual_seed(0)
    model = randomise(RNNFCN(cell, 2, 4, 3, bidirectional=bidirectional, filters=(5, 6, 4), kernels=(8, 5, 3),
                             pool=pool).double()).eval()
    x, lengths = padded_batch()
    with torch.no_grad():
        logits, _ = model(x, lengths)
        for i, T in enumerate(lengths.tolist()):
            alone, _ = model(x[i:i + 1, :T])  # no padding, no lengths
            torch.testing.assert_close(logits[i:i + 1], alone, rtol=0, atol=1e-10)


def test_masked_batch_norm_uses_the_real_steps_only():
    g = torch.Generator().manual_seed(3)
    lengths = torch.tensor([6, 2, 5])
    x = torch.randn(3, 4, 6, dtype=torch.float64, generator=g)  # (N, C, L)
    valid = torch.arange(6)[None, :] < lengths[:, None]
    real = torch.cat([x[i, :, :T] for i, T in enumerate(lengths.tolist())], dim=1)  # (C, 13): real steps
    norm = MaskedBatchNorm1d(4).double().train()
    reference = torch.nn.BatchNorm1d(4).double().train()
    weight, bias = torch.randn(2, 4, generator=g, dtype=torch.float64)
    with torch.no_grad():
        for m in (norm, reference):
            m.weight.copy_(weight)
            m.bias.copy_(bias)
        y = norm(x, valid)
        expected = reference(real.T).T  # torch's batch norm of the real steps concatenated, (C, 13)
    got = torch.cat([y[i, :, :T] for i, T in enumerate(lengths.tolist())], dim=1)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)
    assert bool((y[~valid[:, None, :].expand_as(y)] == 0).all())  # 0 at padded steps
    # the running statistics (unbiased variance) are torch's too
    torch.testing.assert_close(norm.running_mean, reference.running_mean, rtol=0, atol=1e-12)
    torch.testing.assert_close(norm.running_var, reference.running_var, rtol=0, atol=1e-12)
    assert norm.state_dict().keys() == reference.state_dict().keys()
    # padded values change nothing at real steps
    other = torch.where(valid[:, None, :], x, 1e3 * torch.randn(x.shape, generator=g, dtype=x.dtype))
    with torch.no_grad():
        again = MaskedBatchNorm1d(4).double().train()
        again.load_state_dict({**norm.state_dict(), "running_mean": torch.zeros(4), "running_var": torch.ones(4)})
        torch.testing.assert_close(again(other, valid), y, rtol=0, atol=1e-12)


def test_padding_changes_nothing_in_training_mode():
    torch.manual_seed(0)
    model = randomise(tiny("lstm", bidirectional=True).double()).train()
    zeros, lengths = padded_batch(fill="zeros")
    garbage = torch.cat([padded_batch(fill="garbage")[0], 100 * torch.randn(4, 5, 2, dtype=torch.float64)], dim=1)
    # more padded steps, and other values there: the same batch statistics, so the same logits
    torch.testing.assert_close(model(garbage, lengths)[0], model(zeros, lengths)[0], rtol=0, atol=1e-12)


@pytest.mark.parametrize("pool", ["last", "mean", "max"])
def test_logits_follow_the_docstring_equations(pool):
    torch.manual_seed(0)
    model = randomise(RNNFCN("lstm", 2, 4, 3, bidirectional=True, filters=(5, 6, 4), kernels=(8, 5, 3),
                             pool=pool).double()).eval()
    x = torch.randn(7, 2, dtype=torch.float64)  # one series, T = 7
    with torch.no_grad():
        y = model.rnn(x[None])[0][0]  # (T, 2H): [forward ; backward] at each step
        r = {"last": torch.cat([y[-1, :4], y[0, 4:]]),  # each direction at its own last step
             "mean": y.mean(0), "max": y.max(0).values}[pool]
        h = x.T[None]  # (1, D, T)
        for conv, norm in zip(model.convs, model.norms):
            with warnings.catch_warnings():  # torch warns of a copy for even kernels with padding="same"
                warnings.simplefilter("ignore")
                a = torch.nn.functional.conv1d(h, conv.weight, conv.bias, padding="same")
            h = torch.relu(torch.nn.functional.batch_norm(a, norm.running_mean, norm.running_var, norm.weight,
                                                          norm.bias, training=False, eps=norm.eps))
        c = h[0].mean(1)
        expected = model.head.weight @ torch.cat([r, c]) + model.head.bias
        torch.testing.assert_close(model(x[None])[0][0], expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_gradcheck_float64_wrt_input_and_every_parameter(training):
    torch.manual_seed(0)
    model = randomise(tiny("lstm", bidirectional=True, pool="mean").double()).train(training)
    x, lengths = padded_batch(lengths=(5, 2, 4), fill="zeros")
    names = [n for n, _ in model.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_() for p in model.parameters())

    def f(x, *ps):
        return functional_call(model, dict(zip(names, ps)), (x, lengths))[0]

    assert torch.autograd.gradcheck(f, (x.requires_grad_(), *params), eps=1e-6, atol=1e-6, rtol=1e-4)


def test_a_model_is_rebuilt_from_its_json_config_and_safetensors(tmp_path):
    torch.manual_seed(0)
    model = RNNFCN("lstm", 2, 4, 3, num_layers=2, bidirectional=True, filters=(5, 6), kernels=(4, 3), pool="max",
                   cell_options={"peephole": True})
    model.train()
    x, lengths = padded_batch()
    model(x.float(), lengths)  # running statistics that differ from their initial values
    model.eval()
    config = json.loads(json.dumps(model.config()))  # what config.json holds
    save_file(model.state_dict(), tmp_path / "model.safetensors")
    again = RNNFCN(**config).eval()
    assert again.config() == model.config()
    again.load_state_dict(load_file(tmp_path / "model.safetensors"))
    with torch.no_grad():
        torch.testing.assert_close(again(x.float(), lengths)[0], model(x.float(), lengths)[0], rtol=0, atol=0)


BAD_ARGUMENTS = {
    "filters-kernels-unequal": (dict(filters=(4, 4), kernels=(3,)), ValueError, "filters and kernels"),
    "filters-zero": (dict(filters=(4, 0), kernels=(3, 3)), ValueError, r"filters\[1\]"),
    "kernels-negative": (dict(filters=(4,), kernels=(-3,)), ValueError, r"kernels\[0\]"),
    "kernels-float": (dict(filters=(4,), kernels=(2.5,)), TypeError, r"kernels\[0\]"),
    "filters-empty": (dict(filters=(), kernels=()), ValueError, "filters"),
    "filters-int": (dict(filters=4, kernels=(3,)), TypeError, "filters"),
    "pool-unknown": (dict(pool="none"), ValueError, "pool"),
    "bidirectional-last-sum": (dict(bidirectional=True, merge="sum", pool="last"), ValueError, "merge"),
    "rnn_dropout-one": (dict(rnn_dropout=1.0), ValueError, "rnn_dropout"),
    "cell_options-list": (dict(cell_options=["peephole"]), TypeError, "cell_options"),
    "cell-unknown": (dict(cell="nope"), ValueError, "cell"),
    "hidden_size-zero": (dict(hidden_size=0), ValueError, "hidden_size"),
}


@pytest.mark.parametrize("kwargs,error,match", BAD_ARGUMENTS.values(), ids=BAD_ARGUMENTS.keys())
def test_bad_constructor_arguments_are_refused_by_name(kwargs, error, match):
    arguments = dict(cell="gru", input_size=2, hidden_size=3, output_size=2)
    with pytest.raises(error, match=match):
        RNNFCN(**{**arguments, **kwargs})


def _nan():
    x = torch.randn(2, 5, 2)
    x[1, 2, 0] = float("nan")
    return x


BAD_INPUTS = {
    "x-2d": (torch.randn(5, 2), None, ValueError, r"x must be 3-D \(N, L, input_size=2\), got 2-D"),
    "x-wrong-D": (torch.randn(2, 5, 3), None, ValueError, r"x must have input_size=2 .* got shape \(2, 5, 3\)"),
    "x-not-tensor": ([[[0.0, 0.0]]], None, TypeError, "x must be a torch.Tensor"),
    "x-nan": (_nan(), None, ValueError, "x contains NaN"),
    "x-int": (torch.ones(2, 5, 2, dtype=torch.long), None, TypeError, "x must have a floating-point dtype"),
    "lengths-shape": (torch.randn(2, 5, 2), torch.tensor([5, 4, 3]), ValueError, r"lengths must have shape \(2,\)"),
    "lengths-zero": (torch.randn(2, 5, 2), torch.tensor([5, 0]), ValueError, "lengths must be >= 1"),
    "lengths-too-long": (torch.randn(2, 5, 2), torch.tensor([6, 2]), ValueError, "lengths must be <= L = 5"),
    "lengths-float": (torch.randn(2, 5, 2), torch.tensor([5.0, 2.0]), TypeError, "lengths must hold integers"),
}


@pytest.mark.parametrize("x,lengths,error,match", BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_inputs_are_refused_by_name(x, lengths, error, match):
    model = tiny().eval()
    with pytest.raises(error, match=match):
        model(x, lengths)


def waves(n, generator):
    """n noisy series of 24-48 steps, right-padded: class 0 a sine, class 1 a square wave of the same
    random period, phase and amplitude."""
    lengths = torch.randint(24, 49, (n,), generator=generator)
    labels = torch.arange(n) % 2
    t = torch.arange(48, dtype=torch.float32)[None, :]
    period = 8 + 8 * torch.rand(n, 1, generator=generator)
    phase = 2 * math.pi * torch.rand(n, 1, generator=generator)
    amplitude = 0.5 + torch.rand(n, 1, generator=generator)
    sine = torch.sin(2 * math.pi * t / period + phase)
    wave = torch.where(labels[:, None] == 1, torch.sign(sine), sine) * amplitude
    wave = wave + 0.1 * torch.randn(wave.shape, generator=generator)
    wave = wave.masked_fill(t >= lengths[:, None], 0.0)
    return wave.unsqueeze(-1), lengths, labels


def test_it_learns_sine_from_square_waves_of_unequal_lengths():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    (x, lengths, y), (x_test, lengths_test, y_test) = waves(128, g), waves(200, g)
    model = RNNFCN("lstm", 1, 8, 2, filters=(8, 16, 8))
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(100):  # full batch, about 1.5 s on one thread
        loss = torch.nn.functional.cross_entropy(model(x, lengths)[0], y)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    model.eval()
    with torch.no_grad():
        accuracy = (model(x_test, lengths_test)[0].argmax(-1) == y_test).float().mean().item()
    assert accuracy >= 0.99  # 1.0 on seeds 0-3; chance is 0.5
