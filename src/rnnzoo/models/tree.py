r"""Recursive (tree) networks over a TreeBatch, batched by level: `TreeRNN`, `BinaryTreeLSTM`,
`ChildSumTreeLSTM`.

Only leaves carry words (constituency trees such as the Stanford Sentiment Treebank's): a leaf's state
comes from its word, any other node's from its children's states. Nodes are numbered by height
(rnnzoo.data.trees.batch_trees), and every model runs one height at a time over the whole batch:

    states = zeros(M + 1, H)                  the last row stays zero: child index -1 (padding) reads it
    states[leaves] = leaf(embedding(words))   height 0, all leaves of all trees in one product
    for h = 1 .. max height:                  the nodes of height h are one contiguous slice of rows
        states[slice_h] = node(states[children[slice_h]])     gather, one product, write

so a batch takes (max height + 1) steps whatever its size, each a few matrix products, where a
node-by-node recursion takes one small product per node. The buffers are plain tensors that two small
autograd Functions write and read (_Level, _Final), so backward also goes level by level, in time
linear in the number of nodes, however deep the trees. TreeRNN and BinaryTreeLSTM run all their levels in
one Function each (_TreeRNNLevels, _BinaryTreeLSTMLevels), whose backward forms the composition's weight
gradient in one product over every node.
Node states do not depend on the rest of the batch: a tree gives the same states alone as in any batch
(tests/test_tree.py checks this and checks each model against a node-by-node recursion).

Common arguments (all JSON-able; `config()` returns them, so `Model(**m.config())` rebuilds `m`):
    vocab_size, embed_dim: the word embedding, nn.Embedding(vocab_size, embed_dim, padding_idx)
    hidden_size: H
    num_classes: C, a linear head giving logits at every node (the SST trains on every node); 0: none
    dropout: on the embeddings and on the states fed to the head (training mode only); the tree
        connections themselves get none. Without it (or in eval mode) the leaf layer runs once per
        distinct word of the batch, else once per leaf, each with its own dropout mask
    padding_idx: an id whose embedding is zero and never trained (e.g. unknown words), or None

Shapes (M nodes, L leaves, T trees of a TreeBatch; E embed_dim, H hidden_size, C num_classes):
    forward(batch) -> (states, logits): states a tuple of (M, H) tensors, (h,) for TreeRNN and (h, c)
        for the Tree-LSTMs, row i the state of the batch's node i; logits (M, C), or None when C = 0
    roots(batch, x) -> x[batch.roots]: (T, ...) the rows of the trees' roots (x a tensor or a tuple)

Init: nn.Linear's and nn.Embedding's defaults (U(-1/sqrt(fan_in), 1/sqrt(fan_in)) and N(0, 1)).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.autograd.function import once_differentiable

from ..checks import check_finite, check_size
from ..data.trees import TreeBatch


class _Store:
    """The node states of one forward pass in plain buffers of M + 1 rows (the last stays zero: child
    index -1, padding, reads it), and their gradients in twins, filled in backward. Autograd never sees
    the buffers: writing into an autograd tensor level by level would make backward copy the whole
    buffer once per level (quadratic in the height); here backward touches each row a few times."""

    def __init__(self, like, M: int, H: int, count: int):
        self.values = [like.new_zeros(M + 1, H) for _ in range(count)]
        self.grads = None

    def write(self, start: int, states):
        for buf, s in zip(self.values, states):
            buf.narrow(0, start, len(s)).copy_(s)

    def add_grads(self, rows, grads):
        """Adds grads at `rows`: an index tensor (repeats add up) or a slice."""
        if self.grads is None:
            self.grads = [torch.zeros_like(buf) for buf in self.values]
        for acc, g in zip(self.grads, grads):
            if isinstance(rows, slice):
                acc[rows] += g
            else:
                acc.index_put_((rows,), g, accumulate=True)

    def take_grads(self, start: int, n: int) -> list:
        """The gradient gathered for rows start..start+n, zeroed after (so that backward through a
        retained graph runs again from zero)."""
        out = []
        for acc in self.grads:
            out.append(acc.narrow(0, start, n).clone())
            acc.narrow(0, start, n).zero_()
        return out


class _Level(torch.autograd.Function):
    """Writes the states of one level (rows start..) and reads the children of the next level, rows
    `index` (n, K) -> each (n, K, H). Backward runs from the top level down (each level's states
    come from the children read by the level below it), so when it reaches this level every level
    above has put its gradient into the store: this level's is complete."""

    @staticmethod
    def forward(ctx, store, start, index, *states):
        ctx.store, ctx.start, ctx.n, ctx.index = store, start, len(states[0]), index
        store.write(start, states)
        return tuple(buf[index] for buf in store.values)

    @staticmethod
    @once_differentiable
    def backward(ctx, *grads):
        ctx.store.add_grads(ctx.index, grads)
        return (None, None, None, *ctx.store.take_grads(ctx.start, ctx.n))


