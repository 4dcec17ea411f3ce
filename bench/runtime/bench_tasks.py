"""The benchmark's one task: a small, realistic amount of work."""

from typing import Any


def step(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"n": int(event.get("n", 0)) + 1, "doubled": [x * 2 for x in range(10)]}
