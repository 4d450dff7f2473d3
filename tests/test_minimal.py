"""minGRU and minLSTM (rnnzoo.cells.minimal) and their scans (rnnzoo.engine.scan): both scans equal the
per-step loop on padded batches with an initial state (float64 to 1e-10, float32 to 1e-5), gradients
included; float64 gradcheck; state carried across calls; the log scan stays accurate in float32 over long
sequences; the cells' closed forms match their published definitions; bad options are refused."""

import pytest
import torch
import torch.nn.functional as F

import rnnzoo
from rnnzoo.engine import scan

NAMES = ["mingru", "minlstm"]
SCANS = ["linear", "log", "linear-native"]  # linear-native: the linear scan on the compiled kernels (scan.cpp)


@pytest.fixture
def method(request, monkeypatch):
    """The scan a test's layers run: the Python engine unless the case names the compiled kernels."""
    name = request.param
    if name.endswith("-native"):
        from rnnzoo.engine import native
        request.getfixturevalue("native_kernels")  # built (skips only where no C++ compiler is installed)
        monkeypatch.delenv("RNNZOO_NATIVE", raising=False)
        assert native.kernels(torch.zeros(1)) is not None
        return name.removesuffix("-native")
    monkeypatch.setenv("RNNZOO_NATIVE", "0")
    return name


def layers(name, scan_method, dtype, seed=0, spread=1.5, **kw):
    """The loop reference and a scan layer with the same weights: uniform in ±spread (1.5: gates far from
    1/2, h̃ on both branches of g, h up to about 15), or the default initialisation (spread None)."""
    torch.manual_seed(seed)
    ref = rnnzoo.Recurrent(name, 3, 6, engine="loop", **kw).to(dtype)
    with torch.no_grad():
        for p in ref.parameters() if spread else ():
            p.uniform_(-spread, spread)
    fast = rnnzoo.Recurrent(name, 3, 6, scan=scan_method, **kw).to(dtype)
    fast.load_state_dict(ref.state_dict())
    return ref, fast


def run(layer, x, h0, lengths):
    x, h0 = x.clone().requires_grad_(), h0.clone().requires_grad_()
    y, h = layer(x, h0, lengths=lengths)
    weights = torch.randn(y.shape, generator=torch.Generator().manual_seed(5), dtype=y.dtype)
    ((y * weights).sum() + (h * h).sum()).backward()
    return [y, h, x.grad, h0.grad, *(p.grad for p in layer.parameters())]


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-10), (torch.float32, 1e-5)], ids=["float64", "float32"])
@pytest.mark.parametrize("method", SCANS, indirect=True)
@pytest.mark.parametrize("name", NAMES)
def test_scan_equals_the_step_loop_on_a_padded_batch_with_initial_state(name, method, dtype, tol):
    scan_method = method
    # float32 at the default initialisation: with weights of ±1.5 the log scan's float32 error reaches 1e-5
    # relative in the outputs and 2e-3 in dL/dx (logcumsumexp's backward), the linear scan's stays at 1e-6
    spread = 1.5 if dtype == torch.float64 or scan_method == "linear" else None
    ref, fast = layers(name, scan_method, dtype, spread=spread, num_layers=2, bidirectional=True)
    assert fast.path(dtype, backward=True, padded=True) in ("engine", "native")
    x = torch.randn(40, 5, 3, dtype=dtype)
    h0 = torch.randn(4, 5, 6, dtype=dtype)  # any sign: the log scan takes h0 outside its logarithms
    lengths = torch.tensor([40, 17, 1, 40, 33])
    want, got = run(ref, x, h0, lengths), run(fast, x, h0, lengths)
    for i, (a, b) in enumerate(zip(got, want)):
        # relative to the values (h̃ = v + 1/2 is unbounded above; these reach about 10); gradients are sums
        # over all 200 steps and rows, so float32's rounding adds up there
        scale = 1.0 if i < 2 or dtype == torch.float64 else 10.0 if scan_method == "linear" else 30.0
        torch.testing.assert_close(a, b, atol=tol * scale, rtol=tol * scale, msg=lambda m: f"tensor {i}: {m}")
    assert torch.all(got[0][lengths[2]:, 2] == 0), "padded steps must output zeros"


