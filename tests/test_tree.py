"""rnnzoo.models.tree: TreeRNN, BinaryTreeLSTM and ChildSumTreeLSTM, batched by level, against a
node-by-node recursion written here from the papers' equations."""

import json
import random

import pytest
import torch
from conftest import randomise
from torch.func import functional_call

from rnnzoo.data.trees import Tree, batch_trees, nodes, parse_tree
from rnnzoo.models.tree import BinaryTreeLSTM, ChildSumTreeLSTM, TreeRNN

MODELS = [TreeRNN, BinaryTreeLSTM, ChildSumTreeLSTM]
VOCAB = {w: i for i, w in enumerate("<pad> <unk> a b c d e f g".split())}
BINARY = ["(2 a)", "(1 (3 (0 b)))", "(3 (2 (2 a) (2 b)) (4 (2 c) (3 d)))",
          "(1 (2 (2 (2 (2 a) (3 b)) (2 c)) (4 d)) (0 e))", "(2 (3 a) (4 (1 b) (0 (2 c) (3 (1 d) (1 e)))))",
          "(0 (1 (2 a)) (3 (4 (2 b) (1 c))))", "(4 (4 f) (4 g))"]
WIDE = ["(2 (1 a) (2 b) (3 c))", "(1 (2 (0 a) (1 b) (2 c) (3 d)) (4 e))", "(3 (2 a) (1 (0 b) (4 c) (2 d) (1 e) (3 f)))"]


def trees_for(cls):
    return [parse_tree(t) for t in BINARY + ([] if cls.binary else WIDE)]


def make(cls, dtype=torch.float32, hidden=5, embed=4, classes=3, seed=0, **options):
    torch.manual_seed(seed)
    model = cls(len(VOCAB), embed, hidden, num_classes=classes, **options)
    return randomise(model, seed=seed).to(dtype)


# --- the reference: plain recursion over a Tree, one node at a time, equations written out -------------
def _blocks(model):
    """Parameter access by block: w(name, k, x, cols) = rows k*H..(k+1)*H of name's weight (those
    columns) times x; b(name, k) the same rows of its bias."""
    H, p = model.hidden_size, dict(model.named_parameters())

    def w(name, k, x, cols=slice(None)):
        return p[name + ".weight"][k * H:(k + 1) * H, cols] @ x

    def b(name, k):
        return p[name + ".bias"][k * H:(k + 1) * H]
    return H, p, w, b


def ref_leaf(model, word):
    """A leaf's (h,) or (h, c) from its word."""
    H, p, w, b = _blocks(model)
    x = p["embedding.weight"][VOCAB[word]]
    if isinstance(model, TreeRNN):
        return (torch.tanh(w("leaf_layer", 0, x) + b("leaf_layer", 0)),)
    i, o, u = (w("leaf_layer", k, x) + b("leaf_layer", k) for k in range(3))  # rows i, o, u
    c = torch.sigmoid(i) * torch.tanh(u)
    return (torch.sigmoid(o) * torch.tanh(c), c)


def ref_node(model, kids):
    """An internal node's (h,) or (h, c) from its children's; a binary model's missing right child
    contributes nothing (a zero state)."""
    H, p, w, b = _blocks(model)
    sig, tanh, left, right = torch.sigmoid, torch.tanh, slice(0, H), slice(H, 2 * H)
    if isinstance(model, TreeRNN):
        pre = w("compose", 0, kids[0][0], left) + b("compose", 0)
        if len(kids) == 2:
            pre = pre + w("compose", 0, kids[1][0], right)
        return (tanh(pre),)
    if isinstance(model, BinaryTreeLSTM):  # rows i, f_l, f_r, o, u; columns U^(l) | U^(r)
        gate = [w("compose", k, kids[0][0], left) + b("compose", k) for k in range(5)]
        if len(kids) == 2:
            gate = [g + w("compose", k, kids[1][0], right) for k, g in enumerate(gate)]
        c = sig(gate[0]) * tanh(gate[4]) + sig(gate[1]) * kids[0][1]
        if len(kids) == 2:
            c = c + sig(gate[2]) * kids[1][1]
        return (sig(gate[3]) * tanh(c), c)
    h_sum = sum(h for h, _ in kids)  # child-sum: rows i, o, u; a forget gate per child from its own h
    i, o, u = (w("compose", k, h_sum) + b("compose", k) for k in range(3))
    c = sig(i) * tanh(u)
    for h_k, c_k in kids:
        c = c + sig(w("forget", 0, h_k) + b("forget", 0)) * c_k
    return (sig(o) * tanh(c), c)


