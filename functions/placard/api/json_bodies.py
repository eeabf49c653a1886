"""Request bodies as the API reads them: plain JSON objects only, and shallow.

Python's json module takes duplicate keys (the last wins), NaN and Infinity, and recurses
into any depth: each is refused here with a 400 that says what was found.
"""

from __future__ import annotations

import json
import re
from typing import Any

from placard.api.service import ApiError

MAX_JSON_DEPTH = 10  # a job nests two deep; far deeper is an attack on the parser
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def _json_depth(text: str) -> int:
    """How deep arrays and objects nest, counted outside strings, before anything is parsed
    (the parser itself recurses, and a deep enough body would exhaust its stack)."""
    depth = deepest = 0
    for char in _JSON_STRING.sub("", text):
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ApiError(400, "invalid_json", f"the key {key!r} appears twice in one object")
        seen[key] = value
    return seen


def _not_a_number(name: str) -> Any:
    raise ApiError(400, "invalid_json", f"{name} is not a JSON number")


def parse_body(text: str) -> dict[str, Any]:
    """The body as a JSON object, or a 400 saying what is wrong with it: plain JSON only (no
    duplicate keys, no NaN or Infinity), at most MAX_JSON_DEPTH deep."""
    depth = _json_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise ApiError(
            400, "invalid_json", f"the body nests {depth} deep; at most {MAX_JSON_DEPTH}"
        )
    try:
        value = json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_not_a_number)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise ApiError(400, "invalid_json", f"the body is not JSON: {exc.msg} at {where}") from None
    except ValueError as exc:  # a number of more than 4300 digits
        raise ApiError(400, "invalid_json", f"the body is not usable JSON: {exc}") from None
    if not isinstance(value, dict):
        found = {list: "an array", str: "a string", type(None): "null", bool: "a boolean"}
        raise ApiError(
            400,
            "invalid_json",
            f"the body must be a JSON object {{...}}; got {found.get(type(value), 'a number')}",
        )
    return value
