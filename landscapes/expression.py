"""Your own surface: f(x, y) typed as text, parsed by a restricted grammar — never ``eval`` or ``exec``.

Grammar (precedence low to high; ``**`` binds right and above unary minus, as in Python)::

    sum     := product (("+" | "-") product)*
    product := unary (("*" | "/") unary)*
    unary   := ("+" | "-") unary | power
    power   := atom ("**" unary)?
    atom    := number | "x" | "y" | "pi" | "e" | function "(" sum ")" | "(" sum ")"

with ``function`` one of :data:`FUNCTIONS`. The text becomes a tree of tuples; the tree is differentiated
symbolically (∂f/∂x, ∂f/∂y), so the gradient is exact, and evaluated by walking the tree with numpy or torch
functions — vectorized over any ``(..., 2)`` batch of points, on any torch device and dtype. Nothing of the
text is ever executed: an unknown name, an attribute, a call of anything but a listed function, a string, a
too long or too deeply nested text is a ``ValueError`` saying what is wrong and at which position.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from .base import Bounds, Box, Point, Text, as_points, is_torch
from .registry import register

MAX_LENGTH = 200  # characters of f
MAX_DEPTH = 40  # nesting of parentheses and operators
MAX_NODES = 150  # tree size of f (a 200-character text has at most ~200 tokens)
MAX_DERIVATIVE_NODES = 5_000  # tree size of ∂f/∂x plus ∂f/∂y (a product of n factors has n² terms)
MAX_BOUND = 1e6  # |x|, |y| of the view window
GRID = 201  # points per axis of the grid that estimates the minimum
FUNCTIONS = ("sin", "cos", "tan", "exp", "log", "sqrt", "tanh", "sinh", "cosh", "atan", "abs")
CONSTANTS = {"pi": math.pi, "e": math.e}
_NUMPY = {"atan": "arctan"}  # numpy's name where it differs
_TOKEN = re.compile(r"\s*(?:(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(?P<name>[A-Za-z_]\w*)"
                    r"|(?P<op>\*\*|[-+*/()]))")

Tree = tuple  # ("num", v) | ("var", "x"|"y") | (op, a, b) for op in + - * / ** | ("neg", a) | ("call", f, a)


def _error(text: str, position: int, problem: str, hint: str = "") -> ValueError:
    shown = text if len(text) <= 60 else "…" + text[max(0, position - 20):position + 20] + "…"
    return ValueError(f"Invalid f value: {problem} at position {position + 1} in {shown!r}{hint}")


def tokenize(text: str) -> list[tuple[str, str, int]]:
    """(kind, text, position) for each token; anything outside the grammar's alphabet is an error."""
    if not isinstance(text, str):
        raise ValueError(f"Invalid f value: {text!r:.80} (must be text such as 'x**2 + 10*y**2')")
    if len(text) > MAX_LENGTH:
        raise ValueError(f"Invalid f value: {len(text)} characters (must be at most {MAX_LENGTH})")
    tokens, position = [], 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if not match:
            start = len(text) - len(text[position:].lstrip())
            raise _error(text, start, f"unexpected character {text[start]!r}")
        kind = match.lastgroup
        tokens.append((kind, match.group(kind), match.start(kind)))
        position = match.end()
    return tokens


