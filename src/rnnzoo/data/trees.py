"""PTB-style bracketed trees with an integer label on every node, as in the Stanford Sentiment Treebank.

    (3 (2 (2 The) (2 Rock)) (4 (2 is) (3 good)))

A leaf is `(label word)`, any other node `(label child child ...)`: binary in the SST, but unary
chains such as `(2 (3 word))` and wider nodes are read too. A word is any run of characters other
than brackets and ASCII whitespace. Everything here is iterative, so trees thousands of levels deep
need no raised recursion limit. `batch_trees` flattens a batch of trees into
the level-ordered index tensors that the models of rnnzoo.models.tree run one height at a time.

    >>> from rnnzoo.data.trees import parse_tree, to_bracketed, leaves, nodes, batch_trees
    >>> t = parse_tree("(3 (2 (2 The) (2 Rock)) (4 (2 is) (3 good)))")
    >>> [leaf.word for leaf in leaves(t)], [n.label for n in nodes(t)]
    (['The', 'Rock', 'is', 'good'], [2, 2, 2, 2, 3, 4, 3])
    >>> to_bracketed(t.children[1])
    '(4 (2 is) (3 good))'
    >>> batch = batch_trees([t, parse_tree("(1 (1 bad))")], {"The": 1, "Rock": 2, "is": 3, "good": 4}, unk=0)
    >>> batch.level_offsets, batch.roots.tolist(), batch.words.tolist()
    ((0, 5, 8, 9), [8, 7], [1, 2, 3, 4, 0])
    >>> parse_tree("(3 (2 The) (2 Rock)")
    Traceback (most recent call last):
    ...
    ValueError: bad tree at character 20: expected ')' to close the '(' at character 1, got the end of the text
"""

from __future__ import annotations

import dataclasses
import operator
import re
from collections import Counter
from pathlib import Path

import torch

PAD, UNK = "<pad>", "<unk>"  # build_vocab gives them ids 0 and 1
# ASCII whitespace only: the SST writes "8 1\/2" (8 1/2) as one word with a no-break space inside
_TOKEN = re.compile(r"\(|\)|[^\s()]+", re.ASCII)
_LABEL = re.compile(r"[+-]?\d+")


@dataclasses.dataclass(eq=False, slots=True)
class Tree:
    """One node and, through `children`, its subtree. A leaf has a `word` and no children; any other
    node has children (one or more) and word None. Equality compares the whole structure (iteratively)."""

    label: int
    children: tuple = ()
    word: str | None = None

    def __post_init__(self):
        if isinstance(self.label, bool) or not isinstance(self.label, int):
            raise TypeError(f"label must be an int, got {type(self.label).__name__} {self.label!r}")
        self.children = tuple(self.children)
        if not all(isinstance(c, Tree) for c in self.children):
            raise TypeError("children must be Tree nodes")
        if self.word is None and not self.children:
            raise ValueError("a node needs a word (a leaf) or children, got neither")
        if self.word is not None:
            if self.children:
                raise ValueError(f"a leaf has a word and no children; {self.word!r} came with {len(self.children)}")
            # such a word would not survive to_bracketed -> parse_tree
            if not isinstance(self.word, str) or not _TOKEN.fullmatch(self.word) or self.word in "()":
                raise ValueError(f"word must be a non-empty str without spaces or brackets, got {self.word!r}")

    @property
    def is_leaf(self) -> bool:
        return self.word is not None

    def __eq__(self, other):
        if not isinstance(other, Tree):
            return NotImplemented
        stack = [(self, other)]
        while stack:
            a, b = stack.pop()
            if a is b:
                continue
            if a.label != b.label or a.word != b.word or len(a.children) != len(b.children):
                return False
            stack.extend(zip(a.children, b.children))
        return True

    __hash__ = None

    def __repr__(self):
        return f"parse_tree({to_bracketed(self)!r})"


def _node(label: int, children: tuple = (), word: str | None = None) -> Tree:
    """A Tree without __post_init__'s checks, for the parser, whose tokens already pass them."""
    node = object.__new__(Tree)
    node.label, node.children, node.word = label, children, word
    return node


def _bad(position: int, message: str) -> ValueError:
    return ValueError(f"bad tree at character {position}: {message}")


