"""Finding a moto symbol by name ("module:Qualified.name"), for the seam and the service
patches alike (apart from both, so neither imports the other)."""

from __future__ import annotations

import importlib
import inspect
from typing import Any


class MotoSeamError(RuntimeError):
    """A moto symbol the engine relies on is missing or has changed."""


def resolve(symbol: str) -> Any:
    module_name, _, qualname = symbol.partition(":")
    try:
        value: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            value = inspect.getattr_static(value, part)
    except (ImportError, AttributeError) as exc:
        raise MotoSeamError(f"moto symbol {symbol} is missing ({exc})") from None
    return value.__func__ if isinstance(value, staticmethod | classmethod) else value
