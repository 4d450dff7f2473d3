"""rnnzoo.data.trees: the bracketed-tree reader, its writer, traversals and the level-ordered batch."""

import sys

import pytest
import torch
from conftest import shared_data

from rnnzoo.data import trees as T
from rnnzoo.data.trees import Tree, batch_trees, build_vocab, leaves, nodes, parse_tree, read_trees, to_bracketed

SST_LINE = "(3 (2 (2 The) (2 Rock)) (4 (2 is) (3 good)))"
SHAPES = {
    "one leaf": "(2 word)",
    "unary chain": "(2 (3 (1 (4 word))))",
    "unary above binary": "(1 (2 (3 a) (4 b)))",
    "unary inside": "(1 (2 (3 a)) (0 (4 (2 b) (2 c))))",
    "wide": "(2 (1 a) (2 b) (3 c) (4 (0 d)))",
    "negative and big labels": "(-1 (12 a) (307 b))",
    "sst": SST_LINE,
}


def chain(depth: int) -> Tree:
    """A unary chain: one leaf under `depth` internal nodes, built without recursion."""
    tree = Tree(0, word="w")
    for k in range(depth):
        tree = Tree(k % 5, (tree,))
    return tree


def test_every_sst_dev_line_round_trips_exactly():
    path = shared_data("trees", "sst") / "dev.txt"
    lines = path.read_text(encoding="utf-8").splitlines()
    trees = read_trees(path)
    assert len(trees) == len(lines) == 1101
    assert [to_bracketed(t) for t in trees] == lines
    assert all(parse_tree(to_bracketed(t)) == t for t in trees)
    assert all(len(n.children) in (0, 2) for t in trees for n in nodes(t))  # the SST is binary
    assert {n.label for t in trees for n in nodes(t)} == {0, 1, 2, 3, 4}


@pytest.mark.parametrize("text", SHAPES.values(), ids=SHAPES.keys())
def test_hand_written_shapes_round_trip(text):
    tree = parse_tree(text)
    assert to_bracketed(tree) == text
    assert parse_tree(to_bracketed(tree)) == tree


def test_parse_reads_structure_labels_and_words_with_any_whitespace():
    tree = parse_tree("\n ( 3\t(2 (2 The)(2 Rock) ) (4 (2 is) (3 good)) )  \n")
    assert tree == parse_tree(SST_LINE)
    assert [leaf.word for leaf in leaves(tree)] == ["The", "Rock", "is", "good"]
    assert [n.label for n in nodes(tree)] == [2, 2, 2, 2, 3, 4, 3]
    assert nodes(tree)[-1] is tree and tree.children[0].children[1].word == "Rock"
    assert parse_tree("(2 word)") == Tree(2, word="word") and parse_tree("(2 word)").is_leaf


def test_a_no_break_space_is_part_of_a_word_as_in_the_sst():
    tree = parse_tree("(2 (2 8\u00a01\\/2) (2 .))")
    assert [leaf.word for leaf in leaves(tree)] == ["8\u00a01\\/2", "."]


def test_trees_differing_anywhere_are_unequal():
    base = parse_tree(SST_LINE)
    for other in ["(3 (2 (2 The) (2 Rock)) (4 (2 is) (3 bad)))", "(3 (2 (2 The) (2 Rock)) (4 (2 is) (1 good)))",
                  "(3 (2 (2 The) (2 Rock)) (4 (2 is) (3 (3 good))))", "(3 (2 (2 The) (2 Rock)) (4 (2 is)))"]:
        assert parse_tree(other) != base
    assert base != "(3 ...)" and chain(50) != chain(51)


def test_a_tree_5000_deep_parses_writes_compares_and_batches_without_recursion():
    limit = sys.getrecursionlimit()
    tree = chain(5000)
    text = to_bracketed(tree)
    assert text.count("(") == 5001
    again = parse_tree(text)
    assert again == tree and to_bracketed(again) == text
    assert len(nodes(again)) == 5001 and [leaf.word for leaf in leaves(again)] == ["w"]
    assert repr(again).startswith("parse_tree('(4 (3 (2")
    batch = batch_trees([again, parse_tree(SST_LINE)], {}, unk=0)
    assert batch.max_height == 5000 and batch.roots.tolist() == [batch.num_nodes - 1, 9]
    assert sys.getrecursionlimit() == limit


