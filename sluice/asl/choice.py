"""Choice rules: read for a label, and evaluated again on a Choice state's recorded input.

JSONPath rules are evaluated here: every comparison operator (``String``, ``Numeric``,
``Timestamp``, ``Boolean``, their ``Path`` forms, ``StringMatches``), the type tests
(``Is*``), ``IsPresent`` and ``And``/``Or``/``Not``, over plain paths (fields and indexes).
What the input alone cannot decide raises ``CannotEvaluate``: a JSONata ``Condition`` (it may
read workflow variables and the context object, which the recorded input does not hold), a
``$$`` context path, a path beyond plain fields and indexes, a missing ``Variable`` (a runtime
error on AWS).
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sluice.asl.definition import JSONATA, Spec
from sluice.asl.edges import choice_rules

# Comparison suffixes, longest first: ``LessThanEquals`` must not be read as ``Equals``.
COMPARISONS: dict[str, tuple[str, Callable[[Any, Any], Any]]] = {
    "LessThanEquals": ("<=", operator.le),
    "GreaterThanEquals": (">=", operator.ge),
    "Equals": ("==", operator.eq),
    "LessThan": ("<", operator.lt),
    "GreaterThan": (">", operator.gt),
}
_TYPE_TESTS: dict[str, Callable[[Any], bool]] = {
    "IsNull": lambda v: v is None,
    "IsNumeric": lambda v: _is_number(v),
    "IsString": lambda v: isinstance(v, str),
    "IsBoolean": lambda v: isinstance(v, bool),
    "IsTimestamp": lambda v: _timestamp(v) is not None,
}


class CannotEvaluate(Exception):
    """A Choice rule that cannot be evaluated from the recorded input alone."""


def chosen_rule(spec: Spec, value: Any, query_language: str = "JSONPath") -> int | None:
    """Index of the first rule of Choice state ``spec`` that holds for ``value``; None when
    none does (the ``Default`` is taken). ``CannotEvaluate`` when the input cannot tell."""
    if query_language == JSONATA:
        raise CannotEvaluate("JSONata Conditions are not evaluated from the recorded input")
    rules = choice_rules(spec)
    return next((i for i, rule in enumerate(rules) if rule_matches(rule, value)), None)


def rule_matches(rule: Mapping[str, Any], value: Any) -> bool:
    """Whether a JSONPath Choice rule holds for ``value``; ``CannotEvaluate`` when unknowable
    here (no ``Variable``, a context or complex path, a missing variable, an odd operator)."""
    if "And" in rule:
        return all(rule_matches(r, value) for r in rule["And"])
    if "Or" in rule:
        return any(rule_matches(r, value) for r in rule["Or"])
    if "Not" in rule:
        return not rule_matches(rule["Not"], value)
    if "Variable" not in rule:
        raise CannotEvaluate("no Variable (JSONata Condition?)")
    variable = _resolve(rule["Variable"], value)
    if "IsPresent" in rule:
        return (variable is not _MISSING) == bool(rule["IsPresent"])
    if variable is _MISSING:
        raise CannotEvaluate("missing Variable is a runtime error")
    operators = [k for k in rule if k not in ("Variable", "Next", "Comment")]
    if len(operators) != 1:
        raise CannotEvaluate(operators)
    name = operators[0]
    expected = rule[name]
    if name in _TYPE_TESTS:
        return _TYPE_TESTS[name](variable) == bool(expected)
    if name.endswith("Path"):
        name = name.removesuffix("Path")
        expected = _resolve(expected, value)
        if expected is _MISSING:
            raise CannotEvaluate("missing comparison path")
    return _compare(name, variable, expected)


def _compare(name: str, variable: Any, expected: Any) -> bool:
    if name == "StringMatches":
        return isinstance(variable, str) and _wildcard(str(expected), variable)
    if name == "BooleanEquals":
        return isinstance(variable, bool) and variable == expected
    for family in ("String", "Numeric", "Timestamp"):
        if not name.startswith(family):
            continue
        comparison = COMPARISONS.get(name.removeprefix(family))
        if comparison is None:
            raise CannotEvaluate(name)
        compare = comparison[1]
        if family == "String":
            ok = isinstance(variable, str) and isinstance(expected, str)
            return ok and bool(compare(variable, expected))
        if family == "Numeric":
            ok = _is_number(variable) and _is_number(expected)
            return ok and bool(compare(variable, expected))
        left, right = _timestamp(variable), _timestamp(expected)
        return left is not None and right is not None and bool(compare(left, right))
    raise CannotEvaluate(name)


def describe(rule: Mapping[str, Any], limit: int = 28) -> str:
    """A short reading of a Choice rule (either query language), for an edge label."""
    text = _reading(rule)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _reading(rule: Mapping[str, Any]) -> str:
    for combinator, joiner in (("And", " and "), ("Or", " or ")):
        if isinstance(rule.get(combinator), list):
            return joiner.join(_reading(r) for r in rule[combinator] if isinstance(r, Mapping))
    if isinstance(rule.get("Not"), Mapping):
        return "not " + _reading(rule["Not"])
    if isinstance(rule.get("Condition"), str):  # JSONata
        return str(rule["Condition"]).strip("{% }")
    variable = str(rule.get("Variable", "?"))
    symbols = {**{suffix: symbol for suffix, (symbol, _) in COMPARISONS.items()}, "Matches": "~"}
    for key, value in rule.items():
        if key in ("Variable", "Next"):
            continue
        base = key.removesuffix("Path")
        for suffix, symbol in symbols.items():
            if base.endswith(suffix):
                shown = value if key.endswith("Path") else json.dumps(value)
                return f"{variable} {symbol} {shown}"
        if base.startswith("Is"):
            return f"{variable} {base[2:].lower()}={json.dumps(value)}"
    return variable


# -- paths and values --------------------------------------------------------------------------

_MISSING = object()
_PATH_TOKEN = re.compile(r"\.([A-Za-z_$@][\w$@-]*)|\[(\d+)\]|\['([^']*)'\]|\[\"([^\"]*)\"\]")


def _resolve(path: object, value: Any) -> Any:
    """A plain JSONPath (``$.a.b[0]['c']``) against ``value``; ``_MISSING`` when absent."""
    if not isinstance(path, str) or not path.startswith("$") or path.startswith("$$"):
        raise CannotEvaluate(path)
    position, current = 1, value
    while position < len(path):
        match = _PATH_TOKEN.match(path, position)
        if match is None:
            raise CannotEvaluate(path)
        position = match.end()
        name, index = match.group(1, 2)
        quoted = match.group(3) if match.group(3) is not None else match.group(4)
        key = name if name is not None else quoted
        if key is not None:
            if not isinstance(current, dict) or key not in current:
                return _MISSING
            current = current[key]
        else:
            assert index is not None
            if not isinstance(current, list) or int(index) >= len(current):
                return _MISSING
            current = current[int(index)]
    return current


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _wildcard(pattern: str, text: str) -> bool:
    parts = re.split(r"(\\\\|\\\*|\*)", pattern)
    regex = "".join(
        ".*" if part == "*" else re.escape(part[1:] if part in ("\\\\", "\\*") else part)
        for part in parts
    )
    return re.fullmatch(regex, text, flags=re.DOTALL) is not None