class _Final(torch.autograd.Function):
    """Writes the top level and returns every node's states, each (M, H); backward, the first of
    the tree's, puts their gradient into the store, where each level's _Level finds it."""

    @staticmethod
    def forward(ctx, store, start, *states):
        ctx.store, ctx.start, ctx.n = store, start, len(states[0])
        store.write(start, states)
        return tuple(buf[:-1].clone() for buf in store.values)

    @staticmethod
    @once_differentiable
    def backward(ctx, *grads):
        ctx.store.add_grads(slice(0, -1), grads)
        return (None, None, *ctx.store.take_grads(ctx.start, ctx.n))


def _fused_setup(children, offsets):
    """What both fused level Functions start from: (M nodes, n_0 leaves, each level's (lo, hi) rows above
    the leaves, the children's rows with padding (-1) sent to row M, a zero row past the states)."""
    M, n0 = offsets[-1], offsets[1]
    return M, n0, list(zip(offsets[1:-1], offsets[2:])), torch.where(children < 0, M, children)


class _TreeRNNLevels(torch.autograd.Function):
    """TreeRNN's levels in one node: (leaf states (n_0, H), W (H, 2H), b (H,), children (M, 2), level
    offsets) -> every node's state (M, H). Forward: h = tanh(W [h_l; h_r] + b) a level at a time, the
    children's states of every internal node kept in one (M - n_0, 2H) buffer. Backward, from the top level
    down: dL/dpre = dL/dh (1 - h^2), the children's gradient dL/dpre W added into their rows; then
    dL/dW = Σ dL/dpre^T [h_l; h_r] and dL/db in one product and one sum over all internal nodes."""

    @staticmethod
    def forward(ctx, leaves, weight, bias, children, offsets):
        (M, n0, spans, rows), H = _fused_setup(children, offsets), leaves.shape[1]
        buf = leaves.new_zeros(M + 1, H)  # row M stays zero: what a missing child reads
        buf[:n0] = leaves
        inputs = leaves.new_empty(M - n0, 2 * H)  # [h_l; h_r] of every internal node, in node order
        for lo, hi in spans:
            x = inputs[lo - n0:hi - n0]
            torch.index_select(buf, 0, rows[lo:hi].reshape(-1), out=x.view(-1, H))
            torch.addmm(bias, x, weight.t(), out=buf[lo:hi]).tanh_()
        states = buf[:M]
        ctx.n0, ctx.spans = n0, spans
        ctx.save_for_backward(weight, rows, inputs, states)
        return states

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_states):
        weight, rows, inputs, states = ctx.saved_tensors
        (M, H), n0 = states.shape, ctx.n0
        grad = grad_states.new_zeros(M + 1, H)
        grad[:M] = grad_states
        pre = grad_states.new_empty(M - n0, H)  # dL/dpre of every internal node
        for lo, hi in reversed(ctx.spans):  # a level's rows are complete here: its parents came before
            g = pre[lo - n0:hi - n0]
            torch.mul(grad[lo:hi], states[lo:hi], out=g)
            torch.addcmul(grad[lo:hi], g, states[lo:hi], value=-1, out=g)  # dL/dh (1 - h^2)
            grad.index_add_(0, rows[lo:hi].reshape(-1), (g @ weight).view(-1, H))
        grad_weight = pre.t() @ inputs if ctx.needs_input_grad[1] else None
        grad_bias = pre.sum(0) if ctx.needs_input_grad[2] else None
        return grad[:n0], grad_weight, grad_bias, None, None


