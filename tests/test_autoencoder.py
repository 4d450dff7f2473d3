"""rnnzoo.models.autoencoder.SeqAutoencoder: its gradients are right (float64 gradcheck), it computes the
equations of its docstring, a padded batch gives what each sequence gives alone, a trained model scores
unlike sequences higher, it rebuilds from its JSON config, every registered vector cell drives it, and
each bad argument is refused by name."""

import json
import math

import pytest
import torch
from conftest import CASE_IDS, CASES
from torch.func import functional_call

from rnnzoo.models.autoencoder import SeqAutoencoder

pytestmark = pytest.mark.usefixtures("one_thread")

# (decoder_input, training): the three ways the decoder reads its input
DECODER_MODES = [("repeat", True), ("teacher", True), ("teacher", False)]
MODE_IDS = ["repeat", "teacher-forced", "free-running"]
VECTOR_CASES = [(e, label, options) for e, label, options in CASES if not e.spatial]
VECTOR_IDS = [i for i, (e, _, _) in zip(CASE_IDS, CASES) if not e.spatial]


def padded_batch(F=2, dtype=torch.float64, seed=1):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([5, 2, 4])
    x = torch.randn(3, 5, F, dtype=dtype, generator=g)
    x[torch.arange(5)[None, :] >= lengths[:, None]] = 0.0  # right padding
    return x, lengths


def as_tuple(state):
    return state if isinstance(state, tuple) else (state,)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("decoder_input,training", DECODER_MODES, ids=MODE_IDS)
def test_gradcheck_float64_wrt_input_and_every_parameter(cell, decoder_input, training):
    torch.manual_seed(0)
    model = SeqAutoencoder(cell, input_size=2, hidden_size=3, code_size=2, bidirectional=True,
                           decoder_input=decoder_input).double().train(training)
    x, lengths = padded_batch()
    names = [n for n, _ in model.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_() for p in model.parameters())

    def f(x, *ps):
        return functional_call(model, dict(zip(names, ps)), (x, lengths))

    assert torch.autograd.gradcheck(f, (x.requires_grad_(), *params), eps=1e-6, atol=1e-6, rtol=1e-4)


def reference_reconstruction(model, x):
    """The docstring's equations for one sequence x (T, F), step by step: the decoder run one step per
    call, its initial state cut from to_state's rows per layer and state element."""
    D, layers = model.encoder.num_directions, model.decoder.num_layers
    _, state = model.encoder(x[None])
    s_T = torch.cat([e[-D:, 0].reshape(-1) for e in as_tuple(state)])  # [h_fwd; h_bwd] (, c_fwd; c_bwd)
    z = torch.tanh(model.to_code(s_T))
    S, W, b = sum(model.state_sizes), model.to_state.weight, model.to_state.bias
    state, offset = [], 0
    for size in model.state_sizes:
        rows = [range(k * S + offset, k * S + offset + size) for k in range(layers)]  # layer k
        state.append(torch.stack([torch.tanh(W[list(r)] @ z + b[list(r)]) for r in rows])[:, None])  # (layers, 1, H)
        offset += size
    state, previous, out = tuple(state), torch.zeros_like(x[0]), []
    for t in range(len(x)):
        if model.decoder_input == "repeat":
            u = z
        else:
            u = previous if not model.training else (x[t - 1] if t else torch.zeros_like(x[0]))
        y, state = model.decoder(u[None, None], state=state)
        out.append(model.out(y[0, 0]))
        previous = out[-1]
    return torch.stack(out), z


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("decoder_input,training", DECODER_MODES, ids=MODE_IDS)
def test_computes_the_docstring_equations(cell, decoder_input, training):
    torch.manual_seed(0)
    model = SeqAutoencoder(cell, input_size=2, hidden_size=4, code_size=3, num_layers=2, bidirectional=True,
                           decoder_input=decoder_input).double().train(training)
    x, lengths = padded_batch()
    recon, code = model(x, lengths)
    for i, T in enumerate(lengths.tolist()):
        want, z = reference_reconstruction(model, x[i, :T])
        torch.testing.assert_close(recon[i, :T], want)
        torch.testing.assert_close(code[i], z)
        assert (recon[i, T:] == 0).all()


