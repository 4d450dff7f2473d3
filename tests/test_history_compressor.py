"""rnnzoo.models.history_compressor.HistoryCompressor: what reaches the upper level is exactly what the
automatizer failed to predict (the first step always, then nothing on a perfectly predicted sequence,
one step for one surprising symbol, with its time stamp), a padded batch compacts as each sequence
alone, gradients are right (float64 gradcheck with a fixed mask) and stay within each level, collapse()
reads the automatizer's prediction of the chunker, the model rebuilds from JSON, every vector cell
drives it, and each bad argument is refused by name."""

import json

import pytest
import torch
from conftest import CASES
from torch.func import functional_call

from rnnzoo.models.history_compressor import HistoryCompressor

pytestmark = pytest.mark.usefixtures("one_thread")

PERIOD, RARE = 3, (3, 4)  # the stream cycles 0, 1, 2; symbols 3 and 4 are inserted at random places
VOCAB = PERIOD + len(RARE)


def stream(L, insert_at=None, rare=RARE[0]):
    """0, 1, 2, 0, 1, ... of length L, with `rare` inserted at step insert_at (the cycle goes on after it)."""
    row = [t % PERIOD for t in range(L)]
    if insert_at is not None:
        row = row[:insert_at] + [rare] + row[insert_at:L - 1]
    return torch.tensor(row)


def training_batch(N, L, g):
    rows = []
    for _ in range(N):
        at = int(torch.randint(1, L - 1, (), generator=g)) if torch.rand((), generator=g) < 0.7 else None
        rows.append(stream(L, at, RARE[int(torch.randint(len(RARE), (), generator=g))]))
    return torch.stack(rows)


@pytest.fixture(scope="module")
def automatizer():
    """A model whose automatizer has learnt the stream: the cycle, and how it goes on after a rare symbol
    (about a second of Adam on level 0's prediction loss alone, the paper's first stage)."""
    torch.manual_seed(0)
    model = HistoryCompressor("gru", vocab_size=VOCAB, hidden_size=16)
    opt, g = torch.optim.Adam(model.parameters(), lr=0.03), torch.Generator().manual_seed(0)
    with torch.enable_grad():
        for _ in range(120):
            loss = model.loss(model(training_batch(32, 12, g)), predict=(1.0, 0.0), state=0.0)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()


def test_a_perfectly_predicted_sequence_sends_only_its_first_step_up(automatizer):
    """The rule: the first step has no prediction, so it always goes up; every later step goes up only
    when the prediction made one step before missed it. Here none does, on a stream longer than trained."""
    x = stream(40)[None]
    with torch.no_grad():
        r = automatizer(x)
    assert (r.logits[0][0, :-1].argmax(-1) == x[0, 1:]).all()  # the automatizer predicts every step
    assert r.surprise[0][0].tolist() == [True] + [False] * 39
    assert r.symbols[1].tolist() == [[0]] and r.times[1].tolist() == [[0]] and r.gaps[1].tolist() == [[1]]
    assert r.lengths[1].tolist() == [1] and r.fraction_up == [1 / 40]


@pytest.mark.parametrize("at,rare", [(7, 3), (23, 4)])
def test_b_one_surprising_symbol_sends_exactly_that_step_up_with_its_time_stamp(automatizer, at, rare):
    x = stream(40, at, rare)[None]
    with torch.no_grad():
        r = automatizer(x)
    assert r.surprise[0][0].nonzero().flatten().tolist() == [0, at]
    assert r.symbols[1].tolist() == [[0, rare]]
    assert r.times[1].tolist() == [[0, at]] and r.gaps[1].tolist() == [[1, at]]  # steps since the last one up
    assert r.fraction_up == [2 / 40]


def test_a_probability_threshold_sends_up_each_step_whose_symbol_was_given_less():
    torch.manual_seed(1)
    x = torch.randint(0, 4, (3, 9))
    for theta in (0.2, 0.5):
        r = HistoryCompressor("lstm", vocab_size=4, hidden_size=6, surprise=theta)(x)
        p = r.logits[0][:, :-1].softmax(-1).gather(-1, x[:, 1:, None]).squeeze(-1)
        assert r.surprise[0][:, 1:].equal(p < theta) and r.surprise[0][:, 0].all()
    r = HistoryCompressor("lstm", vocab_size=4, hidden_size=6, surprise=1.0)(x)  # every step is uncertain
    assert r.symbols[1].equal(x) and r.times[1].equal(torch.arange(9).expand(3, 9)) and (r.gaps[1] == 1).all()