class _BinaryTreeLSTMLevels(torch.autograd.Function):
    """BinaryTreeLSTM's levels in one node: (leaf h (n_0, H), leaf c (n_0, H), W (5H, 2H), b (5H,), children
    (M, 2), level offsets) -> (h, c), each (M, H). Forward keeps every internal node's children states
    [h_l; h_r], its gates after their nonlinearities and tanh(c); backward runs the level equations' chain
    rule from the top level down, the children's dL/dh and dL/dc added into their rows, and forms dL/dW and
    dL/db in one product and one sum over all internal nodes."""

    @staticmethod
    def forward(ctx, h_leaf, c_leaf, weight, bias, children, offsets):
        (M, n0, spans, rows), H = _fused_setup(children, offsets), h_leaf.shape[1]
        hbuf, cbuf = h_leaf.new_zeros(M + 1, H), h_leaf.new_zeros(M + 1, H)  # row M: a missing child
        hbuf[:n0], cbuf[:n0] = h_leaf, c_leaf
        inputs = h_leaf.new_empty(M - n0, 2 * H)   # [h_l; h_r]
        acts = h_leaf.new_empty(M - n0, 5 * H)     # σ(i, f_l, f_r, o), tanh(u)
        tanh_c = h_leaf.new_empty(M - n0, H)
        for lo, hi in spans:
            x, a, t = inputs[lo - n0:hi - n0], acts[lo - n0:hi - n0], tanh_c[lo - n0:hi - n0]
            torch.index_select(hbuf, 0, rows[lo:hi].reshape(-1), out=x.view(-1, H))
            torch.addmm(bias, x, weight.t(), out=a)
            a[:, :4 * H].sigmoid_()
            a[:, 4 * H:].tanh_()
            i, f_l, f_r, o, u = a.split(H, dim=1)
            c = torch.mul(i, u, out=cbuf[lo:hi])
            c.addcmul_(f_l, cbuf[rows[lo:hi, 0]]).addcmul_(f_r, cbuf[rows[lo:hi, 1]])
            torch.mul(o, torch.tanh(c, out=t), out=hbuf[lo:hi])
        h, c = hbuf[:M], cbuf[:M]
        ctx.n0, ctx.spans = n0, spans
        ctx.save_for_backward(weight, rows, inputs, acts, tanh_c, cbuf)
        return h, c

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_h, grad_c):
        weight, rows, inputs, acts, tanh_c, cbuf = ctx.saved_tensors
        M, H, n0 = cbuf.shape[0] - 1, tanh_c.shape[1], ctx.n0
        gh, gc = grad_h.new_zeros(M + 1, H), grad_h.new_zeros(M + 1, H)
        gh[:M], gc[:M] = grad_h, grad_c
        pre = grad_h.new_empty(M - n0, 5 * H)  # dL/d(gate pre-activations) of every internal node
        for lo, hi in reversed(ctx.spans):  # a level's rows are complete here: its parents came before
            a, t, g = acts[lo - n0:hi - n0], tanh_c[lo - n0:hi - n0], pre[lo - n0:hi - n0]
            i, f_l, f_r, o, u = a.split(H, dim=1)
            n = hi - lo
            kids = rows[lo:hi]
            # dL/dc, all of it: from c's own gradient and through h = o tanh(c)
            dc = gc[lo:hi] + gh[lo:hi] * o * (1 - t * t)
            g4 = g[:, :4 * H].view(n, 4, H)
            torch.mul(dc, u, out=g4[:, 0])
            torch.mul(dc, cbuf[kids[:, 0]], out=g4[:, 1])
            torch.mul(dc, cbuf[kids[:, 1]], out=g4[:, 2])
            torch.mul(gh[lo:hi], t, out=g4[:, 3])
            sig = a[:, :4 * H]
            g[:, :4 * H].mul_(sig - sig * sig)
            torch.mul(dc * i, 1 - u * u, out=g[:, 4 * H:])
            gh.index_add_(0, kids.reshape(-1), (g @ weight).view(-1, H))
            gc.index_add_(0, kids.reshape(-1), torch.stack([dc * f_l, dc * f_r], dim=1).view(-1, H))
        grad_weight = pre.t() @ inputs if ctx.needs_input_grad[2] else None
        grad_bias = pre.sum(0) if ctx.needs_input_grad[3] else None
        return gh[:n0], gc[:n0], grad_weight, grad_bias, None, None


