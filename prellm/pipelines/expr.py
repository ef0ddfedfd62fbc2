"""A small, safe expression language for pipeline conditions (``when:``).

Parsed with Python's own parser in expression mode, then evaluated by walking a
whitelist of node types: names and attribute/key access on the pipeline's
variables, literals, ``and``/``or``/``not``, comparisons (``== != < <= > >= in
not in``), and ``len(x)``. Anything else — calls, lambdas, comprehensions,
subscripts with side effects — is refused when the pipeline is loaded. No
``eval``.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from typing import Any

from ..errors import ConfigError

_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}


_ALLOWED = (
    ast.Expression,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.UnaryOp,
    ast.Not,
    ast.Compare,
    ast.Name,
    ast.Load,
    ast.Attribute,
    ast.Constant,
    ast.List,
    ast.Tuple,
    ast.Subscript,
    *_COMPARE,
)


def parse(source: str) -> ast.Expression:
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        raise ConfigError(f"condition {source!r}: {exc.msg}") from None
    for node in ast.walk(tree):
        ok = isinstance(node, _ALLOWED)
        if isinstance(node, ast.Call):
            ok = (
                isinstance(node.func, ast.Name)
                and node.func.id == "len"
                and len(node.args) == 1
                and not node.keywords
            )
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            ok = False
        if not ok:
            raise ConfigError(f"condition {source!r}: {type(node).__name__} is not allowed")
    return tree


def _get(value: Any, key: Any) -> Any:
    if isinstance(value, dict):
        return value.get(key)
    if isinstance(value, list | tuple | str) and isinstance(key, int):
        return value[key] if -len(value) <= key < len(value) else None
    return getattr(value, key, None) if isinstance(key, str) and not key.startswith("_") else None


def evaluate(tree: ast.Expression, variables: dict[str, Any]) -> Any:
    def ev(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            return variables.get(node.id)
        if isinstance(node, ast.Attribute):
            return _get(ev(node.value), node.attr)
        if isinstance(node, ast.Subscript):
            return _get(ev(node.value), ev(node.slice))
        if isinstance(node, ast.List | ast.Tuple):
            return [ev(e) for e in node.elts]
        if isinstance(node, ast.BoolOp):  # Python's semantics: the deciding value, not a bool
            result = None
            for v in node.values:
                result = ev(v)
                if (not result) if isinstance(node.op, ast.And) else result:
                    return result
            return result
        if isinstance(node, ast.UnaryOp):
            return not ev(node.operand)
        if isinstance(node, ast.Call):
            arg = ev(node.args[0])
            return len(arg) if arg is not None else 0
        if isinstance(node, ast.Compare):
            left = ev(node.left)
            for op, right_node in zip(node.ops, node.comparators, strict=True):
                right = ev(right_node)
                try:
                    if not _COMPARE[type(op)](left, right):
                        return False
                except TypeError:
                    return False
                left = right
            return True
        raise ConfigError(f"unsupported expression node {type(node).__name__}")  # pragma: no cover

    return ev(tree)
