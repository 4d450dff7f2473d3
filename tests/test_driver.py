"""The driver: torch parity of the fused and generic paths, merge modes, dropout, fused selection."""

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

import rnnzoo
from conftest import as_tuple

TORCH = {"lstm": nn.LSTM, "gru": nn.GRU, "elman": nn.RNN}


def copy_from_torch(layer, module):
    """Load an nn.LSTM/GRU/RNN's weights by hand (independently of rnnzoo.interop)."""
    H = module.hidden_size
    with torch.no_grad():
        for i, cell in enumerate(layer.cells):
            sfx = f"_l{i // layer.num_directions}" + ("_reverse" if i % layer.num_directions else "")
            cell.weight_ih.copy_(getattr(module, "weight_ih" + sfx))
            cell.weight_hh.copy_(getattr(module, "weight_hh" + sfx))
            b_ih, b_hh = getattr(module, "bias_ih" + sfx), getattr(module, "bias_hh" + sfx)
            if isinstance(module, nn.GRU):
                cell.bias.copy_(torch.cat([b_ih[:2 * H] + b_hh[:2 * H], b_ih[2 * H:]]))
                cell.bias_hn.copy_(b_hh[2 * H:])
            else:
                cell.bias.copy_(b_ih + b_hh)
            if getattr(module, "proj_size", 0):
                cell.weight_hr.copy_(getattr(module, "weight_hr" + sfx))


SIZES = [(3, 5, 1, False), (4, 8, 2, True), (7, 6, 3, True), (2, 3, 2, False)]


@pytest.mark.parametrize("name", ["lstm", "gru", "elman"])
@pytest.mark.parametrize("input_size,hidden,layers,bidirectional", SIZES)
@pytest.mark.parametrize("fused", [True, False], ids=["fused", "generic"])
def test_matches_torch_nn_with_same_weights(name, input_size, hidden, layers, bidirectional, fused):
    module = TORCH[name](input_size, hidden, num_layers=layers, bidirectional=bidirectional)
    layer = rnnzoo.Recurrent(name, input_size, hidden, num_layers=layers,
                             bidirectional=bidirectional, fused=fused)
    copy_from_torch(layer, module)
    x = torch.randn(6, 4, input_size)
    lengths = torch.tensor([6, 2, 5, 1])
    for args in ((x,), (pack_padded_sequence(x, lengths, enforce_sorted=False),)):
        y_ref, s_ref = module(*args)
        y, s = layer(*args)
        y_ref, y = (getattr(y_ref, "data", y_ref), getattr(y, "data", y))
        torch.testing.assert_close(y, y_ref, atol=1e-5, rtol=0)
        for a, b in zip(as_tuple(s), as_tuple(s_ref)):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
    # right-padded tensor + lengths equals torch on the packed batch
    y_ref, s_ref = module(pack_padded_sequence(x, lengths, enforce_sorted=False))
    y, s = layer(x, lengths=lengths)
    torch.testing.assert_close(pack_padded_sequence(y, lengths, enforce_sorted=False).data, y_ref.data,
                               atol=1e-5, rtol=0)


