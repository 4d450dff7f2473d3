"""rnnzoo.diagnose, `rnnzoo diagnose` and `rnnzoo train --log-gradients`: the gradient problem, measured."""

import csv

import pytest
import torch

from rnnzoo import Recurrent, diagnose, registry
from rnnzoo.cli import main

VECTOR_ENTRIES = [e for e in registry.entries() if not e.spatial]


def inputs(N=3, L=20, H_in=3, seed=0, dtype=torch.float64):
    return torch.randn(N, L, H_in, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def test_acceptance_elman_small_weights_vanish_lstm_forget_bias_1_decays_slower(tmp_path):
    x = inputs(N=4, L=40, H_in=4)
    elman = diagnose.build("elman", 4, 16, recurrent_scale=0.5, seed=0, dtype=torch.float64)
    lstm = diagnose.build("lstm", 4, 16, forget_bias=1.0, seed=0, dtype=torch.float64)
    results = {name: (diagnose.gradient_norms(layer, x), diagnose.jacobian_singular_values(layer, x))
               for name, layer in (("elman", elman), ("lstm", lstm))}
    elman_slope, lstm_slope = results["elman"][0].slope(), results["lstm"][0].slope()
    assert elman_slope < 0
    assert lstm_slope > elman_slope
    # spectral radius 0.5 and tanh' <= 1: every one-step Jacobian shrinks by at least half
    assert float(results["elman"][1].values.max()) <= 0.5 + 1e-9
    path = diagnose.plot(results, tmp_path / "grads.png")
    assert path == str(tmp_path / "grads.png") and (tmp_path / "grads.png").stat().st_size > 1000


def elman_reference(layer, x):
    """h_t and, from the closed form, dL/dh_t = W_hh^T diag(1 - h_{t+1}^2) dL/dh_{t+1}, for the default loss."""
    cell = layer.cells[0]
    N, L, _ = x.shape
    h, hs = torch.zeros(N, layer.hidden_size, dtype=x.dtype), []
    for t in range(L):
        h = torch.tanh(x[:, t] @ cell.weight_ih.T + h @ cell.weight_hh.T + cell.bias)
        hs.append(h)
    loss = diagnose.default_loss(layer.hidden_size, N, x.dtype, seed=0)
    g = (hs[-1] @ loss.weight.T - loss.target) @ loss.weight  # dL/dh_L of 0.5 sum ||W h - z||^2
    grads = [g]
    for t in range(L - 1, 0, -1):  # J_t = diag(1 - h_t^2) W_hh; dL/dh_{t-1} = dL/dh_t J_t
        g = (g * (1 - hs[t] ** 2)) @ cell.weight_hh
        grads.append(g)
    return hs, torch.stack(grads)  # grads[d]: distance d, (N, H)


def test_gradient_norms_match_the_closed_form_product_of_elman_jacobians():
    layer = diagnose.build("elman", 3, 6, seed=1, dtype=torch.float64)
    x = inputs(N=3, L=15)
    with torch.no_grad():
        hs, grads = elman_reference(layer, x)
    got = diagnose.gradient_norms(layer, x)
    want = grads.norm(dim=2)  # (L, N) by distance
    torch.testing.assert_close(got.samples, want.T, rtol=1e-10, atol=1e-14)
    torch.testing.assert_close(got.norm, want.mean(1), rtol=1e-10, atol=1e-14)
    torch.testing.assert_close(got.elements["h"], got.norm)
    assert all(p.grad is None for p in layer.parameters())  # the training's .grad is left alone


def test_jacobian_singular_values_match_the_closed_form_for_elman():
    layer = diagnose.build("elman", 3, 6, seed=2, dtype=torch.float64)
    x = inputs(N=2, L=8)
    with torch.no_grad():
        hs, _ = elman_reference(layer, x)
        want = torch.stack([torch.linalg.svdvals((1 - h ** 2)[:, :, None] * layer.cells[0].weight_hh) for h in hs])
    got = diagnose.jacobian_singular_values(layer, x)
    assert got.values.shape == (8, 2, 6) and got.mean.shape == (8, 6) and got.names == ("h",)
    torch.testing.assert_close(got.values, want, rtol=1e-10, atol=1e-12)


def test_padded_batches_measure_each_sequence_from_its_own_last_step():
    layer = diagnose.build("lstm", 3, 5, seed=3, dtype=torch.float64)
    x, lengths = inputs(N=3, L=12), torch.tensor([12, 7, 4])
    v = torch.randn(5, generator=torch.Generator().manual_seed(9), dtype=torch.float64)

    def loss(y):  # a sum of per-sample terms: each sample's gradient is its own run's
        return (y @ v).sum()

    padded = diagnose.gradient_norms(layer, x, loss_fn=loss, lengths=lengths)
    for n, length in enumerate(lengths.tolist()):
        alone = diagnose.gradient_norms(layer, x[n:n + 1, :length], loss_fn=loss)
        torch.testing.assert_close(padded.samples[n, :length], alone.samples[0])
        assert padded.samples[n, length:].isnan().all()
    spectrum = diagnose.jacobian_singular_values(layer, x, lengths=lengths)
    assert spectrum.values[4:, 2].isnan().all() and not spectrum.values[:4, 2].isnan().any()


def test_the_loop_reproduces_the_layer_stacked_and_bidirectional():
    layer = Recurrent("gru", 3, 5, num_layers=2, bidirectional=True, batch_first=True).double()
    x, lengths = inputs(N=3, L=9), torch.tensor([9, 5, 2])
    seen = []
    got = diagnose.gradient_norms(layer, x, loss_fn=lambda y: seen.append(y) or y.sum(), lengths=lengths)
    y, _ = layer(x, lengths=lengths)  # whatever path it takes (engine, torch kernel): the same outputs
    torch.testing.assert_close(seen[0], y[torch.arange(3), lengths - 1])
    assert got.layers.shape == (2, 9) and torch.equal(got.layers[0], got.norm)


@pytest.mark.parametrize("entry", VECTOR_ENTRIES, ids=[e.name for e in VECTOR_ENTRIES])
def test_every_registered_vector_cell_runs_through_both(entry):
    layer = Recurrent(entry.name, 3, 4, batch_first=True).double()
    x = inputs(N=2, L=6)
    g = diagnose.gradient_norms(layer, x)
    assert g.norm.shape == (6,) and g.samples.shape == (2, 6) and torch.isfinite(g.norm).all()
    assert float(g.norm[0]) > 0
    jac = diagnose.jacobian_singular_values(layer, x)
    k = sum(layer.cells[0].state_shapes(x.transpose(0, 1))[i][0]
            for i, name in enumerate(layer.cells[0].state_names) if name in jac.names)
    assert jac.values.shape == (6, 2, k) and torch.isfinite(jac.values).all()
    assert set(g.elements) == set(jac.names)
    if entry.name == "clockwork":  # the step counter is not differentiated
        assert g.skipped == ("t",) and jac.names == ("h",)


def test_decay_slope_is_the_log10_factor_per_step():
    d = torch.arange(10)
    assert diagnose.decay_slope(d, 3.0 * 0.5 ** d) == pytest.approx(-0.30103, abs=1e-5)
    assert diagnose.decay_slope(d, torch.where(d > 5, 0.0, 2.0 ** d)) == pytest.approx(0.30103, abs=1e-5)
    assert diagnose.decay_slope([0], [1.0]) != diagnose.decay_slope([0], [1.0])  # NaN


def test_bad_layers_are_refused_by_name():
    with pytest.raises(TypeError, match="diagnose.build"):
        diagnose.gradient_norms("elman", inputs())
    with pytest.raises(ValueError, match="vector cells"):
        diagnose.gradient_norms(Recurrent("conv_lstm", 1, 2), torch.zeros(3, 1, 1, 4, 4))
    with pytest.raises(ValueError, match="no recurrent weight"):
        diagnose.build("second_order", 3, 4, recurrent_scale=0.5)


def test_cli_writes_the_png_and_prints_the_table(tmp_path, capsys):
    out = tmp_path / "d.png"
    assert main(["diagnose", "--length", "30", "--batch", "2", "--hidden", "8", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert lines[1].split() == ["distance", "elman", "lstm", "gru"]
    assert [line.split()[0] for line in lines[2:5]] == ["1", "10", "29"]
    slopes = [float(v) for v in next(line for line in lines if line.split()[0] == "slope").split()[1:]]
    assert len(slopes) == 3 and all(s < 0 for s in slopes)
    assert out.stat().st_size > 1000 and f"wrote {out}" in text


@pytest.mark.parametrize("argv, message", [
    (["--model", "nope"], "unknown architecture 'nope'"),
    (["--model", "conv_lstm"], "convolutional cell"),
    (["--model", "gru", "--forget-bias", "1"], "--forget-bias: not an option of gru"),
    (["--model", "second_order", "--recurrent-scale", "0.5"], "no recurrent weight matrix"),
])
def test_cli_errors_are_one_line(tmp_path, capsys, argv, message):
    assert main(["diagnose", *argv, "--length", "5", "--out", str(tmp_path / "x.png")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("rnnzoo: error: ") and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.png").exists()


def test_cli_refuses_a_bad_length(capsys):
    with pytest.raises(SystemExit) as e:
        main(["diagnose", "--length", "1"])
    assert e.value.code == 2 and "--length" in capsys.readouterr().err


def test_log_gradients_writes_tensorboard_and_csv_and_diagnose_reads_the_run(tmp_path, capsys):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    out = tmp_path / "run"
    assert main(["train", "addition", "--train-size", "128", "--val-size", "50", "--hidden", "8", "--batch-size",
                 "32", "--epochs", "2", "--threads", "1", "--log-gradients", "3", "--out", str(out)]) == 0
    with open(out / "metrics.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("grad_norm/slope")]
    assert [int(r["step"]) for r in rows] == [0, 3, 6]  # 4 steps an epoch, 2 epochs
    assert all(float(r["grad_norm/distance_1"]) > 0 for r in rows)
    events = EventAccumulator(str(out / "tensorboard")).Reload()
    tags = events.Tags()["scalars"]
    assert {"grad_norm/slope", "grad_norm/distance_0", "grad_norm/distance_1", "grad_norm/distance_8"} <= set(tags)
    assert [e.step for e in events.Scalars("grad_norm/slope")] == [0, 3, 6]
    capsys.readouterr()
    assert main(["diagnose", str(out), "--out", str(tmp_path / "run.png")]) == 0
    text = capsys.readouterr().out
    assert "the run's own addition data" in text and (tmp_path / "run.png").stat().st_size > 1000
    assert main(["diagnose", str(out), "--model", "lstm"]) == 1
    assert "not with RUN_DIR" in capsys.readouterr().err


def test_log_gradients_needs_a_recurrent_layer():
    from rnnzoo.train.gradients import find_recurrent
    with pytest.raises(ValueError, match="no recurrent layer"):
        find_recurrent(torch.nn.Linear(2, 2))