@pytest.mark.parametrize("bidirectional", [False, True], ids=["forward", "bidirectional"])
@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("decoder_input,training", DECODER_MODES, ids=MODE_IDS)
def test_padded_batch_equals_each_sequence_alone(cell, decoder_input, training, bidirectional):
    torch.manual_seed(0)
    model = SeqAutoencoder(cell, input_size=2, hidden_size=5, num_layers=2, bidirectional=bidirectional,
                           decoder_input=decoder_input).double().train(training)
    x, lengths = padded_batch()
    x = x + 7.0 * (torch.arange(5)[None, :, None] >= lengths[:, None, None])  # padding must not matter
    code, recon = model.encode(x, lengths), model.reconstruct(x, lengths)
    score, per_step = model.score(x, lengths), model.score(x, lengths, per_step=True)
    for i, T in enumerate(lengths.tolist()):
        alone = x[i:i + 1, :T]
        torch.testing.assert_close(code[i], model.encode(alone)[0])
        torch.testing.assert_close(recon[i, :T], model.reconstruct(alone)[0])
        torch.testing.assert_close(score[i], model.score(alone)[0])
        torch.testing.assert_close(per_step[i, :T], model.score(alone, per_step=True)[0])
        torch.testing.assert_close(score[i], ((recon[i, :T] - x[i, :T]) ** 2).mean())
        assert (recon[i, T:] == 0).all() and (per_step[i, T:] == 0).all()
        # unbatched (T, F) is a batch of one
        torch.testing.assert_close(model.score(x[i, :T]), score[i])
        torch.testing.assert_close(model.encode(x[i, :T]), code[i])
    real = torch.cat([((recon[i, :T] - x[i, :T]) ** 2).flatten() for i, T in enumerate(lengths.tolist())])
    torch.testing.assert_close(model.loss(x, lengths), real.mean())


def noisy_sines(n, L, g):
    t = torch.arange(L, dtype=torch.float32)
    f, phase = 0.15 + 0.15 * torch.rand(n, 1, generator=g), 2 * math.pi * torch.rand(n, 1, generator=g)
    clean = torch.sin(f * t + phase)
    return (clean + 0.05 * torch.randn(n, L, generator=g)).unsqueeze(-1), clean


