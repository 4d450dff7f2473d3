"""Random arithmetic expressions modulo 10 as labelled binary trees: a task that isolates structure.

An expression is a digit 0-9 or `(a op b)` with op in {+, *} and a, b expressions; its value is taken
modulo 10, so every subexpression has a value in 0..9 (+ and * are defined everywhere, and reducing mod 10
at every node gives the same result as reducing the integer value once at the end). The depth is the
operator nesting: a digit has depth 0, `(a op b)` has 1 + max(depth(a), depth(b)).

Binarisation. The operator has to be a leaf so that a tree network reads it, and BinaryTreeLSTM takes
at most two children, so `(a op b)` becomes

    (v  A  (p  (o op)  B))          v = value of (a op b); A, B the trees of a and b

the right child is the operator applied to the right operand, a one-argument function x -> x op b.
Every node has a well-defined label (NUM_CLASSES = 32 classes), so a loss can go on every node as in
the SST:

    0..9                    the value of a digit leaf or an operator node (a whole subexpression)
    10 + k                  the operator leaf of OPS[k]        (10: "+", 11: "*")
    12 + 10 k + value(b)    the function node "OPS[k] b"       (12..21: "+ b", 22..31: "* b")

The function label names the pair (operator, operand value), not the function as a mapping ("+ 0" and
"* 1" are both the identity, with labels 12 and 23). Value nodes are always labelled below NUM_VALUES,
so a root prediction is read from the first 10 logits. Digits, with single-character tokens, make the
flat text unambiguous: `flatten` gives the tokens a sequential model reads, with a bracket pair around
every operator node, and `parse_expression` reads them back.

    >>> import random
    >>> from rnnzoo.data.expressions import depth, evaluate, expression_dataset, flatten, parse_expression
    >>> from rnnzoo.data.expressions import random_expression, to_text
    >>> from rnnzoo.data.trees import to_bracketed
    >>> t = parse_expression("(3+(4*5))")
    >>> to_bracketed(t)
    '(3 (3 3) (12 (10 +) (0 (4 4) (27 (11 *) (5 5)))))'
    >>> flatten(t), evaluate(t), depth(t)
    (['(', '3', '+', '(', '4', '*', '5', ')', ')'], 3, 2)
    >>> e = random_expression(3, random.Random(0))
    >>> depth(e), parse_expression(flatten(e)) == e, evaluate(e) == eval(to_text(e)) % 10
    (3, True, True)
    >>> [to_text(t) for t in expression_dataset(3, depths=[1, 2], seed=0)]
    ['((8+9)+2)', '(8*7)', '(5*9)']

Values are not uniform: 0 absorbs under *, and an even factor keeps a product even, so 0 and the even
values grow more common with depth (0 is the value of about 18% of depth-1 expressions from
random_expression and about 40% at depth 10): score a model against the majority value of its test set.

Everything here is iterative (no recursion limit on depth). `expression_dataset` draws distinct
expressions; `count_expressions(d)` says how many there are of depth d (200 of depth 1, 88,000 of
depth 2), so a data set cannot ask for more than exist.
"""

from __future__ import annotations

import random
import re

from .trees import Tree

OPS = ("+", "*")
DIGITS = tuple("0123456789")
MODULUS = NUM_VALUES = 10
NUM_CLASSES = NUM_VALUES + len(OPS) + len(OPS) * NUM_VALUES  # values, operator leaves, function nodes
TOKENS = ("(", ")", *OPS, *DIGITS)  # the flat vocabulary
_APPLY = {"+": lambda a, b: (a + b) % MODULUS, "*": lambda a, b: (a * b) % MODULUS}


def _digit(value: int) -> Tree:
    return Tree(value, word=DIGITS[value])


def combine(left: Tree, op: str, right: Tree) -> Tree:
    """The tree of `(left op right)` from the trees of its operands (labelled as the module says)."""
    if op not in OPS:
        raise ValueError(f"op must be one of {OPS}, got {op!r}")
    k = OPS.index(op)
    a, b = left.label, right.label
    if not (0 <= a < NUM_VALUES and 0 <= b < NUM_VALUES):
        raise ValueError(f"operands must be expression trees (value labels 0..9), got labels {a} and {b}")
    function = Tree(NUM_VALUES + len(OPS) + NUM_VALUES * k + b, (Tree(NUM_VALUES + k, word=op), right))
    return Tree(_APPLY[op](a, b), (left, function))


def random_expression(depth: int, rng: random.Random) -> Tree:
    """A random expression of exactly `depth` (operator nesting; 0 gives a digit).

    Each operator node of depth d > 0 draws its operator uniformly, which side carries the depth d - 1
    subexpression (a fair coin), and the other side's depth uniformly from 0..d-1; digits are uniform.
    Every expression of that depth can come out (not all equally often)."""
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 0:
        raise ValueError(f"depth must be an int >= 0, got {depth!r}")
    todo, done = [("build", depth)], []  # post-order: build the left operand, the right, then combine
    while todo:
        kind, x = todo.pop()
        if kind == "combine":
            right = done.pop()
            done.append(combine(done.pop(), x, right))
        elif x == 0:
            done.append(_digit(rng.randrange(NUM_VALUES)))
        else:
            op, other = rng.choice(OPS), rng.randrange(x)
            left, right = (x - 1, other) if rng.random() < 0.5 else (other, x - 1)
            todo += [("combine", op), ("build", right), ("build", left)]
    return done[0]


def count_expressions(depth: int) -> int:
    """How many distinct expressions have exactly this depth: 10, 200, 88,000, ..."""
    at_most = [NUM_VALUES]  # at_most[d]: expressions of depth <= d
    for _ in range(depth):
        at_most.append(NUM_VALUES + len(OPS) * at_most[-1] ** 2)
    return at_most[depth] - (at_most[depth - 1] if depth else 0)