@pytest.mark.parametrize("method", SCANS, indirect=True)
@pytest.mark.parametrize("name", NAMES)
def test_gradcheck_float64_through_the_scan(name, method):
    scan_method = method
    _, layer = layers(name, scan_method, torch.float64)
    cell = layer.cells[0]
    lengths = torch.tensor([7, 3, 5])
    valid = torch.arange(7)[:, None] < lengths[None, :]

    def f(xp, h0):
        return scan.run(cell, xp, (h0,), valid)[0]

    xp = torch.randn(7, 3, cell.blocks * 6, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(3, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(f, (xp, h0))


@pytest.mark.parametrize("method", SCANS, indirect=True)
@pytest.mark.parametrize("name", NAMES)
def test_state_carried_across_two_calls_equals_one_call(name, method):
    scan_method = method
    _, layer = layers(name, scan_method, torch.float64, num_layers=2)
    x = torch.randn(2, 30, 3, dtype=torch.float64)
    layer.batch_first = True
    y, h = layer(x)
    y1, h1 = layer(x[:, :13])
    y2, h2 = layer(x[:, 13:], h1)
    torch.testing.assert_close(torch.cat([y1, y2], 1), y, atol=1e-12, rtol=0)
    torch.testing.assert_close(h2, h, atol=1e-12, rtol=0)
    # and one step at a time through the cell, as generation runs it
    state = None
    for t in range(30):
        _, state = layer(x[:, t:t + 1], state)
    torch.testing.assert_close(state, h, atol=1e-12, rtol=0)


def test_linear_scan_blocks_do_not_change_the_result(monkeypatch):
    """The linear scan's blocks (BLOCK_ELEMENTS) are a cache tiling only: one step a block gives the same."""
    monkeypatch.setenv("RNNZOO_NATIVE", "0")
    _, layer = layers("mingru", "linear", torch.float64)
    x = torch.randn(50, 4, 3, dtype=torch.float64)
    want = run(layer, x, torch.zeros(1, 4, 6, dtype=torch.float64), torch.tensor([50, 9, 50, 31]))
    layer.zero_grad()
    monkeypatch.setattr(scan, "BLOCK_ELEMENTS", 1)
    got = run(layer, x, torch.zeros(1, 4, 6, dtype=torch.float64), torch.tensor([50, 9, 50, 31]))
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, atol=1e-13, rtol=0)


@pytest.mark.parametrize("name", NAMES)
def test_log_scan_stays_accurate_in_float32_over_4096_steps(name):
    """Chunked, the log scan's float32 error stays near float32's own; over the whole sequence at once it
    would reach about 6e-4 here (exp(a* + ...) cancels two logarithms of size ~L)."""
    ref, _ = layers(name, "linear", torch.float64, seed=2)
    x = torch.randn(4096, 2, 3, dtype=torch.float64)
    with torch.no_grad():
        want = ref(x)[0]
        fast = rnnzoo.Recurrent(name, 3, 6, scan="log")
        fast.load_state_dict(ref.state_dict())
        got = fast(x.float())[0].double()
        unchunked = scan.log_scan(*fast.cells[0].log_mix(fast.cells[0].project(x.float())),
                                  torch.zeros(2, 6), chunk=4096).double()
    relative = ((got - want).abs() / want.abs()).max().item()
    assert relative < 1e-4, relative
    assert ((unchunked - want).abs() / want.abs()).max().item() > relative  # chunking is what helps


def test_mingru_step_is_the_published_equation():
    cell = rnnzoo.Recurrent("mingru", 3, 4).cells[0].double()
    x, h = torch.randn(5, 3, dtype=torch.float64), torch.randn(5, 4, dtype=torch.float64)
    k = x @ cell.weight_ih[:4].T + cell.bias[:4]
    v = x @ cell.weight_ih[4:].T + cell.bias[4:]
    z = torch.sigmoid(k)
    cand = torch.where(v >= 0, v + 0.5, torch.sigmoid(v))  # Feng et al.'s g
    out, _ = cell.step(cell.project(x), (h,))
    torch.testing.assert_close(out, (1 - z) * h + z * cand, atol=1e-14, rtol=0)


def test_minlstm_step_is_the_published_equation_with_normalised_gates():
    cell = rnnzoo.Recurrent("minlstm", 3, 4).cells[0].double()
    x, h = torch.randn(5, 3, dtype=torch.float64), torch.randn(5, 4, dtype=torch.float64)
    kf, ki, v = (x @ w.T + b for w, b in zip(cell.weight_ih.chunk(3), cell.bias.chunk(3)))
    f, i = torch.sigmoid(kf), torch.sigmoid(ki)
    cand = torch.where(v >= 0, v + 0.5, torch.sigmoid(v))
    out, _ = cell.step(cell.project(x), (h,))
    torch.testing.assert_close(out, f / (f + i) * h + i / (f + i) * cand, atol=1e-14, rtol=0)
    # log_mix is the same coefficients in log space
    log_a, log_b = cell.log_mix(cell.project(x))
    torch.testing.assert_close(log_a.exp(), f / (f + i), atol=1e-14, rtol=0)
    torch.testing.assert_close(log_b.exp(), i / (f + i) * cand, atol=1e-14, rtol=0)


@pytest.mark.parametrize("name", NAMES)
def test_mix_backward_equals_autograd_of_mix(name):
    cell = rnnzoo.Recurrent(name, 3, 4).cells[0].double()
    xp = torch.randn(6, 2, cell.blocks * 4, dtype=torch.float64) * 3
    xp.requires_grad_()
    w, cand = cell.mix(xp)
    gw, gc = torch.randn_like(w), torch.randn_like(cand)
    want = torch.autograd.grad((w, cand), xp, (gw, gc))[0]
    got = torch.empty_like(xp)
    cell.mix_backward(xp.detach(), w.detach(), cand.detach(), gw, gc, out=got)
    torch.testing.assert_close(got, want, atol=1e-14, rtol=0)


def test_minlstm_gates_stay_finite_where_both_underflow():
    cell = rnnzoo.Recurrent("minlstm", 1, 1).cells[0]
    xp = torch.tensor([[[-200.0, -300.0, 0.3]]])
    w, cand = cell.mix(xp)
    assert torch.isfinite(w).all() and torch.isfinite(cand).all()
    log_a, log_b = cell.log_mix(xp)
    assert torch.isfinite(log_a).all() and torch.isfinite(log_b).all()


def test_log_g_is_log_of_g():
    v = torch.linspace(-30, 30, 601, dtype=torch.float64)
    torch.testing.assert_close(scan.log_g(v), scan.g(v).log(), atol=0, rtol=1e-9)  # log σ(-30) ≈ -30: relative
    torch.testing.assert_close(scan.g(v), torch.where(v >= 0, v + 0.5, torch.sigmoid(v)), atol=0, rtol=0)


def test_auto_scan_is_linear_on_the_cpu():
    cell = rnnzoo.MinGRU(2, 3).cells[0]
    assert scan.method_for(cell, "cpu") == "linear" and scan.method_for(cell, "cuda") == "log"


@pytest.mark.parametrize("kwargs,match", [
    ({"scan": "parallel"}, "scan must be one of 'auto', 'linear', 'log', got 'parallel'"),
    ({"recurrent_dropout": 0.2}, "recurrent_dropout must be 0 for cell MinGRUCell"),
    ({"bias": "yes"}, "bias"),
])
def test_bad_options_are_refused_by_name(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        rnnzoo.MinGRU(2, 3, **kwargs)


def test_learns_to_sum_a_sequence_better_than_a_constant():
    """A few Adam steps: the scan's gradients train the layer (the running mean of the inputs)."""
    torch.manual_seed(0)
    layer, head = rnnzoo.MinGRU(1, 16, batch_first=True), torch.nn.Linear(16, 1)
    opt = torch.optim.Adam([*layer.parameters(), *head.parameters()], lr=1e-2)
    losses = []
    for _ in range(150):
        x = torch.rand(32, 20, 1)
        loss = F.mse_loss(head(layer(x)[0][:, -1]).squeeze(1), x.mean((1, 2)))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-10:]) / 10 < 0.2 * sum(losses[:10]) / 10