def test_c_a_padded_batch_compacts_and_runs_every_level_as_each_sequence_alone():
    torch.manual_seed(2)
    model = HistoryCompressor("gru", vocab_size=4, hidden_size=5, levels=3, num_classes=2).double()
    lengths = torch.tensor([11, 4, 8, 1])
    x = torch.randint(0, 4, (4, 11))
    x[torch.arange(11)[None, :] >= lengths[:, None]] = 9  # padding is ignored, whatever it holds
    batch = model(x, lengths)
    for n, length in enumerate(lengths.tolist()):
        alone = model(x[n:n + 1, :length])
        for k in range(3):
            T = int(alone.lengths[k])
            assert int(batch.lengths[k][n]) == T
            for name in ("symbols", "times", "gaps"):
                assert getattr(batch, name)[k][n, :T].equal(getattr(alone, name)[k][0]), (n, k, name)
                assert (getattr(batch, name)[k][n, T:] == (1 if name == "gaps" else 0)).all()
            assert torch.allclose(batch.logits[k][n, :T], alone.logits[k][0], atol=1e-12)
            if k < 2:
                assert batch.surprise[k][n, :T].equal(alone.surprise[k][0]) and not batch.surprise[k][n, T:].any()
        assert torch.allclose(batch.class_logits[n], alone.class_logits[0], atol=1e-12)
    assert batch.fraction_up == [float(batch.lengths[k].sum()) / 24 for k in (1, 2)]


def level_parameters(model, k):
    """The names of level k's own parameters (the head belongs to the top level)."""
    mine = (f"rnn.{k}.", f"predict.{k}.", f"to_state.{k}.", f"embed.{k}.")
    mine += ("head.",) if k == model.levels - 1 else ()
    return [n for n, _ in model.named_parameters() if n.startswith(mine)]


def level_loss(r, k, target):
    """Level k's own loss: its prediction loss, its prediction of the level above (state, distill; the
    head's distillation for the level below the top) and, for the top, the head's cross-entropy. The
    targets that come from another level are detached, so a finite difference must not move them: the
    whole of model.loss would be checked against gradients that leave the detached paths out."""
    top = len(r.logits) - 1
    total = r.losses["predict"][k]
    if k < top:
        total = total + r.losses["state"][k] + r.losses["distill"][k]
    if k == top - 1:
        total = total + r.losses["distill_head"]
    if k == top:
        total = total + torch.nn.functional.cross_entropy(r.class_logits, target)
    return total


@pytest.mark.parametrize("cell,embed_dim", [("gru", 0), ("lstm", 2)])
@pytest.mark.parametrize("k", [0, 1, 2])
def test_d_gradcheck_float64_of_each_levels_loss_wrt_its_parameters_with_a_fixed_mask(cell, embed_dim, k):
    torch.manual_seed(3)
    model = HistoryCompressor(cell, vocab_size=3, hidden_size=2, levels=3, embed_dim=embed_dim,
                              num_classes=2, surprise=0.6).double()
    x, lengths, target = torch.randint(0, 3, (3, 6)), torch.tensor([6, 3, 5]), torch.tensor([0, 1, 1])
    masks = model(x, lengths).surprise
    assert all(m[:, 1:].any() for m in masks)  # the fixed masks send more than first steps up
    names = level_parameters(model, k)
    params = dict(model.named_parameters())

    def f(*ps):
        r = functional_call(model, {**params, **dict(zip(names, ps))}, (x, lengths), {"masks": masks})
        return level_loss(r, k, target)

    inputs = tuple(params[n].detach().clone().requires_grad_() for n in names)
    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-6, rtol=1e-4)


def test_each_levels_losses_train_that_level_alone():
    """No gradient crosses levels: the symbols go up as data, and the state and distillation targets are
    detached; only the head's loss reaches the top level from outside its prediction loss."""
    torch.manual_seed(4)
    model = HistoryCompressor("lstm", vocab_size=4, hidden_size=5, levels=3, num_classes=2)
    r = model(torch.randint(0, 4, (3, 10)))
    for k in range(3):
        terms = [r.losses["predict"][k]] + ([r.losses["state"][k], r.losses["distill"][k]] if k < 2 else [])
        grads = torch.autograd.grad(sum(terms), list(model.parameters()), allow_unused=True, retain_graph=True)
        reached = {n for (n, _), g in zip(model.named_parameters(), grads) if g is not None and g.abs().sum() > 0}
        assert reached and reached <= set(level_parameters(model, k)), (k, reached)


def test_collapse_drops_the_top_level_and_reads_the_automatizers_prediction_of_it():
    torch.manual_seed(5)
    model = HistoryCompressor("gru", vocab_size=4, hidden_size=5, num_classes=3)
    x, lengths = torch.randint(0, 4, (3, 8)), torch.tensor([8, 5, 2])
    before = model(x, lengths)
    model.collapse()
    after = model(x, lengths)
    assert model.config()["levels"] == 1 and model.config()["collapsed"] is True
    assert torch.allclose(after.class_logits, before.distilled_logits) and after.distilled_logits is None
    assert after.logits[0].equal(before.logits[0]) and after.surprise == [] and after.fraction_up == []
    rebuilt = HistoryCompressor(**json.loads(json.dumps(model.config())))
    rebuilt.load_state_dict(model.state_dict())  # strict: the same parameters
    assert rebuilt(x, lengths).class_logits.equal(after.class_logits)
    with pytest.raises(ValueError, match="already collapsed"):
        model.collapse()