@pytest.mark.parametrize("decoder_input,auc,ratio", [("repeat", 0.9, 5.0), ("teacher", 0.75, 2.0)])
def test_score_is_higher_on_sequences_unlike_the_training_sines(decoder_input, auc, ratio):
    """300 Adam steps (about 2 s) on noisy sines of random frequency, phase and length 15..30; then square
    waves (the signs of such sines) and random walks score higher than fresh sines: AUC over all pairs
    and the ratio of medians. Free running ("teacher" in eval mode) reconstructs less well than "repeat"."""
    torch.manual_seed(0)
    g, L = torch.Generator().manual_seed(0), 30
    model = SeqAutoencoder("gru", input_size=1, hidden_size=16, code_size=4, decoder_input=decoder_input)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(300):
        x, _ = noisy_sines(32, L, g)
        loss = model.loss(x, torch.randint(L // 2, L + 1, (32,), generator=g))
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        sines = model.score(noisy_sines(50, L, g)[0])
        squares = model.score(torch.sign(noisy_sines(50, L, g)[1]).unsqueeze(-1))
        walks = model.score((0.3 * torch.randn(50, L, generator=g)).cumsum(1).unsqueeze(-1))
    for other in (squares, walks):
        assert (sines[:, None] < other[None, :]).float().mean() >= auc
        assert other.median() > ratio * sines.median()


CONFIGS = [
    dict(input_size=3),
    dict(cell="lstm", input_size=2, hidden_size=6, code_size=0, num_layers=2, bidirectional=True,
         decoder_input="teacher", dropout=0.1, cell_options={"peephole": True}),
    dict(cell="elman", input_size=1, hidden_size=4, code_size=5, cell_options={"activation": "relu"}),
]


@pytest.mark.parametrize("config", CONFIGS, ids=["defaults", "lstm-teacher", "elman"])
def test_json_config_round_trip_gives_identical_outputs(config):
    torch.manual_seed(0)
    model = SeqAutoencoder(**config).eval()
    saved = json.loads(json.dumps(model.config()))
    assert saved == {**dict(cell="gru", hidden_size=64, code_size=0, num_layers=1, bidirectional=False,
                            decoder_input="repeat", dropout=0.0, cell_options={}), **config}
    torch.manual_seed(1)  # other initial weights, then the saved ones loaded
    again = SeqAutoencoder(**saved).eval()
    again.load_state_dict(model.state_dict())
    x = torch.randn(2, 6, config["input_size"])
    lengths = torch.tensor([6, 3])
    for a, b in zip(model(x, lengths), again(x, lengths)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert again.config() == model.config()


def test_code_size_zero_is_the_final_state_size():
    assert SeqAutoencoder("gru", input_size=1, hidden_size=5).code_size == 5
    assert SeqAutoencoder("lstm", input_size=1, hidden_size=5, bidirectional=True).code_size == 20  # (h, c) x 2
    assert SeqAutoencoder("lstm", input_size=1, hidden_size=5, cell_options={"proj_size": 2}).code_size == 7


@pytest.mark.parametrize("entry,label,options", VECTOR_CASES, ids=VECTOR_IDS)
def test_every_registered_vector_cell_builds_and_runs_forward_and_backward(entry, label, options):
    x, lengths = padded_batch(F=3, dtype=torch.float32)
    for decoder_input in ("repeat", "teacher"):
        model = SeqAutoencoder(entry.name, input_size=3, hidden_size=4, code_size=3, num_layers=2,
                               bidirectional=True, decoder_input=decoder_input, cell_options=options)
        recon, code = model(x, lengths)
        assert recon.shape == (3, 5, 3) and code.shape == (3, 3)
        model.loss(x, lengths).backward()
        for name, p in model.named_parameters():
            assert p.grad is not None and torch.isfinite(p.grad).all(), (decoder_input, name)
        with torch.no_grad():
            score = model.eval().score(x, lengths)
        assert score.shape == (3,) and torch.isfinite(score).all() and (score > 0).all()


@pytest.fixture
def model():
    return SeqAutoencoder("gru", input_size=2, hidden_size=3)


@pytest.mark.parametrize("x,lengths,error,match", [
    ([[0.0, 1.0]], None, TypeError, r"x must be a torch\.Tensor \(N, L, input_size=2\), got list"),
    (torch.zeros(2, 3, 2, dtype=torch.long), None, TypeError, "x must be a floating-point tensor"),
    (torch.zeros(2, 3, 2, 1), None, ValueError, r"x must be 3-D .* got 4-D with shape \(2, 3, 2, 1\)"),
    (torch.zeros(2, 3, 5), None, ValueError, r"x must have input_size=2 features per step .* \(2, 3, 5\)"),
    (torch.zeros(2, 0, 2), None, ValueError, r"x has zero time steps"),
    (torch.zeros(0, 3, 2), None, ValueError, r"x has an empty batch"),
    (torch.zeros(2, 3, 2, dtype=torch.float64), None, TypeError, r"x must have the model's dtype torch\.float32"),
    (torch.tensor([[[0.0, math.nan]]]), None, ValueError, "x contains NaN or inf"),
    (torch.tensor([[[0.0, math.inf]]]), None, ValueError, "x contains NaN or inf"),
    (torch.zeros(2, 3, 2), torch.tensor([3]), ValueError, r"lengths must have shape \(2,\)"),
    (torch.zeros(2, 3, 2), torch.tensor([3, 0]), ValueError, r"lengths must be >= 1 .* got a length of 0"),
    (torch.zeros(2, 3, 2), torch.tensor([3, 4]), ValueError, r"lengths must be <= L = 3"),
    (torch.zeros(2, 3, 2), torch.tensor([3.0, 2.0]), TypeError, "lengths must hold integers"),
    (torch.zeros(3, 2), torch.tensor([3]), ValueError, "lengths must be None for an unbatched x"),
])
def test_bad_input_is_refused_naming_the_argument(model, x, lengths, error, match):
    for call in (model, model.encode, model.reconstruct, model.score, model.loss):
        with pytest.raises(error, match=match):
            call(x, lengths)


def test_per_step_must_be_a_bool(model):
    with pytest.raises(TypeError, match="per_step must be a bool"):
        model.score(torch.zeros(1, 2, 2), per_step="yes")


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(cell="nope"), ValueError, "cell: unknown architecture 'nope'"),
    (dict(cell=3), TypeError, "cell must be a registry name"),
    (dict(cell="conv_lstm"), ValueError, "cell must be a vector cell; 'conv_lstm' is convolutional"),
    (dict(input_size=0), ValueError, "input_size must be >= 1, got 0"),
    (dict(input_size=2.0), TypeError, "input_size must be an int"),
    (dict(hidden_size=0), ValueError, "hidden_size must be >= 1"),
    (dict(code_size=-1), ValueError, "code_size must be >= 0, got -1"),
    (dict(num_layers=0), ValueError, "num_layers must be >= 1"),
    (dict(bidirectional="yes"), TypeError, "bidirectional must be a bool"),
    (dict(decoder_input="feedback"), ValueError, "decoder_input must be 'repeat' or 'teacher', got 'feedback'"),
    (dict(dropout=1.0), ValueError, r"dropout must be a float in \[0, 1\), got 1.0"),
    (dict(dropout="0.1"), TypeError, "dropout must be a float"),
    (dict(cell_options=[("peephole", True)]), TypeError, "cell_options must be a dict"),
])
def test_bad_constructor_arguments_are_refused_naming_the_argument(kwargs, error, match):
    with pytest.raises(error, match=match):
        SeqAutoencoder(**{"input_size": 2, **kwargs})


def test_input_size_is_required():
    with pytest.raises(TypeError, match="input_size"):
        SeqAutoencoder("gru")
