"""Validating a task's input: the model, or the flow's error naming every bad field."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from schemas.validation import describe_validation_error


def parsed[M: BaseModel](
    model: type[M], value: Any, error: Callable[[str], Exception], what: str = ""
) -> M:
    """VALUE as MODEL; else ERROR("WHAT: field: message; ...")."""
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise error(f"{what}{describe_validation_error(exc)}") from exc


def parsed_as[T](
    adapter: TypeAdapter[T], value: Any, error: Callable[[str], Exception], what: str = ""
) -> T:
    """VALUE as ADAPTER's type; else ERROR("WHAT: field: message; ...")."""
    try:
        return adapter.validate_python(value)
    except ValidationError as exc:
        raise error(f"{what}{describe_validation_error(exc)}") from exc