def test_lstm_with_projection_matches_torch():
    module = nn.LSTM(5, 6, num_layers=2, bidirectional=True, proj_size=3, batch_first=True)
    layer = rnnzoo.LSTM(5, 6, num_layers=2, bidirectional=True, proj_size=3, batch_first=True)
    copy_from_torch(layer, module)
    x = torch.randn(4, 7, 5)
    for fused in (True, False):
        layer.fused = fused
        y, (h, c) = layer(x)
        y_ref, (h_ref, c_ref) = module(x)
        torch.testing.assert_close(y, y_ref, atol=1e-5, rtol=0)
        torch.testing.assert_close(h, h_ref, atol=1e-5, rtol=0)
        torch.testing.assert_close(c, c_ref, atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", ["lstm", "gru", "elman"])
@pytest.mark.parametrize("merge", ["concat", "sum", "mul", "ave"])
def test_generic_loop_equals_fused_path_for_every_merge_mode(name, merge):
    layer = rnnzoo.Recurrent(name, 3, 5, num_layers=3, bidirectional=True, merge=merge, batch_first=True)
    x = torch.randn(4, 6, 3)
    lengths = torch.tensor([6, 3, 1, 5])
    layer.fused = True
    y1, s1 = layer(x, lengths=lengths)
    layer.fused = False
    for engine in ("loop", "auto"):  # the per-step loop itself, then the cell's sequence engine
        layer.engine = engine
        assert (layer.path(backward=True, padded=True) == "loop") == (engine == "loop")
        y2, s2 = layer(x, lengths=lengths)
        torch.testing.assert_close(y1, y2, atol=1e-5, rtol=0)
        for a, b in zip(as_tuple(s1), as_tuple(s2)):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
    assert y1.shape[-1] == (10 if merge == "concat" else 5)


def test_merge_modes_combine_the_two_directions_as_keras_does():
    torch.manual_seed(0)
    layer = rnnzoo.GRU(3, 4, bidirectional=True)
    x = torch.randn(5, 2, 3)
    both = layer(x)[0]
    fwd, bwd = both[..., :4], both[..., 4:]
    for merge, expected in (("sum", fwd + bwd), ("mul", fwd * bwd), ("ave", (fwd + bwd) / 2)):
        layer.merge = merge
        torch.testing.assert_close(layer(x)[0], expected)


def test_backward_direction_reads_each_sequence_from_its_own_end():
    layer = rnnzoo.Elman(2, 3, bidirectional=True, fused=False).double()
    backward_only = rnnzoo.Elman(2, 3, fused=False).double()
    backward_only.cells[0].load_state_dict(layer.cells[1].state_dict())
    x = torch.randn(5, 1, 2, dtype=torch.float64)
    y, _ = layer(x[:3].clone(), lengths=[3])
    y_rev, _ = backward_only(x[:3].flip(0))
    torch.testing.assert_close(y[:, :, 3:], y_rev.flip(0))


def test_fused_auto_selects_kernel_only_when_eligible():
    assert rnnzoo.LSTM(3, 4).fused_eligible()
    assert rnnzoo.LSTM(3, 4, proj_size=2).fused_eligible()
    assert rnnzoo.GRU(3, 4).fused_eligible()
    assert rnnzoo.Elman(3, 4, activation="relu").fused_eligible()
    for layer in (rnnzoo.LSTM(3, 4, peephole=True), rnnzoo.LSTM(3, 4, coupled=True),
                  rnnzoo.LSTM(3, 4, layer_norm=True), rnnzoo.GRU(3, 4, reset_after=False),
                  rnnzoo.Jordan(3, 4)):
        assert not layer.fused_eligible()
    dropped = rnnzoo.LSTM(3, 4, recurrent_dropout=0.2)
    assert not dropped.fused_eligible(training=True) and dropped.fused_eligible(training=False)
    assert not rnnzoo.LSTM(3, 4).fused_eligible(dtype=torch.float16)


def test_fused_auto_really_calls_the_torch_kernel(monkeypatch):
    calls = []
    real = rnnzoo.fused._KERNELS["lstm"]
    monkeypatch.setitem(rnnzoo.fused._KERNELS, "lstm", lambda *a: calls.append(1) or real(*a))
    x = torch.randn(4, 2, 3)
    rnnzoo.LSTM(3, 4)(x)
    assert calls == [1]
    rnnzoo.LSTM(3, 4, fused=False)(x)
    rnnzoo.LSTM(3, 4, peephole=True)(x)
    assert calls == [1], "the generic loop and ineligible layers must not call the kernel"


@pytest.mark.parametrize("kwargs,match", [
    ({"cell": "lstm", "peephole": True}, "peephole"),
    ({"cell": "gru", "reset_after": False}, "reset gate"),
    ({"cell": "jordan"}, "Jordan"),
])
def test_forcing_fused_on_an_ineligible_layer_is_an_error(kwargs, match):
    with pytest.raises(ValueError, match=f"fused=True.*{match}"):
        rnnzoo.Recurrent(input_size=3, hidden_size=4, fused=True, **kwargs)


def test_forced_fused_with_recurrent_dropout_errors_in_training_and_runs_in_eval():
    layer = rnnzoo.LSTM(3, 4, recurrent_dropout=0.3, fused=True)  # eligible in eval mode
    with pytest.raises(ValueError, match="fused=True.*recurrent_dropout"):
        layer.train()(torch.randn(2, 1, 3))
    assert layer.eval()(torch.randn(2, 1, 3))[0].shape == (2, 1, 4)


def test_dropout_between_layers_only_in_training():
    layer = rnnzoo.LSTM(3, 8, num_layers=2, dropout=0.5)
    x = torch.randn(5, 2, 3)
    layer.eval()
    torch.testing.assert_close(layer(x)[0], layer(x)[0])
    layer.train()
    assert not torch.allclose(layer(x)[0], layer(x)[0])
    single = rnnzoo.LSTM(3, 8, dropout=0.5).train()  # one layer: nothing to drop between
    torch.testing.assert_close(single(x)[0], single(x)[0])


def test_recurrent_dropout_mask_is_constant_across_time():
    """Gal & Ghahramani: one mask per sequence. With a zero input weight and W_hh = I, the Elman
    step is h' = tanh(m * h): a unit dropped at step 1 must stay dropped at every step."""
    layer = rnnzoo.Elman(1, 64, recurrent_dropout=0.5).train()
    with torch.no_grad():
        cell = layer.cells[0]
        cell.weight_ih.zero_()
        cell.weight_hh.copy_(torch.eye(64))
        cell.bias.zero_()
    h0 = torch.ones(1, 1, 64)
    y, _ = layer(torch.zeros(4, 1, 1), state=h0)
    dead = y[0, 0] == 0
    assert 5 < int(dead.sum()) < 59
    for t in range(1, 4):
        assert torch.equal(y[t, 0] == 0, dead)


def test_cell_class_can_be_passed_instead_of_a_name():
    layer = rnnzoo.Recurrent(rnnzoo.cells.GRUCell, 3, 4, reset_after=False)
    assert layer.cell_name == "gru" and not layer.cells[0].reset_after
    with pytest.raises(TypeError, match="Cell subclass"):
        rnnzoo.Recurrent(nn.Linear, 3, 4)


@pytest.mark.parametrize("kwargs,match", [
    ({"merge": "max"}, "merge must be one of"),
    ({"num_layers": 0}, "num_layers must be an int >= 1"),
    ({"dropout": 1.0}, r"dropout must be a float in \[0, 1\)"),
    ({"recurrent_dropout": -0.1}, "recurrent_dropout must be"),
    ({"fused": "yes"}, "fused must be"),
])
def test_bad_layer_arguments_name_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        rnnzoo.Recurrent("lstm", 3, 4, **kwargs)


def test_state_of_wrong_structure_is_named():
    layer = rnnzoo.LSTM(3, 4)
    x = torch.randn(2, 1, 3)
    with pytest.raises(ValueError, match=r"state must have 2 element\(s\)"):
        layer(x, state=torch.zeros(1, 1, 4))
    with pytest.raises(TypeError, match="state must be a tensor or a tuple"):
        layer(x, state="zeros")
    with pytest.raises(ValueError, match="lengths must be None when x is a PackedSequence"):
        layer(pack_padded_sequence(x, [2]), lengths=[2])


def test_a_state_or_per_step_input_with_too_few_dimensions_is_named_not_an_index_error():
    # found by benchmarks/fuzz.py: unsqueeze/transpose ran before the shape check and raised IndexError
    with pytest.raises(ValueError, match=r"state h must have shape .*, got \(\)"):
        rnnzoo.LSTM(3, 4)(torch.randn(5, 3), state=(torch.tensor(0.0), torch.zeros(1, 4)))
    laid_out = r"dt must be laid out like x, "
    with pytest.raises(ValueError, match=laid_out + r"\(N, L, \.\.\.\) with L=5, N=2, got shape \(5\)"):
        rnnzoo.CTRNN(3, 4, batch_first=True)(torch.randn(2, 5, 3), dt=torch.ones(5))
    with pytest.raises(ValueError, match=laid_out + r"\(L,\) with L=5, N=1, got shape \(\)"):
        rnnzoo.CTRNN(3, 4)(torch.randn(5, 3), dt=torch.tensor(1.0))


def test_finite_check_accepts_huge_finite_values_whose_sum_overflows():
    layer = rnnzoo.Elman(2, 3)
    x = torch.full((4, 1, 2), 3e38)  # finite, but their float32 sum is inf
    assert layer(x)[0].shape == (4, 1, 3)
    x[2, 0, 1] = float("nan")
    with pytest.raises(ValueError, match="NaN or inf"):
        layer(x)


@pytest.mark.parametrize("option", ["bidirectional", "batch_first"])
def test_boolean_layer_arguments_take_bools_only(option):
    with pytest.raises(TypeError, match=rf"{option} must be a bool \(True or False\), got str 'False'"):
        rnnzoo.Recurrent("lstm", 3, 4, **{option: "False"})


@pytest.mark.parametrize("name", ["lstm", "gru", "elman", "ctrnn", "jordan"])
@pytest.mark.parametrize("x_dtype,layer_dtype", [(torch.float16, torch.float32), (torch.float64, torch.float32),
                                                 (torch.float32, torch.float64)])
def test_input_and_layer_of_different_dtypes_name_both(name, x_dtype, layer_dtype):
    # torch's own kernels fail with "mat1 and mat2 must have the same dtype" or a oneDNN error instead
    layer = rnnzoo.Recurrent(name, 3, 4).to(layer_dtype)
    with pytest.raises(TypeError, match=rf"input dtype \({x_dtype}\) does not match the layer's parameter "
                                        rf"dtype \({layer_dtype}\)"):
        layer(torch.zeros(5, 2, 3, dtype=x_dtype))
    assert layer(torch.zeros(5, 2, 3, dtype=layer_dtype))[0].dtype == layer_dtype


def test_autocast_still_takes_input_of_another_dtype():
    layer = rnnzoo.LSTM(3, 4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert layer(torch.zeros(5, 2, 3, dtype=torch.bfloat16))[0].shape == (5, 2, 4)