def reference(model, tree):
    """Every node's states, post-order, each element stacked (nodes, H): by recursion over the tree."""
    out = []

    def visit(node):
        state = ref_leaf(model, node.word) if node.is_leaf else ref_node(model, [visit(c) for c in node.children])
        out.append(state)
        return state

    visit(tree)
    return [torch.stack(s) for s in zip(*out)]


def per_tree(batch, states, i):
    return [s[batch.tree_nodes(i)] for s in states]


@pytest.mark.parametrize("dtype, tol", [(torch.float32, 1e-6), (torch.float64, 1e-12)], ids=["float32", "float64"])
@pytest.mark.parametrize("cls", MODELS, ids=lambda c: c.__name__)
def test_a_batch_gives_each_tree_alone_and_the_node_by_node_recursion(cls, dtype, tol):
    model = make(cls, dtype).eval()
    trees = trees_for(cls)
    batch = batch_trees(trees, VOCAB)
    states, logits = model(batch)
    assert len(states) == model.num_states and all(s.shape == (batch.num_nodes, 5) for s in states)
    assert logits.shape == (batch.num_nodes, 3) and logits.dtype == dtype
    torch.testing.assert_close(logits, model.head(states[0]), atol=tol, rtol=0)
    with torch.no_grad():
        for i, tree in enumerate(trees):
            alone, _ = model(batch_trees([tree], VOCAB))
            expected = reference(model, tree)
            for batched, single, ref in zip(per_tree(batch, states, i), per_tree(batch_trees([tree], VOCAB), alone, 0),
                                            expected):
                torch.testing.assert_close(batched, single, atol=tol, rtol=0)
                torch.testing.assert_close(batched, ref, atol=tol, rtol=0)


@pytest.mark.parametrize("cls", MODELS, ids=lambda c: c.__name__)
def test_gradients_match_the_recursion_in_float64_also_when_backward_runs_twice(cls):
    trees = trees_for(cls)
    batch = batch_trees(trees, VOCAB)
    model = make(cls, torch.float64)
    weights = [torch.randn(batch.num_nodes, 5, dtype=torch.float64) for _ in range(model.num_states)]
    states, logits = model(batch)
    loss = sum((w * s).sum() for w, s in zip(weights, states)) + logits.square().sum()
    loss.backward(retain_graph=True)
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    loss.backward()  # the retained graph again: each gradient doubles
    assert all(torch.allclose(p.grad, 2 * grads[n], atol=1e-12, rtol=0) for n, p in model.named_parameters())
    model.zero_grad()
    ref_loss = 0
    for i, tree in enumerate(trees):
        ref = reference(model, tree)
        rows = batch.tree_nodes(i)
        ref_loss = ref_loss + sum((w[rows] * s).sum() for w, s in zip(weights, ref)) + model.head(ref[0]).square().sum()
    ref_loss.backward()
    for n, p in model.named_parameters():
        torch.testing.assert_close(grads[n], p.grad, atol=1e-12, rtol=0, msg=n)


class NoOpDropout(torch.nn.Dropout):
    """Dropout's p without its effect: sends a model in training mode down its dropout path (a leaf
    layer run per leaf, not per distinct word) while the states stay those of eval mode."""

    def forward(self, x):
        return x


@pytest.mark.parametrize("cls", MODELS, ids=lambda c: c.__name__)
def test_the_per_leaf_path_of_dropout_gives_the_per_word_states(cls):
    model = make(cls)
    batch = batch_trees(trees_for(cls), VOCAB)
    assert len(batch.unique_words) < batch.num_leaves
    model.drop = NoOpDropout(0.5)
    per_leaf = model.train()(batch)
    per_word = model.eval()(batch)
    for a, b in zip((*per_leaf[0], per_leaf[1]), (*per_word[0], per_word[1])):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0)