class _Parser:
    """Recursive descent over the tokens, one method per grammar rule, with a depth and size budget."""

    def __init__(self, text: str) -> None:
        self.text, self.tokens, self.index, self.nodes = text, tokenize(text), 0, 0

    def parse(self) -> Tree:
        if not self.tokens:
            raise ValueError("Invalid f value: empty (type a formula in x and y such as 'x**2 + 10*y**2')")
        tree = self.sum(0)
        if self.index < len(self.tokens):
            _, token, position = self.tokens[self.index]
            raise _error(self.text, position, f"unexpected {token!r}")
        return tree

    def peek(self) -> str | None:
        return self.tokens[self.index][1] if self.index < len(self.tokens) else None

    def position(self) -> int:
        return self.tokens[self.index][2] if self.index < len(self.tokens) else len(self.text)

    def node(self, *parts: Any) -> Tree:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _error(self.text, self.position(), f"formula too large (more than {MAX_NODES} terms)")
        return parts

    def enter(self, depth: int) -> int:
        if depth > MAX_DEPTH:
            raise _error(self.text, self.position(), f"nested too deeply (more than {MAX_DEPTH} levels)")
        return depth + 1

    def sum(self, depth: int) -> Tree:
        depth = self.enter(depth)
        return self.chain(("+", "-"), self.product, depth)

    def product(self, depth: int) -> Tree:
        return self.chain(("*", "/"), self.unary, depth)

    def chain(self, operators: tuple[str, str], operand: Any, depth: int) -> Tree:
        """operand (operator operand)*, grouped to the left."""
        tree = operand(depth)
        while self.peek() in operators:
            _, operator, position = self.tokens[self.index]
            self.index += 1
            tree = self.number(self.node(operator, tree, operand(depth)), position)
        return tree

    def unary(self, depth: int) -> Tree:
        depth = self.enter(depth)
        if self.peek() in ("+", "-"):
            operator = self.tokens[self.index][1]
            self.index += 1
            operand = self.unary(depth)
            return self.node("neg", operand) if operator == "-" else operand
        return self.power(depth)

    def power(self, depth: int) -> Tree:
        base = self.atom(depth)
        if self.peek() == "**":
            position = self.position()
            self.index += 1
            return self.number(self.node("**", base, self.unary(depth)), position)
        return base

    def number(self, tree: Tree, position: int) -> Tree:
        """``tree``, unless it has neither x nor y and is not a number (0/0, log(-1), (-1)**0.5): an error there."""
        if not _variables(tree):
            with np.errstate(all="ignore"):
                value = _walk(tree, 0.0, 0.0, np)
            if math.isnan(value):
                raise _error(self.text, position, "a constant part that is not a number (like 0/0 or log(-1))")
        return tree

    def atom(self, depth: int) -> Tree:
        if self.index >= len(self.tokens):
            raise _error(self.text, len(self.text), "the formula ends too early")
        kind, token, position = self.tokens[self.index]
        self.index += 1
        if kind == "number":
            value = float(token)
            if not math.isfinite(value):
                raise _error(self.text, position, f"number {token} is too large")
            return self.node("num", value)
        if kind == "name":
            if token in ("x", "y"):
                return self.node("var", token)
            if token in CONSTANTS:
                return self.node("num", CONSTANTS[token])
            if token in FUNCTIONS:
                if self.peek() != "(":
                    raise _error(self.text, self.position(), f"{token} needs its argument in parentheses")
                self.index += 1
                argument = self.sum(self.enter(depth))
                self.expect_close(position)
                return self.number(self.node("call", token, argument), position)
            raise _error(self.text, position, f"unknown name {token!r}",
                         f" (allowed: x, y, pi, e and the functions {', '.join(FUNCTIONS)})")
        if token == "(":
            inner = self.sum(self.enter(depth))
            self.expect_close(position)
            return inner
        raise _error(self.text, position, f"unexpected {token!r}")

    def expect_close(self, opened: int) -> None:
        if self.peek() != ")":
            raise _error(self.text, self.position(), f"missing ')' for the '(' at position {opened + 1}")
        self.index += 1


def parse(text: str) -> Tree:
    """The tree of ``text``; ``ValueError`` saying what is wrong and where."""
    return _Parser(text).parse()


def _variables(tree: Tree) -> bool:
    """Whether x or y occurs in ``tree``."""
    return tree[0] == "var" or any(_variables(part) for part in tree[1:] if isinstance(part, tuple))


# --- symbolic derivative ---------------------------------------------------------------------------------------


def _num(value: float) -> Tree:
    return ("num", float(value))