BAD = [  # text, 1-based position named, a phrase of the message
    ("", 1, "empty text"),
    ("   \n", 5, "empty text"),
    ("word", 1, "expected '(' to start a tree, got 'word'"),
    (")", 1, "expected '(' to start a tree"),
    ("(", 2, "expected an integer label after '(', got the end of the text"),
    ("(NP (2 a))", 2, "expected an integer label after '(', got 'NP'"),
    ("(3 (2 a) ( b))", 12, "expected an integer label after '(', got 'b'"),
    ("(3)", 3, "expected a word or '(' after the label"),
    ("(3 a b)", 6, "expected ')' after the word 'a', got 'b'"),
    ("(3 a (2 b))", 6, "expected ')' after the word 'a', got '('"),
    ("(3 (2 a) b)", 10, "expected '(' or ')', got the word 'b'"),
    ("(3 (2 The) (2 Rock)", 20, "expected ')' to close the '(' at character 1, got the end of the text"),
    ("(3 (2 (2 a) (2 b))", 19, "expected ')' to close the '(' at character 1"),
    ("(3 (2 a)))", 10, "unexpected ')' after the end of the tree"),
    ("(3 a) (2 b)", 7, "unexpected '(' after the end of the tree"),
    ("(3 a) trailing", 7, "unexpected 'trailing' after the end of the tree"),
]


@pytest.mark.parametrize("text, position, phrase", BAD, ids=[b[2][:40] for b in BAD])
def test_bad_brackets_raise_one_line_naming_the_character(text, position, phrase):
    with pytest.raises(ValueError) as info:
        parse_tree(text)
    message = str(info.value)
    assert message.startswith(f"bad tree at character {position}: ") and phrase in message and "\n" not in message


def test_the_position_named_is_where_the_fault_is():
    text = "(3 (2 (2 The) (2 Rock)) (4 (2 is) (3 good) bad))"
    with pytest.raises(ValueError, match="character 44: ") as info:
        parse_tree(text)
    assert text[43:46] == "bad" and "'bad'" in str(info.value)