@pytest.mark.parametrize("path", ["per word", "per leaf"])
@pytest.mark.parametrize("cls", MODELS, ids=lambda c: c.__name__)
def test_gradcheck_float64_through_every_parameter(cls, path):
    trees = [parse_tree(t) for t in ["(1 (2 a) (3 (4 b)))", "(2 c)", "(3 (1 (0 d) (2 e)) (2 a))"]]
    if not cls.binary:
        trees.append(parse_tree("(2 (1 a) (0 b) (3 c))"))
    batch = batch_trees(trees, VOCAB)
    model = make(cls, torch.float64, hidden=2, embed=2, classes=2)
    if path == "per leaf":
        model.drop = NoOpDropout(0.5)
    names = [n for n, _ in model.named_parameters()]

    def f(*params):
        states, logits = functional_call(model, dict(zip(names, params)), (batch,))
        return (*states, logits)

    params = tuple(p.detach().clone().requires_grad_() for p in model.parameters())
    assert torch.autograd.gradcheck(f, params, eps=1e-6, atol=1e-7, rtol=1e-5)
    batch = batch_trees([parse_tree("(2 c)"), parse_tree("(1 a)")], VOCAB)  # leaves only: no level above
    assert torch.autograd.gradcheck(f, params, eps=1e-6, atol=1e-7, rtol=1e-5)


@pytest.mark.parametrize("cls", [TreeRNN, BinaryTreeLSTM], ids=lambda c: c.__name__)
def test_the_fused_level_path_equals_the_generic_one_in_states_and_every_gradient(cls):
    from rnnzoo.models.tree import _TreeModel
    batch = batch_trees([parse_tree(t) for t in BINARY], VOCAB)
    model = make(cls, torch.float64)
    leaves = [torch.randn(batch.level_offsets[1], 5, dtype=torch.float64, requires_grad=True)
              for _ in range(model.num_states)]
    weights = [torch.randn(batch.num_nodes, 5, dtype=torch.float64) for _ in range(model.num_states)]
    results = []
    for levels in (cls._levels, _TreeModel._levels):  # the fused node, then the generic one
        model.zero_grad()
        for x in leaves:
            x.grad = None
        states = levels(model, batch, tuple(leaves))
        sum((w * s).sum() for w, s in zip(weights, states)).backward()
        results.append([s.detach() for s in states] + [x.grad.clone() for x in leaves]
                       + [model.compose.weight.grad.clone(), model.compose.bias.grad.clone()])
    for fast, generic in zip(*results):
        torch.testing.assert_close(fast, generic, atol=1e-12, rtol=0)
    assert results[0][-2].abs().sum() > 0  # the composition's weight got a gradient at all


@pytest.mark.parametrize("cls", MODELS, ids=lambda c: c.__name__)
def test_a_chain_2000_deep_runs_and_matches_a_loop(cls):
    depth = 2000
    tree = Tree(1, word="a")
    for k in range(depth):  # left-deep, alternating unary and binary nodes
        tree = Tree(2, (tree,) if k % 2 else (tree, Tree(3, word="b")))
    model = make(cls, hidden=4, embed=3, classes=2).eval()
    batch = batch_trees([tree], VOCAB)
    assert batch.max_height == depth
    states, logits = model(batch)
    logits.sum().backward()
    assert all(p.grad is not None and p.grad.isfinite().all() for p in model.parameters())
    # the same chain walked by a loop (post-order), each node from the reference's equations
    with torch.no_grad():
        done = {}
        for node in nodes(tree):
            done[id(node)] = ref_leaf(model, node.word) if node.is_leaf else \
                ref_node(model, [done[id(c)] for c in node.children])
    for got, want in zip((s[batch.roots[0]] for s in states), done[id(tree)]):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=0)


@pytest.mark.parametrize("cls", MODELS, ids=lambda c: c.__name__)
def test_config_is_json_and_rebuilds_the_model(cls):
    model = make(cls, dropout=0.25, padding_idx=0)
    config = json.loads(json.dumps(model.config()))
    again = cls(**config)
    again.load_state_dict(model.state_dict())
    batch = batch_trees(trees_for(cls), VOCAB)
    torch.testing.assert_close(again.eval()(batch)[1], model.eval()(batch)[1], atol=0, rtol=0)
    assert config == dict(vocab_size=len(VOCAB), embed_dim=4, hidden_size=5, num_classes=3, dropout=0.25, padding_idx=0)


