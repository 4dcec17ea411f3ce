"""Validating a task's input: the model, or the flow's error naming every bad field."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, overload

from pydantic import BaseModel, TypeAdapter, ValidationError

from schemas.validation import describe_validation_error

Error = Callable[[str], Exception]


@overload
def parsed[M: BaseModel](schema: type[M], value: Any, error: Error, what: str = "") -> M: ...
@overload
def parsed[T](schema: TypeAdapter[T], value: Any, error: Error, what: str = "") -> T: ...
def parsed(schema: Any, value: Any, error: Error, what: str = "") -> Any:
    """VALUE as SCHEMA (a model or a TypeAdapter); else ERROR("WHAT" + "field: message; …")."""
    try:
        if isinstance(schema, TypeAdapter):
            return schema.validate_python(value)
        return schema.model_validate(value)
    except ValidationError as exc:
        raise error(f"{what}{describe_validation_error(exc)}") from exc