def test_read_trees_names_the_file_and_line_and_skips_blank_lines(tmp_path):
    good = tmp_path / "good.txt"
    good.write_text(f"{SST_LINE}\n\n(1 (1 bad))\r\n", encoding="utf-8")
    assert [to_bracketed(t) for t in read_trees(good)] == [SST_LINE, "(1 (1 bad))"]
    bad = tmp_path / "bad.txt"
    bad.write_text(f"{SST_LINE}\n\n(1 (1 bad)\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.txt, line 3: bad tree at character 11: expected '\)'"):
        read_trees(bad)
    (tmp_path / "latin1.txt").write_bytes(b"(1 caf\xe9)\n")
    with pytest.raises(ValueError, match=r"latin1\.txt, line 1: not UTF-8 \(byte 0xe9\)"):
        read_trees(tmp_path / "latin1.txt")
    (tmp_path / "empty.txt").write_text("\n \n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"empty\.txt: no trees in it"):
        read_trees(tmp_path / "empty.txt")
    with pytest.raises(FileNotFoundError):
        read_trees(tmp_path / "missing.txt")


@pytest.mark.parametrize("make, error", [
    (lambda: Tree(2), "needs a word .* or children"),
    (lambda: Tree(2, (Tree(1, word="a"),), word="b"), "a leaf has a word and no children"),
    (lambda: Tree(2, word="two words"), "without spaces or brackets"),
    (lambda: Tree(2, word="a)"), "without spaces or brackets"),
    (lambda: Tree(2, word=""), "without spaces or brackets"),
    (lambda: Tree("2", word="a"), "label must be an int"),
    (lambda: Tree(2, ("a",)), "children must be Tree nodes"),
])
def test_trees_that_would_not_round_trip_cannot_be_built(make, error):
    with pytest.raises((TypeError, ValueError), match=error):
        make()


def test_build_vocab_puts_pad_and_unk_first_then_words_by_frequency():
    trees = [parse_tree("(1 (2 b) (2 a))"), parse_tree("(1 (2 a) (2 c))"), parse_tree("(1 a)")]
    assert build_vocab(trees) == {T.PAD: 0, T.UNK: 1, "a": 2, "b": 3, "c": 4}
    assert build_vocab(trees, min_count=2) == {T.PAD: 0, T.UNK: 1, "a": 2}


def test_batch_numbers_nodes_by_height_with_children_on_earlier_rows():
    trees = [parse_tree(text) for text in SHAPES.values()]
    vocab = build_vocab(trees)
    batch = batch_trees(trees, vocab)
    M, K = batch.num_nodes, batch.children.shape[1]
    assert M == sum(len(nodes(t)) for t in trees) and K == 4 == batch.max_children
    assert batch.num_leaves == sum(len(leaves(t)) for t in trees) == len(batch.words)
    off = batch.level_offsets
    for h in range(batch.max_height + 1):  # each height is one contiguous slice
        assert (batch.height[off[h]:off[h + 1]] == h).all()
    for row in range(M):
        kids = batch.children[row, :batch.num_children[row]]
        assert (batch.children[row, batch.num_children[row]:] == -1).all()
        assert (kids < off[batch.height[row]]).all() and (kids >= 0).all()  # below this node's level
        if len(kids):
            assert batch.height[row] == 1 + batch.height[kids].max()
            assert (batch.tree[kids] == batch.tree[row]).all()
    for i, tree in enumerate(trees):  # tree_nodes lines up with nodes(tree)
        rows = batch.tree_nodes(i)
        assert batch.labels[rows].tolist() == [n.label for n in nodes(tree)]
        assert (batch.tree[rows] == i).all() and rows[-1] == batch.roots[i]
        leaf_rows = [int(r) for r, n in zip(rows, nodes(tree)) if n.is_leaf]
        assert batch.words[leaf_rows].tolist() == [vocab[leaf.word] for leaf in leaves(tree)]
        # children in order, as rows of this tree
        position = {int(r): k for k, r in enumerate(rows)}
        for r, node in zip(rows, nodes(tree)):
            kids = batch.children[r, :len(node.children)].tolist()
            assert [nodes(tree)[position[c]] for c in kids] == list(node.children)
    assert (batch.min_word, batch.max_word) == (int(batch.words.min()), int(batch.words.max()))
    assert batch.unique_words.tolist() == sorted(set(batch.words.tolist()))
    assert torch.equal(batch.unique_words[batch.word_index], batch.words)


def test_batch_of_the_same_tree_object_twice_and_a_one_leaf_tree():
    tree = parse_tree(SST_LINE)
    batch = batch_trees([tree, tree, parse_tree("(2 w)")], {}, unk=1)
    assert batch.num_nodes == 15 and batch.level_offsets == (0, 9, 13, 15) and batch.max_children == 2
    assert batch.roots.tolist() == [13, 14, 8] and batch.words.tolist() == [1] * 9
    assert batch.children.shape == (15, 2)  # always room for a left and a right child


def test_batch_word_lookup_by_dict_with_unk_or_by_function():
    tree = parse_tree("(1 (2 known) (2 other))")
    assert batch_trees([tree], {"known": 7}, unk=1).words.tolist() == [7, 1]
    assert batch_trees([tree], len).words.tolist() == [5, 5]
    with pytest.raises(ValueError, match="the word 'other' of tree 0 is not in the vocabulary; pass unk"):
        batch_trees([tree], {"known": 7})
    with pytest.raises(ValueError, match="word ids must be ints >= 0, got -1"):
        batch_trees([tree], lambda w: -1)
    with pytest.raises(ValueError, match="non-empty sequence of Tree"):
        batch_trees([], {})
    with pytest.raises(ValueError, match="non-empty sequence of Tree, got 1 items of types \\['str'\\]"):
        batch_trees([SST_LINE], {})


def test_batch_to_moves_every_tensor_and_keeps_the_rest():
    batch = batch_trees([parse_tree(SST_LINE)], {}, unk=0)
    moved = batch.to("cpu")
    assert moved.level_offsets == batch.level_offsets and torch.equal(moved.children, batch.children)