@pytest.mark.parametrize("cls", MODELS, ids=lambda c: c.__name__)
def test_without_a_head_logits_are_none_and_a_loss_on_the_roots_trains_everything(cls):
    model = cls(len(VOCAB), 4, 5)
    batch = batch_trees(trees_for(cls), VOCAB)
    states, logits = model(batch)
    assert logits is None and model.head is None
    roots = model.roots(batch, states)
    assert all(r.shape == (batch.num_trees, 5) for r in roots)
    torch.testing.assert_close(roots[0], states[0][batch.roots])
    roots[-1].sum().backward()  # only the roots' last state element (c for the LSTMs)
    assert all(p.grad is not None for p in model.parameters())


def test_child_sum_states_do_not_depend_on_the_order_of_children():
    model = make(ChildSumTreeLSTM).eval()
    a, b = parse_tree("(1 (2 a) (3 (0 b) (2 c)) (2 d) (1 e))"), parse_tree("(1 (1 e) (2 d) (3 (2 c) (0 b)) (2 a))")
    (h, c), _ = model(batch_trees([a, b], VOCAB))
    torch.testing.assert_close(h[batch_trees([a, b], VOCAB).roots[0]], h[batch_trees([a, b], VOCAB).roots[1]])


@pytest.mark.parametrize("cls", [TreeRNN, BinaryTreeLSTM], ids=lambda c: c.__name__)
def test_binary_models_refuse_wider_nodes_naming_the_node_and_tree(cls):
    batch = batch_trees([parse_tree("(2 (1 a) (2 b))"), parse_tree("(2 (1 a) (2 b) (3 c))")], VOCAB)
    with pytest.raises(ValueError, match=rf"{cls.__name__} takes binary trees .*; node 3 of tree 1 \(in post-order"
                                         r".*\) has 3: binarise the trees or use ChildSumTreeLSTM"):
        cls(len(VOCAB), 4, 5)(batch)


@pytest.mark.parametrize("cls", MODELS, ids=lambda c: c.__name__)
def test_dropout_acts_in_training_only_and_padding_idx_embeds_to_zero(cls):
    torch.manual_seed(0)
    model = cls(len(VOCAB), 4, 5, num_classes=3, dropout=0.5, padding_idx=1)
    batch = batch_trees([parse_tree("(1 (2 a) (3 unknown-word))")], VOCAB, unk=1)
    assert (model.embedding.weight[1] == 0).all()
    torch.testing.assert_close(model.eval()(batch)[1], model(batch)[1])
    model.train()
    torch.manual_seed(3)
    assert not torch.allclose(model(batch)[1], model.eval()(batch)[1])


@pytest.mark.parametrize("kwargs, error", [
    (dict(hidden_size=0), "hidden_size must be >= 1"),
    (dict(vocab_size=2.0), "vocab_size must be an int"),
    (dict(num_classes=-1), "num_classes must be >= 0"),
    (dict(dropout=1.0), r"dropout must be a float in \[0, 1\)"),
    (dict(padding_idx=9), r"padding_idx must be None or an id in \[0, vocab_size=9\), got 9"),
])
def test_bad_arguments_are_named(kwargs, error):
    args = dict(vocab_size=9, embed_dim=4, hidden_size=5) | kwargs
    with pytest.raises((TypeError, ValueError), match=error):
        TreeRNN(**args)


def test_bad_batches_are_named():
    model = TreeRNN(3, 4, 5)
    with pytest.raises(TypeError, match="TreeRNN takes a TreeBatch .*, got list"):
        model([parse_tree("(1 a)")])
    with pytest.raises(ValueError, match=r"word ids must be in \[0, vocab_size=3\), the batch has 7"):
        model(batch_trees([parse_tree("(1 (1 a) (2 b))")], {"a": 0, "b": 7}))


def test_training_on_sst_like_labels_lowers_the_loss():
    random.seed(0)
    trees = [parse_tree(t) for t in BINARY]
    batch = batch_trees(trees, VOCAB)
    model = make(BinaryTreeLSTM, hidden=8, classes=5)
    optimiser = torch.optim.Adam(model.parameters(), lr=0.05)
    losses = []
    for _ in range(30):
        optimiser.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(batch)[1], batch.labels)
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
