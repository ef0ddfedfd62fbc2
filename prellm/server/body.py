"""Reading a request body as untrusted JSON: bounded nesting, finite numbers, valid text.

Every problem is a 400 in OpenAI's error shape before anything else runs: a body
nested deeper than ``MAX_DEPTH``, ``NaN``/``Infinity``, lone UTF-16 surrogates,
bytes that are not UTF-8, or anything that is not one JSON object.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .errors import HTTPError

MAX_DEPTH = 64
_SURROGATE = re.compile("[\ud800-\udfff]")
# A string (an unterminated one runs to the end, as in the scan below) or a bracket: the
# only tokens nesting depends on, found by the regex engine instead of a loop over every
# character.
_TOKEN = re.compile(r'"(?:[^"\\]++|\\.)*+"?|[\[\]{}]', re.S)
# Valid UTF-8 holds no surrogate, so a lone one can only come from a \uD800-\uDFFF escape.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _invalid(message: str, code: str = "invalid_json") -> HTTPError:
    return HTTPError(400, message, code=code)


def nesting_depth(raw: str) -> int:
    """The deepest ``[``/``{`` nesting outside strings, in one linear pass."""
    depth = deepest = 0
    for token in _TOKEN.findall(raw):
        if token in ("[", "{"):
            depth += 1
            deepest = max(deepest, depth)
        elif token in ("]", "}"):
            depth -= 1
    return deepest


def _reject_constant(name: str) -> Any:
    raise _invalid(f"request body contains {name}, which is not valid JSON")


def _check_text(value: Any, path: str = "body") -> None:
    """No lone surrogates in any string, key or value (they cannot be sent on as UTF-8)."""
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        node, where = stack.pop()
        if isinstance(node, str):
            if _SURROGATE.search(node):
                raise _invalid(f"{where}: contains a lone UTF-16 surrogate", "invalid_request")
        elif isinstance(node, dict):
            for k, v in node.items():
                if _SURROGATE.search(k):
                    raise _invalid(f"{where}: a key contains a lone surrogate", "invalid_request")
                stack.append((v, f"{where}.{k}"))
        elif isinstance(node, list):
            stack.extend((v, f"{where}[{i}]") for i, v in enumerate(node))


def parse_json_object(data: bytes) -> dict[str, Any]:
    """The body as a JSON object, or an HTTPError 400 saying what is wrong with it."""
    try:
        raw = data.decode("utf-8")
    except UnicodeDecodeError:
        raise _invalid("request body is not valid UTF-8") from None
    # No deeper than it has opening brackets: most bodies need no scan at all.
    if raw.count("[") + raw.count("{") > MAX_DEPTH and nesting_depth(raw) > MAX_DEPTH:
        raise _invalid(f"request body is nested deeper than {MAX_DEPTH} levels")
    try:
        value = json.loads(raw, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise _invalid(f"request body is not valid JSON ({exc.msg} at char {exc.pos})") from None
    if not isinstance(value, dict):
        raise _invalid("request body must be a JSON object", "invalid_request")
    if _SURROGATE_ESCAPE.search(raw):  # else no string of the body can hold one
        _check_text(value)
    return value