class _TreeModel(nn.Module):
    """The level-by-level driver; a subclass gives `leaf(x) -> states` and `node(*children) -> states`."""

    binary = True  # at most two children a node
    num_states = 1

    def __init__(self, vocab_size: int, embed_dim: int, hidden_size: int, num_classes: int = 0,
                 dropout: float = 0.0, padding_idx: int | None = None):
        super().__init__()
        check_size(vocab_size, "vocab_size")
        check_size(embed_dim, "embed_dim")
        check_size(hidden_size, "hidden_size")
        check_size(num_classes, "num_classes", minimum=0)
        if not 0 <= check_finite(dropout, "dropout") < 1:
            raise ValueError(f"dropout must be a float in [0, 1), got {dropout!r}")
        if padding_idx is not None and not 0 <= check_size(padding_idx, "padding_idx", minimum=0) < vocab_size:
            raise ValueError(f"padding_idx must be None or an id in [0, vocab_size={vocab_size}), got {padding_idx}")
        self._config = dict(vocab_size=vocab_size, embed_dim=embed_dim, hidden_size=hidden_size,
                            num_classes=num_classes, dropout=dropout, padding_idx=padding_idx)
        self.hidden_size = hidden_size
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=padding_idx)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, num_classes) if num_classes else None

    def config(self) -> dict:
        """The constructor's arguments, JSON-able: `Model(**m.config())` rebuilds `m`."""
        return dict(self._config)

    def forward(self, batch: TreeBatch):
        """batch -> (states, logits): every node's states, a tuple of (M, H); logits (M, C) or None."""
        self._check(batch)
        if self.training and self.drop.p:  # a dropout mask per leaf: each leaf its own row
            states = self.leaf(self.drop(self.embedding(batch.words)))  # each (L, H)
        else:  # the same word, the same state: each distinct word once (an SST batch repeats 40% of them)
            states = tuple(s[batch.word_index] for s in self.leaf(self.embedding(batch.unique_words)))
        states = self._levels(batch, states)
        logits = None if self.head is None else self.head(self.drop(states[0]))
        return states, logits

    def _levels(self, batch: TreeBatch, states):
        """The leaves' states -> every node's, one height at a time (`node` on each level's children).
        ChildSumTreeLSTM runs this; TreeRNN and BinaryTreeLSTM override it with one fused Function each,
        and their `node` stays the readable form of the same equations, which the tests check them against."""
        off, store = batch.level_offsets, _Store(states[0], batch.num_nodes, self.hidden_size, self.num_states)
        for h in range(1, len(off) - 1):  # write level h - 1, read the children of level h
            states = self.node(*_Level.apply(store, off[h - 1], batch.children[off[h]:off[h + 1]], *states))
        return _Final.apply(store, off[-2], *states)

    @staticmethod
    def roots(batch: TreeBatch, x):
        """The roots' rows of x (M, ...) or of each tensor of a tuple: (T, ...), in the batch's tree order."""
        return tuple(t[batch.roots] for t in x) if isinstance(x, tuple) else x[batch.roots]

    def _check(self, batch):
        name = type(self).__name__
        if not isinstance(batch, TreeBatch):
            raise TypeError(f"{name} takes a TreeBatch (rnnzoo.data.trees.batch_trees), got {type(batch).__name__}")
        vocab = self._config["vocab_size"]
        if batch.min_word < 0 or batch.max_word >= vocab:
            bad = batch.min_word if batch.min_word < 0 else batch.max_word
            raise ValueError(f"word ids must be in [0, vocab_size={vocab}), the batch has {bad}")
        if batch.words.device != self.embedding.weight.device:
            raise ValueError(f"the batch is on {batch.words.device} and {name} on {self.embedding.weight.device}; "
                             f"move one: batch.to(device) or model.to(device)")
        if self.binary and batch.max_children > 2:
            row = int((batch.num_children > 2).nonzero()[0])
            tree = int(batch.tree[row])
            position = int((batch.tree_nodes(tree) == row).nonzero()[0])
            raise ValueError(f"{name} takes binary trees (at most 2 children a node); node {position} of tree {tree} "
                             "(in post-order, as rnnzoo.data.trees.nodes lists them) has "
                             f"{int(batch.num_children[row])}: binarise the trees or use ChildSumTreeLSTM")


