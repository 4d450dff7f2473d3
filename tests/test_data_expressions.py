"""rnnzoo.data.expressions: arithmetic mod 10 as labelled binary trees, the flat tokens, the depth splits."""

import random

import pytest

from rnnzoo.data import expressions as E
from rnnzoo.data.trees import Tree, batch_trees, nodes, parse_tree, to_bracketed


def python_value(tokens) -> int:
    """An evaluator independent of the module's: Python's integer arithmetic on the flat text, then mod 10
    (+ and * commute with reducing mod 10, so this is the value mod 10 at every node)."""
    return eval(" ".join(tokens)) % 10  # the tokens are digits, + * ( ) only


def check_labels(tree: Tree):
    """Every node's label against python_value, by its role: a value node, a function node, an operator leaf."""
    for node in nodes(tree):
        if node.is_leaf and node.word in E.OPS:
            assert node.label == 10 + E.OPS.index(node.word)
        elif node.is_leaf:
            assert node.label == int(node.word)
        elif node.children[0].word in E.OPS:  # the function node "op b"
            op, operand = node.children
            assert node.label == 12 + 10 * E.OPS.index(op.word) + python_value(E.flatten(operand))
        else:
            assert len(node.children) == 2 and node.label == python_value(E.flatten(node))
        assert 0 <= node.label < E.NUM_CLASSES


@pytest.mark.parametrize("depth", range(0, 11))
def test_every_node_is_labelled_with_its_independently_computed_value_and_depth_is_exact(depth):
    rng = random.Random(depth)
    for _ in range(30 if depth < 8 else 5):
        tree = E.random_expression(depth, rng)
        assert E.depth(tree) == depth
        check_labels(tree)
        assert E.evaluate(tree) == tree.label == python_value(E.flatten(tree))
        # the bracket nesting of the flat text is the operator depth
        level = deepest = 0
        for tok in E.flatten(tree):
            level += (tok == "(") - (tok == ")")
            deepest = max(deepest, level)
        assert deepest == depth and level == 0


def test_hand_worked_examples():
    t = E.parse_expression("((7*8)+(9*(2+3)))")  # 56 + 45 = 101
    assert E.evaluate(t) == t.label == 1 and E.depth(t) == 3
    assert [n.label for n in t.children[0].children] == [7, 30]  # 7, then "* 8": 12 + 10 + 8
    assert to_bracketed(E.parse_expression("(2*5)")) == "(0 (2 2) (27 (11 *) (5 5)))"
    assert E.parse_expression("4") == Tree(4, word="4") and E.depth(Tree(4, word="4")) == 0


def test_trees_are_binary_with_operators_as_leaves_and_batch_for_the_tree_models():
    tree = E.random_expression(5, random.Random(3))
    assert all(len(n.children) in (0, 2) for n in nodes(tree))
    words = {n.word for n in nodes(tree) if n.is_leaf}
    assert words <= set(E.DIGITS) | set(E.OPS) and words & set(E.OPS)
    batch = batch_trees([tree], {w: i for i, w in enumerate(E.DIGITS + E.OPS)})
    assert batch.max_children == 2 and batch.labels[batch.roots].item() == E.evaluate(tree)


def test_random_expression_is_seeded():
    a = [E.to_text(E.random_expression(6, random.Random(11))) for _ in range(3)]
    assert a == [E.to_text(E.random_expression(6, random.Random(11))) for _ in range(3)]
    assert len({E.to_text(E.random_expression(6, random.Random(s))) for s in range(20)}) == 20


def test_flatten_round_trips_through_the_parser_and_bracketed_text():
    rng = random.Random(5)
    for depth in (0, 1, 2, 4, 7, 10):
        tree = E.random_expression(depth, rng)
        tokens = E.flatten(tree)
        assert set(tokens) <= set(E.TOKENS)
        assert tokens.count("(") == tokens.count(")") == sum(t in E.OPS for t in tokens)
        assert E.parse_expression(tokens) == tree
        assert E.parse_expression(" ".join(tokens)) == tree == E.parse_expression(E.to_text(tree))
        assert parse_tree(to_bracketed(tree)) == tree


@pytest.mark.parametrize("text", ["", "(", "(3+4", "3+4)", "(3 4)", "(3+)", "(+3 4)", "((3+4))", "(3+4)5",
                                  "(3-4)", "12", "(3+4+5)"])
def test_bad_expressions_are_refused(text):
    with pytest.raises(ValueError, match="bad expression"):
        E.parse_expression(text)


def test_a_deep_expression_needs_no_recursion():
    tree = E.parse_expression("(1+" * 3000 + "1" + ")" * 3000)
    assert E.depth(tree) == 3000 and E.evaluate(tree) == 3001 % 10 == tree.label
    assert len(E.flatten(tree)) == 4 * 3000 + 1


def test_count_expressions_matches_enumeration():
    assert [E.count_expressions(d) for d in range(3)] == [10, 200, 88_000]
    every = {E.to_text(E.random_expression(1, random.Random(s))) for s in range(5000)}
    assert len(every) == 200  # random_expression reaches every depth-1 expression


def test_expression_dataset_is_seeded_distinct_and_split_evenly_over_depths():
    data = E.expression_dataset(301, depths=[2, 3, 4], seed=7)
    texts = [E.to_text(t) for t in data]
    assert len(set(texts)) == 301
    assert sorted(E.depth(t) for t in data) == [2] * 101 + [3] * 100 + [4] * 100
    assert texts == [E.to_text(t) for t in E.expression_dataset(301, depths=[2, 3, 4], seed=7)]
    assert texts != [E.to_text(t) for t in E.expression_dataset(301, depths=[2, 3, 4], seed=8)]
    for tree in data[:50]:
        check_labels(tree)


def test_expression_dataset_refuses_more_than_exist_and_bad_depths():
    assert len(E.expression_dataset(200, depths=[1], seed=0)) == 200  # every one of them
    with pytest.raises(ValueError, match="depth 1 has 200 distinct expressions left"):
        E.expression_dataset(201, depths=[1])
    used = E.expression_dataset(150, depths=[1], seed=0)
    assert len(E.expression_dataset(50, depths=[1], seed=1, exclude=used)) == 50
    with pytest.raises(ValueError, match="depth 1 has 50 distinct"):
        E.expression_dataset(51, depths=[1], seed=1, exclude=used)
    for bad in ([], [1, 1], [-1], [True]):
        with pytest.raises(ValueError, match="depths must"):
            E.expression_dataset(4, depths=bad)


def test_train_and_test_depth_splits_do_not_overlap():
    """The benchmark's split: train on depth <= 4, test on 5..10; a held-out set of the same depths as the
    training set excludes it."""
    # depth 1 has only 200 expressions: its share is drawn on its own
    train = E.expression_dataset(150, depths=[1], seed=0) + E.expression_dataset(1500, depths=[2, 3, 4], seed=0)
    test = E.expression_dataset(600, depths=range(5, 11), seed=1)
    assert max(E.depth(t) for t in train) <= 4 < 5 <= min(E.depth(t) for t in test)
    seen = {E.to_text(t) for t in train}
    assert not seen & {E.to_text(t) for t in test}
    held_out = E.expression_dataset(200, depths=[1, 2, 3, 4], seed=1, exclude=train)
    assert not seen & {E.to_text(t) for t in held_out}
    # exclude takes texts as well as trees
    assert [E.to_text(t) for t in E.expression_dataset(200, depths=[1, 2, 3, 4], seed=1, exclude=seen)] == \
        [E.to_text(t) for t in held_out]
