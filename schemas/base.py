"""The base of the schemas' value models."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Frozen(BaseModel):
    """A value built once (from an event, a row, a request or a computation) and never
    changed afterwards: assigning to a field raises, and equal values hash alike."""

    model_config = ConfigDict(frozen=True)