def test_rebuilds_from_its_json_config():
    model = HistoryCompressor("lstm", vocab_size=6, hidden_size=4, levels=3, embed_dim=3, surprise=0.4,
                              num_classes=2, cell_options={"peephole": True})
    rebuilt = HistoryCompressor(**json.loads(json.dumps(model.config())))
    rebuilt.load_state_dict(model.state_dict())
    x = torch.randint(0, 6, (2, 7))
    assert rebuilt(x).class_logits.equal(model(x).class_logits)


@pytest.mark.parametrize("name,options", sorted({(e.name, json.dumps(o)) for e, _, o in CASES if not e.spatial}))
def test_every_registered_vector_cell_drives_each_level(name, options):
    model = HistoryCompressor(name, vocab_size=4, hidden_size=5, levels=3, num_classes=2,
                              cell_options=json.loads(options))
    r = model(torch.randint(0, 4, (3, 7)), lengths=torch.tensor([7, 3, 5]))
    model.loss(r, torch.tensor([0, 1, 1]), distill=1.0).backward()
    assert r.class_logits.shape == (3, 2) and len(r.surprise) == 2
    assert all(p.grad is not None for n, p in model.named_parameters() if not n.startswith("embed"))


def test_bad_arguments_are_refused_by_name():
    model = HistoryCompressor("gru", vocab_size=4, hidden_size=3, num_classes=2)
    x = torch.randint(0, 4, (2, 5))
    for bad, error, words in [
        (torch.tensor([[0, 1, 4]]), ValueError, r"symbols in \[0, vocab_size=4\).*0 to 4"),
        (torch.tensor([[0, -1, 2]]), ValueError, "from -1 to 2"),
        (x.float(), TypeError, "integer tensor.*float32"),
        (x.bool(), TypeError, "integer tensor.*bool"),
        (x[0], ValueError, r"2-D .*got shape \(5\)"),
        (x[:, :0], ValueError, r"L >= 1, got shape \(2, 0\)"),
        ([[0, 1]], TypeError, "x must be a torch.Tensor"),
    ]:
        with pytest.raises(error, match=words):
            model(bad)
    with pytest.raises(ValueError, match="lengths must be <= L"):
        model(x, lengths=torch.tensor([5, 6]))
    with pytest.raises(ValueError, match="masks must be a list of 1"):
        model(x, masks=[])
    with pytest.raises(ValueError, match="True at step 0"):
        model(x, masks=[torch.zeros(2, 5, dtype=torch.bool)])
    with pytest.raises(ValueError, match=r"masks\[0\] must be a bool tensor of level 0's shape \(2, 5\)"):
        model(x, masks=[torch.ones(2, 4, dtype=torch.bool)])
    r = model(x)
    with pytest.raises(ValueError, match=r"target must have shape \(2,\) and classes in \[0, 2\)"):
        model.loss(r, torch.tensor([0, 2]))
    with pytest.raises(TypeError, match="target must be an integer tensor"):
        model.loss(r, torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="predict must be one weight or 2"):
        model.loss(r, predict=(1.0,))
    with pytest.raises(ValueError, match="state must be a weight >= 0"):
        model.loss(r, state=-1.0)
    with pytest.raises(ValueError, match="num_classes > 0"):
        HistoryCompressor("gru", vocab_size=4, hidden_size=3).loss(r, torch.tensor([0, 1]))
    for kwargs, error, words in [
        (dict(levels=1), ValueError, "levels must be >= 2, got 1"),
        (dict(levels=0, collapsed=True), ValueError, "levels must be >= 1, got 0"),
        (dict(vocab_size=0), ValueError, "vocab_size must be >= 1"),
        (dict(surprise="often"), ValueError, r"surprise must be 'argmax' or a probability threshold in \(0, 1\]"),
        (dict(surprise=0.0), ValueError, "surprise must be"),
        (dict(cell="conv_lstm"), ValueError, "cell must be a vector cell"),
        (dict(cell="nope"), ValueError, "nope"),
        (dict(collapsed=1), TypeError, "collapsed must be a bool"),
        (dict(cell_options=[1]), TypeError, "cell_options must be a dict"),
    ]:
        with pytest.raises(error, match=words):
            HistoryCompressor(**{"cell": "gru", "vocab_size": 4, **kwargs})