def _is(tree: Tree, value: float) -> bool:
    return tree[0] == "num" and tree[1] == value


def _add(a: Tree, b: Tree) -> Tree:
    if _is(a, 0):
        return b
    if _is(b, 0):
        return a
    return _num(a[1] + b[1]) if a[0] == b[0] == "num" else ("+", a, b)


def _sub(a: Tree, b: Tree) -> Tree:
    if _is(b, 0):
        return a
    if _is(a, 0):
        return _neg(b)
    return _num(a[1] - b[1]) if a[0] == b[0] == "num" else ("-", a, b)


def _mul(a: Tree, b: Tree) -> Tree:
    if _is(a, 0) or _is(b, 0):
        return _num(0)
    if _is(a, 1):
        return b
    if _is(b, 1):
        return a
    return _num(a[1] * b[1]) if a[0] == b[0] == "num" else ("*", a, b)


def _div(a: Tree, b: Tree) -> Tree:
    if _is(a, 0):
        return _num(0)
    return a if _is(b, 1) else ("/", a, b)


def _neg(a: Tree) -> Tree:
    return _num(-a[1]) if a[0] == "num" else ("neg", a)


def _call(name: str, a: Tree) -> Tree:
    return ("call", name, a)


def derivative(tree: Tree, variable: str) -> Tree:
    """∂tree/∂variable, simplified where a factor is 0 or 1 (chain rule over the grammar's nodes)."""
    kind = tree[0]
    if kind == "num":
        return _num(0)
    if kind == "var":
        return _num(1.0 if tree[1] == variable else 0.0)
    if kind == "neg":
        return _neg(derivative(tree[1], variable))
    if kind in ("+", "-"):
        da, db = derivative(tree[1], variable), derivative(tree[2], variable)
        return _add(da, db) if kind == "+" else _sub(da, db)
    a, b = tree[1], tree[2]
    if kind == "*":
        return _add(_mul(derivative(a, variable), b), _mul(a, derivative(b, variable)))
    if kind == "/":  # (a/b)' = a'/b − a b'/b²
        return _sub(_div(derivative(a, variable), b), _div(_mul(a, derivative(b, variable)), ("*", b, b)))
    if kind == "**":
        da, db = derivative(a, variable), derivative(b, variable)
        if b[0] == "num":  # (a^c)' = c a^(c−1) a'
            return _mul(_mul(b, ("**", a, _num(b[1] - 1))), da)
        # (a^b)' = a^b (b' log a + b a'/a)
        return _mul(tree, _add(_mul(db, _call("log", a)), _div(_mul(b, da), a)))
    if kind == "call":
        name, u = tree[1], tree[2]
        du = derivative(u, variable)
        if _is(du, 0):
            return _num(0)
        outer = {
            "sin": lambda: _call("cos", u),
            "cos": lambda: _neg(_call("sin", u)),
            "tan": lambda: _add(_num(1), ("*", tree, tree)),
            "exp": lambda: tree,
            "log": lambda: _div(_num(1), u),
            "sqrt": lambda: _div(_num(0.5), tree),
            "tanh": lambda: _sub(_num(1), ("*", tree, tree)),
            "sinh": lambda: _call("cosh", u),
            "cosh": lambda: _call("sinh", u),
            "atan": lambda: _div(_num(1), _add(_num(1), ("*", u, u))),
            "abs": lambda: _call("sign", u),
        }[name]()
        return _mul(outer, du)
    raise AssertionError(f"unknown node {kind!r}")


def _size(tree: Tree) -> int:
    """Nodes of a tree, shared subtrees counted each time they are evaluated."""
    return 1 + sum(_size(part) for part in tree[1:] if isinstance(part, tuple))


def tree_sizes(text: str) -> tuple[int, int]:
    """(nodes of f's tree, nodes of f's and its gradient's trees): what one evaluation of f, and of f and ∇f, walks
    (the compute budget's measure of a formula; ``ValueError`` as :func:`parse`)."""
    tree = parse(text)
    value = _size(tree)
    return value, value + sum(_size(derivative(tree, variable)) for variable in ("x", "y"))


