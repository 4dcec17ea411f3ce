"""Small formatting helpers shared by the CLI and the demo."""

from __future__ import annotations

import json
from typing import Any


def cause_message(cause: Any) -> str:
    """A Lambda failure's cause is its JSON error payload; people want its message."""
    try:
        return str(json.loads(cause)["errorMessage"])
    except (TypeError, ValueError, KeyError):
        return str(cause)
