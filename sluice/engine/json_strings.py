"""String literals of a definition read as the JSON strings they are.

A definition is JSON text, so `"a\\/b"` is `a/b`, `"\\ud83d\\ude00"` is one character (a
surrogate pair) and `"{\\"k\\":1}"` holds quotes (RFC 8259, section 7). moto decodes its
string literals with Python's `literal_eval`, which keeps `\\/` and splits a surrogate pair
into two characters, and keeps the string values of `Assign` undecoded (`{\\"k\\":1}`,
backslashes and all), so a JSONata comparison or a `States.StringToJson($var)` over them
differed from AWS.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from moto.stepfunctions.parser.asl.component.common.assign.assign_template_value_terminal import (
    AssignTemplateValueTerminalLit,
)


@functools.lru_cache(maxsize=4096)
def decoded(inner: str) -> str:
    """The string whose JSON text (without its quotes) is INNER; INNER if it is not one."""
    try:
        value: str = json.loads(f'"{inner}"')
    except ValueError:
        return inner
    return value


def from_string_literal(parser_rule_context: Any) -> str:
    """moto's `antlr4utils.from_string_literal`, decoding as JSON."""
    text: str = parser_rule_context.getText()
    if len(text) >= 2 and text.startswith('"') and text.endswith('"'):
        text = text[1:-1]
    return decoded(text)


class AssignStringAsJson(AssignTemplateValueTerminalLit):
    """A string value in `Assign` is the JSON string it is written as."""

    def _eval_body(self, env: Any) -> None:
        value = self.value
        env.stack.append(decoded(value) if isinstance(value, str) else value)