# --- evaluation ------------------------------------------------------------------------------------------------


def evaluate(tree: Tree, x: Any, y: Any) -> Any:
    """The tree's value at arrays ``x``, ``y`` (numpy or torch), elementwise; constants broadcast to x's shape."""
    namespace = _torch() if is_torch(x) else np
    with np.errstate(all="ignore"):
        value = _walk(tree, x, y, namespace)
    return value + x * 0 if isinstance(value, float) else value


def _walk(tree: Tree, x: Any, y: Any, xp: Any) -> Any:
    kind = tree[0]
    if kind == "num":
        return tree[1]
    if kind == "var":
        return x if tree[1] == "x" else y
    if kind == "neg":
        return -_walk(tree[1], x, y, xp)
    if kind == "call":
        argument = _walk(tree[2], x, y, xp)
        if isinstance(argument, float):
            argument = argument + x * 0
        return getattr(xp, _NUMPY.get(tree[1], tree[1]) if xp is np else tree[1])(argument)
    a, b = _walk(tree[1], x, y, xp), _walk(tree[2], x, y, xp)
    if kind == "+":
        return a + b
    if kind == "-":
        return a - b
    if kind == "*":
        return a * b
    if kind == "/":
        if isinstance(a, float) and isinstance(b, float):
            return a / b if b else math.copysign(math.inf, a) if a else math.nan
        return a / b
    if isinstance(a, float) and isinstance(b, float):
        try:
            return float(a**b) if a >= 0 or not math.isfinite(b) or b == int(b) else math.nan  # never complex
        except (OverflowError, ZeroDivisionError):
            return math.inf
    return a**b


def _torch() -> Any:
    import torch

    return torch


# --- the surface -----------------------------------------------------------------------------------------------


FORMULA = Text("f", "x**2 + 10*y**2", MAX_LENGTH,
               "your f(x, y): numbers, x, y, + − * / **, ( ), pi, e and " + ", ".join(FUNCTIONS))
WINDOW = Box("bounds", ((-2.0, 2.0), (-2.0, 2.0)), MAX_BOUND, "the view window xmin,xmax,ymin,ymax")