def parse_tree(text: str) -> Tree:
    """One bracketed tree -> its root. Tokens may be separated by any whitespace.

    Raises a ValueError of one line naming the character (1-based) at fault: empty text, a missing or
    non-integer label, a node with neither a word nor children, more than one word, a word after
    children, an unclosed '(' or an extra ')', or any text after the tree."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str holding one bracketed tree, got {type(text).__name__}")
    tokens = [(m.group(), m.start() + 1) for m in _TOKEN.finditer(text)]
    end = len(text) + 1
    if not tokens:
        raise _bad(end, "empty text, expected '(' to start a tree")

    def at(k):  # token k and its position, or the end of the text
        return tokens[k] if k < len(tokens) else (None, end)

    def got(token):
        return "the end of the text" if token is None else repr(token)

    stack, k = [], 0  # stack: open nodes as [label, children, open position]
    while True:
        token, pos = at(k)
        if token == "(":
            label, lpos = at(k + 1)
            if label is None or not _LABEL.fullmatch(label):
                raise _bad(lpos, f"expected an integer label after '(', got {got(label)}")
            word, wpos = at(k + 2)
            if word == ")":
                raise _bad(wpos, "expected a word or '(' after the label, got ')': a node needs one or the other")
            if word is not None and word != "(":  # a leaf: (label word)
                close, cpos = at(k + 3)
                if close != ")":
                    raise _bad(cpos, f"expected ')' after the word {word!r}, got {got(close)}")
                node, k = _node(int(label), word=word), k + 4
            else:
                stack.append([int(label), [], pos])
                k += 2
                continue
        elif token == ")" and stack:
            label, children, _ = stack.pop()
            node, k = _node(label, tuple(children)), k + 1
        elif token is None:
            raise _bad(pos, f"expected ')' to close the '(' at character {stack[-1][2]}, got the end of the text")
        elif not stack:
            raise _bad(pos, f"expected '(' to start a tree, got {token!r}")
        else:
            raise _bad(pos, f"expected '(' or ')', got the word {token!r}: a node has one word or only children")
        if stack:
            stack[-1][1].append(node)
            continue
        if k < len(tokens):
            raise _bad(tokens[k][1], f"unexpected {tokens[k][0]!r} after the end of the tree")
        return node


def to_bracketed(tree: Tree) -> str:
    """The tree as one line, single spaces: parse_tree(to_bracketed(t)) == t, and for text written
    this way (the SST's files) to_bracketed(parse_tree(line)) == line."""
    out, stack = [], [tree]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            out.append(item)
        elif item.word is not None:
            out.append(f"({item.label} {item.word})")
        else:
            out.append(f"({item.label}")
            stack.append(")")
            for child in reversed(item.children):
                stack += [child, " "]
    return "".join(out)


def read_trees(path) -> list[Tree]:
    """Every tree of a file, one bracketed tree a line (blank lines skipped). Raises FileNotFoundError,
    or a ValueError of one line naming the file and line: not UTF-8, a bad tree, no trees at all."""
    path = Path(path)
    trees = []
    with open(path, "rb") as f:
        for number, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise ValueError(f"{path}, line {number}: not UTF-8 (byte 0x{raw[e.start]:02x})") from None
            if line.strip():
                try:
                    trees.append(parse_tree(line.rstrip("\r\n")))
                except ValueError as e:
                    raise ValueError(f"{path}, line {number}: {e}") from None
    if not trees:
        raise ValueError(f"{path}: no trees in it")
    return trees


def _flatten(tree: Tree) -> tuple[list, list]:
    """The nodes in post-order, and for each the post-order positions of its children."""
    order, kids = [], []
    stack = [(tree, iter(tree.children), [])]
    while stack:
        node, pending, done = stack[-1]
        child = next(pending, None)
        if child is not None:
            stack.append((child, iter(child.children), []))
            continue
        stack.pop()
        if stack:
            stack[-1][2].append(len(order))
        order.append(node)
        kids.append(done)
    return order, kids


def nodes(tree: Tree) -> list[Tree]:
    """Every node, children before their parent, left to right (post-order); the root is last."""
    return _flatten(tree)[0]


def leaves(tree: Tree) -> list[Tree]:
    """The leaves left to right: [leaf.word for leaf in leaves(t)] is the sentence."""
    return [n for n in nodes(tree) if n.word is not None]


def build_vocab(trees, min_count: int = 1) -> dict[str, int]:
    """{word: id}: PAD 0, UNK 1, then the words seen at least min_count times, most frequent first
    (ties in alphabetical order)."""
    counts = Counter(leaf.word for t in trees for leaf in leaves(t))
    kept = [w for w, n in counts.items() if n >= min_count and w not in (PAD, UNK)]
    kept.sort(key=lambda w: (-counts[w], w))
    return {PAD: 0, UNK: 1, **{w: i for i, w in enumerate(kept, 2)}}


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class TreeBatch:
    """A batch of trees as flat tensors, nodes numbered by level: every leaf (height 0) first, then the
    nodes of height 1, 2, ...; within a height by tree, then post-order. A node's height is 1 + its
    tallest child's, so its children always come at earlier rows, and the nodes of height h are rows
    level_offsets[h]:level_offsets[h + 1].

    Shapes (int64 tensors; T trees, M nodes, L leaves, K = max(2, most children of any node)):
        words (L,)         word ids of the leaves, rows 0..L-1
        labels (M,)        every node's label
        children (M, K)    children's rows, left to right, padded with -1 (row -1 of a state buffer of
                           M + 1 rows whose last row is zero reads a zero state)
        num_children (M,)  0 for leaves
        height (M,)        0 for leaves
        tree (M,)          which tree (0..T-1) each node belongs to
        roots (T,)         each tree's root
        order (M,)         nodes tree by tree, each tree in post-order: order[tree_offsets[i]:
                           tree_offsets[i + 1]] lines up with nodes(trees[i]) (see tree_nodes)
        unique_words (U,)  the distinct ids in words, ascending (a model embeds each once)
        word_index (L,)    each leaf's position in unique_words: words = unique_words[word_index]
    level_offsets and tree_offsets are tuples of ints; min_word, max_word (the range of `words`) and
    max_children are ints, so that a model checks a batch without reading its tensors.
    """

    words: torch.Tensor
    labels: torch.Tensor
    children: torch.Tensor
    num_children: torch.Tensor
    height: torch.Tensor
    tree: torch.Tensor
    roots: torch.Tensor
    order: torch.Tensor
    unique_words: torch.Tensor
    word_index: torch.Tensor
    level_offsets: tuple
    tree_offsets: tuple
    min_word: int
    max_word: int
    max_children: int

    @property
    def num_nodes(self) -> int:
        return self.level_offsets[-1]

    @property
    def num_leaves(self) -> int:
        return self.level_offsets[1]

    @property
    def num_trees(self) -> int:
        return len(self.tree_offsets) - 1

    @property
    def max_height(self) -> int:
        return len(self.level_offsets) - 2

    def __repr__(self):
        return (f"TreeBatch({self.num_trees} trees, {self.num_nodes} nodes, {self.num_leaves} leaves, "
                f"max height {self.max_height}, device {self.words.device})")

    def tree_nodes(self, i: int) -> torch.Tensor:
        """Rows of tree i's nodes in post-order, the order of nodes(trees[i])."""
        return self.order[self.tree_offsets[i]:self.tree_offsets[i + 1]]

    def to(self, device) -> TreeBatch:
        return dataclasses.replace(self, **{f.name: getattr(self, f.name).to(device) for f in dataclasses.fields(self)
                                            if isinstance(getattr(self, f.name), torch.Tensor)})


def batch_trees(trees, vocab, unk: int | None = None) -> TreeBatch:
    """Trees -> a TreeBatch. vocab maps a word to its id: a dict (an unknown word gets `unk`, or is an
    error naming it when unk is None) or a function of the word. Takes time linear in the number of
    nodes (about 10 us a node)."""
    trees = list(trees)
    if not trees or not all(isinstance(t, Tree) for t in trees):
        raise ValueError(f"trees must be a non-empty sequence of Tree, got {len(trees)} items"
                         + ("" if not trees else f" of types {sorted({type(t).__name__ for t in trees})}"))
    lookup = vocab if callable(vocab) else None
    # every node once, tree by tree in post-order ("flat" index); then a stable sort by height
    labels, heights, words, sizes, parents, slots, kids = [], [], [], [], [], [], []
    for i, tree in enumerate(trees):
        base, start = len(heights), len(heights)
        order, children = _flatten(tree)
        for node, ks in zip(order, children):
            if ks:
                heights.append(1 + max(heights[base + c] for c in ks))
                parents += [len(labels)] * len(ks)
                slots += range(len(ks))
                kids += [base + c for c in ks]
            else:
                heights.append(0)
                words.append(_word_id(node.word, i, vocab, lookup, unk))
            labels.append(node.label)
        sizes.append(len(heights) - start)
    M, K = len(heights), max(2, max(slots, default=0) + 1)
    height, by_height = torch.sort(torch.tensor(heights), stable=True)  # stable: leaves keep the words' order
    row = torch.empty(M, dtype=torch.long)
    row[by_height] = torch.arange(M)  # flat index -> batch row
    children = torch.full((M, K), -1, dtype=torch.long)
    children[torch.tensor(parents, dtype=torch.long), torch.tensor(slots, dtype=torch.long)] = \
        row[torch.tensor(kids, dtype=torch.long)]
    num_children = (children >= 0).sum(1)
    tree_offsets = [0]
    for size in sizes:
        tree_offsets.append(tree_offsets[-1] + size)
    level_offsets = [0] + torch.bincount(height).cumsum(0).tolist()
    words = torch.tensor(words, dtype=torch.long)
    unique_words, word_index = torch.unique(words, return_inverse=True)
    return TreeBatch(
        words=words, unique_words=unique_words, word_index=word_index, labels=torch.tensor(labels)[by_height],
        children=children[by_height], num_children=num_children[by_height], height=height,
        tree=torch.repeat_interleave(torch.arange(len(trees)), torch.tensor(sizes))[by_height],
        roots=row[torch.tensor(tree_offsets[1:]) - 1], order=row, level_offsets=tuple(level_offsets),
        tree_offsets=tuple(tree_offsets), min_word=int(unique_words[0]), max_word=int(unique_words[-1]),
        max_children=int(num_children.max()))


def _word_id(word, i, vocab, lookup, unk) -> int:
    if lookup is not None:
        wid = lookup(word)
    elif word in vocab:
        wid = vocab[word]
    elif unk is None:
        raise ValueError(f"the word {word!r} of tree {i} is not in the vocabulary; pass unk=<id> for unknown words")
    else:
        wid = unk
    try:
        if isinstance(wid, bool) or operator.index(wid) < 0:
            raise TypeError
    except TypeError:
        raise ValueError(f"word ids must be ints >= 0, got {wid!r} for {word!r} (tree {i})") from None
    return operator.index(wid)
