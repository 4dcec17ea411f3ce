"""What DynamoDB's request validation says about an item request, checked before the
optimised integration sends it."""

from __future__ import annotations

import re
from typing import Any

# DynamoDB table names: 3 to 255 of a-z, A-Z, 0-9, `_`, `-`, `.` ("Naming rules",
# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.NamingRulesDataTypes.html);
# the item APIs also take a table ARN.
_DYNAMODB_TABLE_NAME = r"[a-zA-Z0-9_.-]+"
_DYNAMODB_REQUIRED = {"putitem": "Item", "getitem": "Key", "deleteitem": "Key", "updateitem": "Key"}


def validation_errors(action: str, params: dict[str, Any]) -> list[str]:
    """What DynamoDB's request validation says about an item request (empty: valid)."""
    errors = []
    table = params.get("TableName")
    if table is None:
        errors.append(
            "Value null at 'tableName' failed to satisfy constraint: Member must not be null"
        )
    elif not str(table).startswith("arn:"):
        if len(str(table)) < 3:
            errors.append(
                f"Value '{table}' at 'tableName' failed to satisfy constraint: "
                "Member must have length greater than or equal to 3"
            )
        if len(str(table)) > 255:
            errors.append(
                f"Value '{table}' at 'tableName' failed to satisfy constraint: "
                "Member must have length less than or equal to 255"
            )
        if not re.fullmatch(_DYNAMODB_TABLE_NAME, str(table)):
            errors.append(
                f"Value '{table}' at 'tableName' failed to satisfy constraint: "
                f"Member must satisfy regular expression pattern: {_DYNAMODB_TABLE_NAME}"
            )
    member = _DYNAMODB_REQUIRED.get(action.lower())
    if member and params.get(member) is None:
        errors.append(
            f"Value null at '{member[0].lower()}{member[1:]}' failed to satisfy constraint: "
            "Member must not be null"
        )
    return errors