@dataclass(frozen=True, eq=False)
class ExpressionLandscape:
    """f(x, y) from a user's text: value and exact gradient by walking the parsed tree and its derivatives.

    ``minima`` is the minimizer estimated on a 201 × 201 grid over the bounds and refined on two finer grids
    around the best cell; ``minimum_value`` is f there. Both are empty (None) when the best point lies on the
    border (no interior minimum in the window) and when a finer grid around the best point finds only worse values
    (f too steep for a grid to pin its minimum down, e.g. 1e308·x² + y²): the description then says so.
    """

    f: str
    bounds: Bounds = WINDOW.default
    start: Point | None = None
    name: str = field(default="expression", init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "bounds", WINDOW.validate(self.bounds))
        object.__setattr__(self, "tree", parse(self.f))
        if self.start is not None:
            try:
                x, y = (float(v) for v in self.start)
            except (TypeError, ValueError):
                raise ValueError(f"Invalid start value: {self.start!r:.80} (must be two finite numbers)") from None
            if not (math.isfinite(x) and math.isfinite(y)):
                raise ValueError(f"Invalid start value: {self.start!r:.80} (must be two finite numbers)")
            object.__setattr__(self, "start", (x, y))
        if sum(_size(tree) for tree in self.gradient_trees) > MAX_DERIVATIVE_NODES:
            raise ValueError(f"Invalid f value: {self.f!r:.80} (its gradient has more than {MAX_DERIVATIVE_NODES} "
                             "terms: write it with fewer factors)")
        if not np.isfinite(self._grid_values()[2]).any():
            raise ValueError(f"Invalid f value: {self.f!r:.80} is not finite anywhere in the bounds {self.bounds}")

    @cached_property
    def gradient_trees(self) -> tuple[Tree, Tree]:
        return derivative(self.tree, "x"), derivative(self.tree, "y")

    @property
    def params(self) -> dict[str, Any]:
        return {"f": self.f, "bounds": self.bounds}

    @property
    def description(self) -> str:
        _, _, untrusted = self._estimate
        note = f" — its minimum is not estimated: {untrusted}" if untrusted else ""
        return f"f(x, y) = {self.f}{note}"

    @property
    def default_start(self) -> Point:
        if self.start is not None:
            return self.start
        (xmin, xmax), (ymin, ymax) = self.bounds
        return (xmin + 0.15 * (xmax - xmin), ymax - 0.15 * (ymax - ymin))

    def value(self, xy: Any) -> Any:
        """f(θ) for points θ = xy of shape (..., 2); returns shape (...)."""
        xy = as_points(xy)
        return evaluate(self.tree, xy[..., 0], xy[..., 1])

    def grad(self, xy: Any) -> Any:
        """∇f(θ) of shape (..., 2), from the symbolic derivatives."""
        xy = as_points(xy)
        x, y = xy[..., 0], xy[..., 1]
        dx, dy = (evaluate(tree, x, y) for tree in self.gradient_trees)
        if is_torch(xy):
            return _torch().stack([dx, dy], dim=-1)
        return np.stack([dx, dy], axis=-1)

    def value_and_grad(self, xy: Any) -> tuple[Any, Any]:
        return self.value(xy), self.grad(xy)

    def _grid_values(self, bounds: Bounds | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        (xmin, xmax), (ymin, ymax) = bounds or self.bounds
        x, y = np.meshgrid(np.linspace(xmin, xmax, GRID), np.linspace(ymin, ymax, GRID))
        return x, y, evaluate(self.tree, x, y)

    @cached_property
    def _estimate(self) -> tuple[Point | None, float | None, str]:
        """(minimizer, f there, "") or (None, None, why a grid cannot estimate it: "" on the border)."""
        bounds, best = self.bounds, math.inf
        for level in range(3):
            x, y, z = self._grid_values(bounds)
            z = np.where(np.isfinite(z), z, np.inf)
            row, column = np.unravel_index(np.argmin(z), z.shape)
            if level == 0 and (row in (0, GRID - 1) or column in (0, GRID - 1)):
                return None, None, ""  # falls towards the border: no interior minimum in the window
            value = float(z[row, column])
            if value > best + 1e-9 * max(1.0, abs(best)):  # a finer grid around the best point found a worse one
                return None, None, ("f changes by orders of magnitude between neighbouring points, so a grid cannot "
                                    "pin down its minimum: no f* or distance to the minimum is shown")
            best = value
            hx, hy = x[0, 1] - x[0, 0], y[1, 0] - y[0, 0]
            bounds = ((x[row, column] - 2 * hx, x[row, column] + 2 * hx), (y[row, column] - 2 * hy,
                                                                           y[row, column] + 2 * hy))
        return (float(x[row, column]), float(y[row, column])), best, ""

    @property
    def minima(self) -> tuple[Point, ...]:
        point, _, _ = self._estimate
        return (point,) if point is not None else ()

    @property
    def minimum_value(self) -> float | None:
        return self._estimate[1]

    def __repr__(self) -> str:
        return f"landscapes.get('expression', f={self.f!r}, bounds={self.bounds!r})"


@register(
    "expression",
    (FORMULA, WINDOW),
    "Your own surface: f(x, y) typed as text, parsed safely; exact gradient by symbolic differentiation.",
)
def expression(f: str, bounds: Bounds) -> ExpressionLandscape:
    """``landscapes.get("expression", f="x**2 + 10*y**2", bounds=((-2, 2), (-2, 2)))``."""
    return ExpressionLandscape(f, bounds)
