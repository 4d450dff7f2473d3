"""Properties every registered architecture and option set must have; runs over the whole registry."""

import math
import time

import pytest
import torch
from safetensors.torch import load, save
from torch.func import functional_call
from torch.nn.utils.rnn import pack_padded_sequence

import rnnzoo
from conftest import CASE_IDS, CASES, as_tuple, sample_input

H_IN, H = 3, 4


def make(entry, options, **kwargs):
    return rnnzoo.Recurrent(entry.name, H_IN, H, **options, **kwargs)


@pytest.mark.parametrize("entry,label,options", CASES, ids=CASE_IDS)
def test_shapes_follow_torch_layout(entry, label, options):
    layer = make(entry, options, num_layers=2, bidirectional=True, batch_first=True)
    x = sample_input(entry, 5, 3, H_IN).transpose(0, 1)  # (N, L, ...)
    y, state = layer(x)
    out = layer.cells[0].output_size
    assert y.shape == (3, 5, 2 * out, *entry.spatial)
    for s in as_tuple(state):
        assert s.shape[:2] == (4, 3)
    assert layer.output_size == 2 * out


@pytest.mark.parametrize("entry,label,options", CASES, ids=CASE_IDS)
def test_gradcheck_float64_two_layers_bidirectional_padded(entry, label, options):
    # the generic loop: torch's fused kernels (used by default where eligible) are torch's to check
    layer = make(entry, options, num_layers=2, bidirectional=True, fused=False).double()
    x = sample_input(entry, 4, 3, H_IN, dtype=torch.float64).requires_grad_()
    lengths = torch.tensor([4, 2, 3])
    names = [n for n, _ in layer.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_() for _, p in layer.named_parameters())
    h0 = tuple(s.detach().requires_grad_() for s in as_tuple(layer(x.detach(), lengths=lengths)[1]))

    def run(x, *flat):
        ps, state = flat[:len(names)], flat[len(names):]
        state = state[0] if len(state) == 1 else tuple(state)
        y, final = functional_call(layer, dict(zip(names, ps)), (x,), {"state": state, "lengths": lengths})
        return (y, *as_tuple(final))

    assert torch.autograd.gradcheck(run, (x, *params, *h0), eps=1e-6, atol=1e-5, fast_mode=True)


@pytest.mark.parametrize("entry,label,options", CASES, ids=CASE_IDS)
def test_padded_batch_matches_each_sequence_run_alone(entry, label, options):
    layer = make(entry, options, num_layers=2, bidirectional=True).double().eval()
    x = sample_input(entry, 6, 3, H_IN, dtype=torch.float64)
    lengths = torch.tensor([3, 6, 1])
    x_padded = x.clone()
    for n, length in enumerate(lengths):
        x_padded[length:, n] = 1e3  # garbage in the padding must not leak anywhere
    y, state = layer(x_padded, lengths=lengths)
    for n, length in enumerate(lengths.tolist()):
        y_alone, state_alone = layer(x[:length, n:n + 1])
        torch.testing.assert_close(y[:length, n:n + 1], y_alone, atol=1e-10, rtol=0)
        assert torch.all(y[length:, n] == 0), "padded steps must output zeros"
        for s, s_alone in zip(as_tuple(state), as_tuple(state_alone)):
            torch.testing.assert_close(s[:, n:n + 1], s_alone, atol=1e-10, rtol=0)


@pytest.mark.parametrize("entry,label,options", CASES, ids=CASE_IDS)
def test_packed_sequence_matches_padded_with_lengths(entry, label, options):
    layer = make(entry, options, num_layers=2, bidirectional=True).eval()
    x = sample_input(entry, 5, 4, H_IN)
    lengths = torch.tensor([2, 5, 1, 4])
    y, state = layer(x, lengths=lengths)
    yp, state_p = layer(pack_padded_sequence(x, lengths, enforce_sorted=False))
    torch.testing.assert_close(yp.data, pack_padded_sequence(y, lengths, enforce_sorted=False).data)
    for a, b in zip(as_tuple(state), as_tuple(state_p)):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("entry,label,options", CASES, ids=CASE_IDS)
def test_state_carries_across_calls_like_one_long_call(entry, label, options):
    layer = make(entry, options, num_layers=2, batch_first=True).double().eval()
    x = sample_input(entry, 6, 2, H_IN, dtype=torch.float64).transpose(0, 1)
    y, state = layer(x)
    y1, s1 = layer(x[:, :4])
    y2, s2 = layer(x[:, 4:], state=s1)
    torch.testing.assert_close(torch.cat([y1, y2], dim=1), y)
    for a, b in zip(as_tuple(state), as_tuple(s2)):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("entry,label,options", CASES, ids=CASE_IDS)
def test_unbatched_and_length_one_inputs(entry, label, options):
    layer = make(entry, options).double().eval()
    x = sample_input(entry, 1, 1, H_IN, dtype=torch.float64)
    y, state = layer(x)
    y_unbatched, state_unbatched = layer(x[:, 0])
    torch.testing.assert_close(y_unbatched, y[:, 0])
    for a, b in zip(as_tuple(state), as_tuple(state_unbatched)):
        torch.testing.assert_close(b, a[:, 0])


@pytest.mark.parametrize("entry,label,options", CASES, ids=CASE_IDS)
def test_every_parameter_gets_a_gradient(entry, label, options):
    layer = make(entry, options, num_layers=2, bidirectional=True)
    y, state = layer(sample_input(entry, 4, 2, H_IN), lengths=[4, 3])
    (y.square().sum() + sum(s.square().sum() for s in as_tuple(state))).backward()
    for name, p in layer.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, f"{name} got an all-zero gradient"