class TreeRNN(_TreeModel):
    r"""Recursive neural network (Pollack 1990; Socher et al. 2011) on binary trees.

    Equations (x the leaf's word embedding; l, r a node's left and right child):
        leaf:      h = tanh(W_e x + b_e)
        internal:  h = tanh(W [h_l; h_r] + b)
    A unary node (one child) reads its missing right child as h_r = 0, so a unary chain keeps
    transforming (it does not copy through). Nodes with more than two children are refused with a
    ValueError naming the node: binarise the trees, or use ChildSumTreeLSTM.

    Parameters: W_e, b_e = leaf_layer.weight (H, E), leaf_layer.bias (H,); W, b = compose.weight (H, 2H) with
    columns [left | right], compose.bias (H,). Arguments and shapes: see the module docstring.

    Example:
        >>> import torch
        >>> from rnnzoo.data.trees import parse_tree, batch_trees
        >>> from rnnzoo.models.tree import TreeRNN
        >>> trees = [parse_tree("(3 (2 (2 The) (2 Rock)) (4 (2 is) (3 good)))"), parse_tree("(1 bad)")]
        >>> batch = batch_trees(trees, {"The": 1, "Rock": 2, "is": 3, "good": 4, "bad": 5})
        >>> model = TreeRNN(vocab_size=6, embed_dim=4, hidden_size=8, num_classes=5)
        >>> (h,), logits = model(batch)
        >>> h.shape, logits.shape, model.roots(batch, h).shape
        (torch.Size([8, 8]), torch.Size([8, 5]), torch.Size([2, 8]))
        >>> torch.nn.functional.cross_entropy(logits, batch.labels).backward()  # a loss on every node
    """

    def __init__(self, vocab_size: int, embed_dim: int, hidden_size: int, num_classes: int = 0,
                 dropout: float = 0.0, padding_idx: int | None = None):
        super().__init__(vocab_size, embed_dim, hidden_size, num_classes, dropout, padding_idx)
        self.leaf_layer = nn.Linear(embed_dim, hidden_size)
        self.compose = nn.Linear(2 * hidden_size, hidden_size)

    def leaf(self, x):
        return (torch.tanh(self.leaf_layer(x)),)

    def node(self, h):  # h (n, 2, H): left and right child
        return (torch.tanh(self.compose(h.flatten(1))),)

    def _levels(self, batch: TreeBatch, states):
        """The fast path: all levels in one autograd node (_TreeRNNLevels) whose backward forms the
        composition's weight gradient in one product over every internal node, instead of one per level.
        `_TreeModel._levels`, the generic path, gives the same states and gradients (tests/test_tree.py)."""
        return (_TreeRNNLevels.apply(states[0], self.compose.weight, self.compose.bias, batch.children,
                                     batch.level_offsets),)


