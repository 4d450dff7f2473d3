"""ConvLSTM (Shi et al. 2015): equations, equality with the LSTM at 1x1, shapes, bad input, learning."""

import math

import pytest
import torch
import torch.nn.functional as F

import rnnzoo


def conv_same(x, w):
    """2-D cross-correlation with zero 'same' padding, as a sum over kernel offsets (no conv2d call)."""
    kh, kw = w.shape[2:]
    Y, X = x.shape[2:]
    padded = F.pad(x, (kw // 2, kw // 2, kh // 2, kh // 2))
    out = 0
    for dy in range(kh):
        for dx in range(kw):
            out = out + torch.einsum("oc,ncyx->noyx", w[:, :, dy, dx], padded[:, :, dy:dy + Y, dx:dx + X])
    return out


def shi_reference_step(x, h, c, w_x, w_h, b, peep):
    """One step of Shi et al.'s equations (3), gates i, f, g, o; peep = (w_ci, w_cf, w_co) or None."""
    wxi, wxf, wxg, wxo = w_x.chunk(4)
    whi, whf, whg, who = w_h.chunk(4)
    bi, bf, bg, bo = (v.view(1, -1, 1, 1) for v in b.chunk(4))
    zero = torch.zeros((), dtype=x.dtype)
    w_ci, w_cf, w_co = peep if peep is not None else (zero, zero, zero)
    i = torch.sigmoid(conv_same(x, wxi) + conv_same(h, whi) + w_ci * c + bi)
    f = torch.sigmoid(conv_same(x, wxf) + conv_same(h, whf) + w_cf * c + bf)
    c_new = f * c + i * torch.tanh(conv_same(x, wxg) + conv_same(h, whg) + bg)
    o = torch.sigmoid(conv_same(x, wxo) + conv_same(h, who) + w_co * c_new + bo)
    return o * torch.tanh(c_new), c_new


@pytest.mark.parametrize("kernel_size", [3, (3, 5), 1])
@pytest.mark.parametrize("peephole", [False, True])
def test_one_step_matches_shi_equations_written_with_explicit_convolution(kernel_size, peephole):
    torch.manual_seed(0)
    rnn = rnnzoo.ConvLSTM2d(2, 3, kernel_size=kernel_size, peephole=peephole).double()
    cell = rnn.cells[0]
    with torch.no_grad():
        cell.bias.normal_()
        if peephole:
            cell.peephole_weight.normal_()
    x = torch.randn(1, 2, 2, 5, 4, dtype=torch.float64)  # (L=1, N, C_in, Y, X)
    h0, c0 = torch.randn(2, 2, 3, 5, 4, dtype=torch.float64)
    y, (h, c) = rnn(x, state=(h0[None], c0[None]))
    with torch.no_grad():
        peep = tuple(cell.peephole_weight) if peephole else None
        h_ref, c_ref = shi_reference_step(x[0], h0, c0, cell.weight_ih, cell.weight_hh, cell.bias, peep)
    torch.testing.assert_close(y[0], h_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(h[0], h_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(c[0], c_ref, rtol=1e-12, atol=1e-12)


def test_kernel_1_on_1x1_frames_equals_torch_lstm_with_copied_weights():
    torch.manual_seed(1)
    conv = rnnzoo.ConvLSTM2d(3, 5, kernel_size=1, num_layers=2).double()
    ref = torch.nn.LSTM(3, 5, num_layers=2).double()
    with torch.no_grad():
        for layer, cell in enumerate(conv.cells):
            cell.bias.normal_()
            getattr(ref, f"weight_ih_l{layer}").copy_(cell.weight_ih.flatten(1))
            getattr(ref, f"weight_hh_l{layer}").copy_(cell.weight_hh.flatten(1))
            getattr(ref, f"bias_ih_l{layer}").copy_(cell.bias)
            getattr(ref, f"bias_hh_l{layer}").zero_()
    x = torch.randn(7, 4, 3, dtype=torch.float64)
    h0, c0 = torch.randn(2, 2, 4, 5, dtype=torch.float64)
    y, (h, c) = conv(x[..., None, None], state=(h0[..., None, None], c0[..., None, None]))
    y_ref, (h_ref, c_ref) = ref(x, (h0, c0))
    torch.testing.assert_close(y[..., 0, 0], y_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(h[..., 0, 0], h_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(c[..., 0, 0], c_ref, rtol=1e-12, atol=1e-12)


def test_same_padding_keeps_any_frame_size_and_bidirectional_concat_joins_channels():
    rnn = rnnzoo.ConvLSTM2d(2, 4, kernel_size=(3, 5), bidirectional=True, batch_first=True)
    for frame in [(6, 6), (9, 7), (1, 1)]:
        y, (h, c) = rnn(torch.randn(3, 5, 2, *frame))
        assert y.shape == (3, 5, 8, *frame)
        assert h.shape == c.shape == (2, 3, 4, *frame)
    rnn.batch_first = False
    y, (h, c) = rnn(torch.randn(5, 2, 6, 6))  # unbatched (L, C, Y, X)
    assert y.shape == (5, 8, 6, 6) and h.shape == (2, 4, 6, 6)


def test_init_sets_forget_bias_and_zero_per_channel_peepholes():
    cell = rnnzoo.ConvLSTM2d(2, 3, peephole=True, forget_bias=2.0).cells[0]
    assert cell.weight_ih.shape == (12, 2, 3, 3) and cell.weight_hh.shape == (12, 3, 3, 3)
    torch.testing.assert_close(cell.bias, torch.tensor([0.0] * 3 + [2.0] * 3 + [0.0] * 6))
    assert cell.peephole_weight.shape == (3, 3, 1, 1) and not cell.peephole_weight.any()


def test_project_convolves_all_frames_of_all_steps_in_one_call(monkeypatch):
    calls = []
    conv2d = F.conv2d
    monkeypatch.setattr(F, "conv2d", lambda x, *a, **k: calls.append(x.shape[0]) or conv2d(x, *a, **k))
    rnnzoo.ConvLSTM2d(2, 3)(torch.randn(4, 5, 2, 6, 6))  # L=4, N=5
    assert calls == [20, 5, 5, 5, 5]  # input conv over L*N frames, then one recurrent conv per step


@pytest.mark.parametrize("kernel_size", [2, 4, (3, 2), 0, -1, (3, 3, 3), (3,)])
def test_even_nonpositive_or_non_pair_kernel_size_raises_naming_kernel_size(kernel_size):
    with pytest.raises(ValueError, match="kernel_size"):
        rnnzoo.ConvLSTM2d(2, 3, kernel_size=kernel_size)


@pytest.mark.parametrize("kernel_size", ["3", 3.0, True, (3, None)])
def test_non_integer_kernel_size_raises_type_error_naming_kernel_size(kernel_size):
    with pytest.raises(TypeError, match="kernel_size"):
        rnnzoo.ConvLSTM2d(2, 3, kernel_size=kernel_size)


@pytest.mark.parametrize("shape", [(4, 2, 2, 6, 6, 1), (4, 2, 6), (4, 3, 2, 6)])
def test_input_with_wrong_spatial_rank_raises_naming_x(shape):
    # (4, 3, 2, 6): a batched (L, N, C, Y) frame missing X reads as unbatched with 3 != 2 channels
    with pytest.raises(ValueError, match="^x "):
        rnnzoo.ConvLSTM2d(2, 3)(torch.randn(*shape))


@pytest.mark.parametrize("frame", [(0, 6), (6, 0)])
def test_frames_of_zero_height_or_width_are_named(frame):
    # found by benchmarks/fuzz.py: they reached conv2d, whose RuntimeError named the kernel size
    with pytest.raises(ValueError, match=r"^x has empty steps: each is \(2, \d, \d\), with no values$"):
        rnnzoo.ConvLSTM2d(2, 3)(torch.randn(4, 2, 2, *frame))


def test_state_with_wrong_frame_size_raises_naming_state():
    rnn = rnnzoo.ConvLSTM2d(2, 3)
    x = torch.randn(4, 2, 2, 6, 6)
    good = torch.zeros(1, 2, 3, 6, 6)
    rnn(x, state=(good, good))
    with pytest.raises(ValueError, match="state h"):
        rnn(x, state=(torch.zeros(1, 2, 3, 5, 6), good))
    with pytest.raises(ValueError, match="state c"):
        rnn(x, state=(good, torch.zeros(1, 2, 3, 6)))


def moving_dots(n, size, length, g):
    """Frames (n, length - 1, 1, size, size) of a dot moving one pixel per step in one of 4 directions,
    and the flat index of the dot in each next frame (n, length - 1)."""
    d = torch.tensor([[0, 1], [0, -1], [1, 0], [-1, 0]])[torch.randint(0, 4, (n,), generator=g)]
    lo = torch.where(d < 0, length - 1, 0)
    hi = torch.where(d > 0, size - length, size - 1)  # starts that keep the dot inside
    start = lo + (torch.rand(n, 2, generator=g) * (hi - lo + 1)).long()
    pos = start[:, None] + torch.arange(length)[None, :, None] * d[:, None]  # (n, length, 2)
    frames = torch.zeros(n, length, 1, size, size)
    frames[torch.arange(n)[:, None], torch.arange(length), 0, pos[..., 0], pos[..., 1]] = 1
    return frames[:, :-1], (pos[..., 0] * size + pos[..., 1])[:, 1:]


def test_learns_next_frame_of_moving_dot_using_memory_of_its_direction(one_thread):
    torch.manual_seed(0)
    size, length, n = 6, 5, 64
    frames, target = moving_dots(n, size, length, torch.Generator().manual_seed(0))
    rnn = rnnzoo.ConvLSTM2d(1, 8, batch_first=True)
    readout = torch.nn.Conv2d(8, 1, 1)
    opt = torch.optim.Adam([*rnn.parameters(), *readout.parameters()], lr=0.03)
    losses = []
    for _ in range(60):
        logits = readout(rnn(frames)[0].flatten(0, 1)).view(n, length - 1, size * size)
        per_step = F.cross_entropy(logits.flatten(0, 1), target.flatten(), reduction="none")
        loss = per_step.mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[0] > 0.9 * math.log(size * size)  # starts near chance over the 36 pixels
    assert losses[-1] < losses[0] / 2
    # after two frames the direction is known: far below the log(4) of a memoryless guess
    assert float(per_step.detach().view(n, length - 1)[:, 1:].mean()) < 0.5 * math.log(4)