@pytest.mark.parametrize("entry,label,options", CASES, ids=CASE_IDS)
def test_safetensors_round_trip_gives_same_outputs(entry, label, options):
    layer = make(entry, options, num_layers=2, bidirectional=True).eval()
    blob = save({k: v.contiguous() for k, v in layer.state_dict().items()})
    fresh = make(entry, options, num_layers=2, bidirectional=True).eval()
    fresh.load_state_dict(load(blob))
    x = sample_input(entry, 3, 2, H_IN)
    torch.testing.assert_close(fresh(x)[0], layer(x)[0], atol=0, rtol=0)


@pytest.mark.parametrize("entry,label,options", CASES, ids=CASE_IDS)
def test_recurrent_dropout_one_mask_per_sequence_and_off_in_eval(entry, label, options):
    if not entry.cell.recurrent_inputs:  # minGRU, minLSTM: no weight multiplies the state
        with pytest.raises(ValueError, match="recurrent_dropout must be 0 for cell .*no recurrent input"):
            make(entry, options, recurrent_dropout=0.5, batch_first=True)
        return
    layer = make(entry, options, recurrent_dropout=0.5, batch_first=True)
    plain = make(entry, options, batch_first=True)
    plain.load_state_dict(layer.state_dict())
    x = sample_input(entry, 5, 3, H_IN).transpose(0, 1)
    layer.eval()
    torch.testing.assert_close(layer(x)[0], plain(x)[0])  # eval: no dropout
    layer.train()
    torch.manual_seed(1)
    a = layer(x)[0]
    torch.manual_seed(1)
    b = layer(x)[0]
    torch.testing.assert_close(a, b)  # reproducible under a seed
    assert not torch.allclose(a, plain(x)[0]), "training mode must drop recurrent inputs"


@pytest.mark.parametrize("entry,label,options", CASES, ids=CASE_IDS)
def test_learns_delayed_copy_halving_the_loss_in_seconds(entry, label, options):
    """A small synthetic task: output at t the first input feature of step t - 1."""
    torch.manual_seed(0)
    layer = make(entry, options, batch_first=True)
    readout = torch.nn.Linear(layer.output_size, 1)
    params = list(layer.parameters()) + list(readout.parameters())
    opt = torch.optim.Adam(params, lr=0.02)
    # non-negative inputs: a second-order cell multiplies state by input, and zero-mean inputs
    # would flip the sign of what it carries at random
    x = torch.rand(32, 8, H_IN, *entry.spatial)
    target = torch.zeros_like(x[:, :, :1])
    target[:, 1:] = x[:, :-1, :1]

    def loss_fn():
        y = layer(x)[0].movedim(2, -1)  # features last, also for (N, L, C, H, W)
        return torch.nn.functional.mse_loss(readout(y), target.movedim(2, -1))

    first = loss_fn().item()
    start, loss = time.perf_counter(), first
    for _ in range(300):
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        if loss.item() < first / 2 or time.perf_counter() - start > 20:
            break
    assert math.isfinite(loss.item()) and loss.item() < first / 2, (first, loss.item())


# --- bad input: every message names the argument, what was expected and what came -------------

@pytest.mark.parametrize("entry,label,options", CASES, ids=CASE_IDS)
def test_bad_inputs_raise_named_errors(entry, label, options):
    layer = make(entry, options, batch_first=True)
    x = sample_input(entry, 4, 2, H_IN).transpose(0, 1)
    with pytest.raises(ValueError, match=r"x must be .*-D"):
        layer(x[None])
    with pytest.raises(ValueError, match=r"input_size"):
        layer(torch.cat([x, x], dim=2))
    with pytest.raises(TypeError, match=r"floating-point"):
        layer(x.long())
    with pytest.raises(TypeError, match=r"torch.Tensor"):
        layer(x.tolist())
    for bad in (float("nan"), float("inf")):
        xb = x.clone()
        xb[0, 1] = bad
        with pytest.raises(ValueError, match=r"NaN or inf"):
            layer(xb)
    with pytest.raises(ValueError, match=r"lengths must be <= L = 4"):
        layer(x, lengths=[5, 2])
    with pytest.raises(ValueError, match=r"lengths must be >= 1"):
        layer(x, lengths=[0, 2])
    with pytest.raises(ValueError, match=r"lengths must have shape \(2,\)"):
        layer(x, lengths=[1, 2, 3])
    with pytest.raises(TypeError, match=r"lengths must hold integers"):
        layer(x, lengths=torch.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match=r"zero time steps"):
        layer(x[:, :0])
    _, state = layer(x)
    wrong = tuple(s[:, :1] for s in as_tuple(state))
    with pytest.raises(ValueError, match=r"state .* must have shape"):
        layer(x, state=wrong[0] if len(wrong) == 1 else wrong)
    with pytest.raises(TypeError, match=r"unknown keyword"):
        layer(x, bogus=torch.zeros(2, 4))


@pytest.mark.parametrize("entry", [e for e, label, _ in CASES if label == "default"], ids=lambda e: e.name)
def test_unknown_option_is_a_type_error_naming_it(entry):
    with pytest.raises(TypeError, match=r"unknown option 'no_such_option'"):
        rnnzoo.Recurrent(entry.name, H_IN, H, no_such_option=1)


def test_unknown_cell_name_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown architecture 'lstmm'.*lstm"):
        rnnzoo.Recurrent("lstmm", 3, 4)


def test_every_entry_has_a_named_layer_and_description():
    for entry in rnnzoo.registry.entries():
        assert entry.description and entry.paper and entry.equation
        assert entry.layer is not None and getattr(rnnzoo, entry.layer.__name__) is entry.layer
        assert rnnzoo.available()[entry.name] == entry.description
        assert "default" in entry.variants
        # the named layer builds the same architecture as Recurrent(name)
        assert type(entry.layer(3, 4).cells[0]) is entry.cell