def _leaf_lstm(layer, x, H):
    """A Tree-LSTM leaf: the node equations with no children (i, o, u from the word, c = i ⊙ u)."""
    io, u = layer(x).split([2 * H, H], dim=1)  # split, not slices: one backward node, not one per slice
    i, o = torch.sigmoid(io).chunk(2, dim=1)
    c = i * torch.tanh(u)
    return o * torch.tanh(c), c


class BinaryTreeLSTM(_TreeModel):
    r"""N-ary Tree-LSTM with N = 2 (Tai, Socher & Manning 2015, eq. 9-14) on binary trees.

    Equations (σ the logistic sigmoid, ⊙ the elementwise product; l, r a node's children, k in {l, r}):
        leaf (x the word embedding, no children):
            i = σ(W_i x + b_i^x),  o = σ(W_o x + b_o^x),  u = tanh(W_u x + b_u^x)
            c = i ⊙ u,  h = o ⊙ tanh(c)
        internal (no input, as in the paper's constituency trees):
            i   = σ(U_i^(l) h_l + U_i^(r) h_r + b_i)
            f_k = σ(U_{f_k}^(l) h_l + U_{f_k}^(r) h_r + b_{f_k})   a forget gate per child
            o   = σ(U_o^(l) h_l + U_o^(r) h_r + b_o)
            u   = tanh(U_u^(l) h_l + U_u^(r) h_r + b_u)
            c = i ⊙ u + f_l ⊙ c_l + f_r ⊙ c_r,  h = o ⊙ tanh(c)
    A unary node reads its missing right child as (h_r, c_r) = (0, 0). The paper writes one equation
    for both kinds of node (x = 0 inside the tree, no children at a leaf); here leaves and internal
    nodes have their own biases. Nodes with more than two children are refused (see TreeRNN).

    Parameters: leaf_layer.weight (3H, E) = rows (W_i | W_o | W_u), leaf_layer.bias (3H,);
    compose.weight (5H, 2H) = rows (i | f_l | f_r | o | u), columns (U^(l) | U^(r)), compose.bias (5H,).
    states = (h, c). Arguments and shapes: see the module docstring.

    Example:
        >>> from rnnzoo.data.trees import parse_tree, batch_trees
        >>> from rnnzoo.models.tree import BinaryTreeLSTM
        >>> batch = batch_trees([parse_tree("(3 (2 (2 The) (2 Rock)) (4 (2 is) (3 good)))")], {}, unk=0)
        >>> model = BinaryTreeLSTM(vocab_size=1, embed_dim=4, hidden_size=8)
        >>> (h, c), logits = model(batch)
        >>> h.shape, c.shape, logits is None
        (torch.Size([7, 8]), torch.Size([7, 8]), True)
    """

    num_states = 2

    def __init__(self, vocab_size: int, embed_dim: int, hidden_size: int, num_classes: int = 0,
                 dropout: float = 0.0, padding_idx: int | None = None):
        super().__init__(vocab_size, embed_dim, hidden_size, num_classes, dropout, padding_idx)
        self.leaf_layer = nn.Linear(embed_dim, 3 * hidden_size)
        self.compose = nn.Linear(2 * hidden_size, 5 * hidden_size)

    def leaf(self, x):
        return _leaf_lstm(self.leaf_layer, x, self.hidden_size)

    def node(self, h, c):  # h, c (n, 2, H): left and right child
        H = self.hidden_size
        gates, u = self.compose(h.flatten(1)).split([4 * H, H], dim=1)  # (n, 4H), (n, H)
        i, f_l, f_r, o = torch.sigmoid(gates).chunk(4, dim=1)
        c_l, c_r = c.unbind(1)
        c = i * torch.tanh(u) + f_l * c_l + f_r * c_r
        return o * torch.tanh(c), c

    def _levels(self, batch: TreeBatch, states):
        """The fast path, as TreeRNN's: all levels in one autograd node (_BinaryTreeLSTMLevels);
        `_TreeModel._levels`, the generic path, gives the same states and gradients (tests/test_tree.py)."""
        return _BinaryTreeLSTMLevels.apply(*states, self.compose.weight, self.compose.bias, batch.children,
                                           batch.level_offsets)