def _text_depth(text: str) -> int:
    deepest = level = 0
    for ch in text:
        level += (ch == "(") - (ch == ")")
        deepest = max(deepest, level)
    return deepest


def expression_dataset(n: int, depths, seed: int = 0, exclude=()) -> list[Tree]:
    """n distinct random expressions (by their text), split as evenly as possible over `depths` (the
    first n % len(depths) of them get one more), none of them in `exclude` (Trees or their to_text
    strings), in a random order; the same (n, depths, seed, exclude) gives the same list.

    Raises a ValueError when a depth has fewer unused expressions than its share (see
    count_expressions: depth 1 has 200 in all)."""
    depths = list(depths)
    if not depths or any(isinstance(d, bool) or not isinstance(d, int) or d < 0 for d in depths):
        raise ValueError(f"depths must be a non-empty list of ints >= 0, got {depths!r}")
    if len(set(depths)) != len(depths):
        raise ValueError(f"depths must not repeat, got {depths}")
    seen = {t if isinstance(t, str) else to_text(t) for t in exclude}
    rng = random.Random(seed)
    out = []
    for i, d in enumerate(depths):
        share = n // len(depths) + (i < n % len(depths))
        free = count_expressions(d) - sum(_text_depth(s) == d for s in seen)
        if share > free:
            raise ValueError(f"depth {d} has {free} distinct expressions left (of {count_expressions(d)}), "
                             f"asked for {share}")
        got = 0
        while got < share:  # rejection: fine while the share is a small part of what exists (or small)
            tree = random_expression(d, rng)
            text = to_text(tree)
            if text not in seen:
                seen.add(text)
                out.append(tree)
                got += 1
    rng.shuffle(out)
    return out


def flatten(tree: Tree) -> list[str]:
    """The tokens of the expression, a bracket pair around each operator node: ['(', '3', '+', '7', ')'].
    A function node gives its operator and operand (['+', '7']), an operator leaf its operator."""
    out, stack = [], [tree]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            out.append(item)
        elif item.is_leaf:
            out.append(item.word)
        elif item.label < NUM_VALUES:  # (left op right): left, then the function node, then ")"
            stack += [")", item.children[1], item.children[0], "("]
        else:
            stack += list(reversed(item.children))
    return out


def to_text(tree: Tree) -> str:
    """The expression as one string without spaces, e.g. '(3+(4*5))': unambiguous, digits being one
    character, and valid Python (eval(text) % 10 is the value)."""
    return "".join(flatten(tree))


def parse_expression(tokens) -> Tree:
    """Tokens (a list, as flatten gives them) or a text ('(3 + (4*5))', whitespace ignored) -> the tree,
    labelled. Raises a ValueError naming the token (1-based) at fault."""
    if isinstance(tokens, str):
        tokens = re.findall(r"\S", tokens)
    tokens = list(tokens)
    stack = []  # "(", operators and finished operand trees
    for pos, tok in enumerate(tokens, 1):
        if tok in DIGITS:
            stack.append(_digit(int(tok)))
        elif tok == "(" or tok in OPS:
            stack.append(tok)
        elif tok == ")":
            if len(stack) < 4 or not (stack[-4] == "(" and isinstance(stack[-3], Tree) and stack[-2] in OPS
                                      and isinstance(stack[-1], Tree)):
                raise ValueError(f"bad expression at token {pos}: ')' must close '( operand op operand'")
            right, op, left = stack.pop(), stack.pop(), stack.pop()
            stack[-1] = combine(left, op, right)
        else:
            raise ValueError(f"bad expression at token {pos}: {tok!r} is not one of {' '.join(TOKENS)}")
        if len(stack) > 1 and isinstance(stack[-1], Tree) and isinstance(stack[-2], Tree):
            raise ValueError(f"bad expression at token {pos}: two operands in a row")
    if len(stack) != 1 or not isinstance(stack[0], Tree):
        raise ValueError(f"bad expression: {'empty' if not tokens else 'incomplete'} "
                         f"({len(tokens)} tokens); an expression is a digit or '( expr op expr )'")
    return stack[0]


def _operator_node(node: Tree):
    """(left, op, right) of an operator node `(v left (p (o op) right))`, or None for a digit."""
    if node.is_leaf:
        if node.word not in DIGITS:
            raise ValueError(f"not an expression tree: the leaf {node.word!r} is not a digit")
        return None
    left, function = node.children if len(node.children) == 2 else (None, None)
    if function is None or len(function.children) != 2 or function.children[0].word not in OPS:
        raise ValueError("not an expression tree: an operator node is (value left (function (op) right))")
    return left, function.children[0].word, function.children[1]


def evaluate(tree: Tree) -> int:
    """The value (0..9) of the expression, computed from the digits and operators alone (the labels
    are not read)."""
    values, stack = [], [(tree, False)]
    while stack:
        node, expanded = stack.pop()
        parts = _operator_node(node)
        if parts is None:
            values.append(int(node.word))
        elif expanded:
            right = values.pop()
            values.append(_APPLY[parts[1]](values.pop(), right))
        else:
            stack += [(node, True), (parts[2], False), (parts[0], False)]
    return values[0]


def depth(tree: Tree) -> int:
    """Operator nesting: 0 for a digit, 1 + the deeper operand's depth for `(a op b)`."""
    deepest, stack = 0, [(tree, 0)]
    while stack:
        node, d = stack.pop()
        parts = _operator_node(node)
        if parts is not None:
            deepest = max(deepest, d + 1)
            stack += [(parts[0], d + 1), (parts[2], d + 1)]
    return deepest