class ChildSumTreeLSTM(_TreeModel):
    r"""Child-Sum Tree-LSTM (Tai, Socher & Manning 2015, eq. 2-8): any number of children.

    Equations (σ, ⊙ as in BinaryTreeLSTM; k runs over a node's children, in any order):
        leaf: as BinaryTreeLSTM's (i, o, u from the word; c = i ⊙ u, h = o ⊙ tanh(c))
        internal (no input):
            h~  = Σ_k h_k
            i   = σ(U_i h~ + b_i),  o = σ(U_o h~ + b_o),  u = tanh(U_u h~ + b_u)
            f_k = σ(U_f h_k + b_f)                     a forget gate per child, from that child's h
            c = i ⊙ u + Σ_k f_k ⊙ c_k,  h = o ⊙ tanh(c)
    Unary nodes and wide nodes need no convention: the sums run over the children there are (padding
    slots hold c = 0, so their forget gates multiply nothing). The states do not depend on the
    children's order.

    Parameters: leaf_layer.weight (3H, E) = rows (W_i | W_o | W_u), leaf_layer.bias (3H,);
    compose.weight (3H, H) = rows (U_i | U_o | U_u), compose.bias (3H,); forget.weight (H, H) = U_f,
    forget.bias (H,) = b_f. states = (h, c). Arguments and shapes: see the module docstring.

    Example:
        >>> from rnnzoo.data.trees import parse_tree, batch_trees
        >>> from rnnzoo.models.tree import ChildSumTreeLSTM
        >>> batch = batch_trees([parse_tree("(2 (1 a) (2 b) (3 c) (2 (4 d)))")], {"a": 0, "b": 1, "c": 2, "d": 3})
        >>> model = ChildSumTreeLSTM(vocab_size=4, embed_dim=4, hidden_size=8, num_classes=5)
        >>> (h, c), logits = model(batch)
        >>> h.shape, logits.shape, batch.max_children
        (torch.Size([6, 8]), torch.Size([6, 5]), 4)
    """

    binary = False
    num_states = 2

    def __init__(self, vocab_size: int, embed_dim: int, hidden_size: int, num_classes: int = 0,
                 dropout: float = 0.0, padding_idx: int | None = None):
        super().__init__(vocab_size, embed_dim, hidden_size, num_classes, dropout, padding_idx)
        self.leaf_layer = nn.Linear(embed_dim, 3 * hidden_size)
        self.compose = nn.Linear(hidden_size, 3 * hidden_size)
        self.forget = nn.Linear(hidden_size, hidden_size)

    def leaf(self, x):
        return _leaf_lstm(self.leaf_layer, x, self.hidden_size)

    def node(self, h, c):  # h, c (n, K, H): the children, zero in padding slots
        io, u = self.compose(h.sum(1)).split([2 * self.hidden_size, self.hidden_size], dim=1)
        i, o = torch.sigmoid(io).chunk(2, dim=1)
        f = torch.sigmoid(self.forget(h))  # (n, K, H)
        c = i * torch.tanh(u) + (f * c).sum(1)
        return o * torch.tanh(c), c
