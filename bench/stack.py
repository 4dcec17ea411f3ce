"""Each bench suite measures on a fresh stack of its own, torn down afterwards."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from sluice.testing import StackProcess

PROJECT_TEMPLATE = Path(__file__).resolve().parent.parent / "infra" / "template.yaml"


def on_fresh_stack[T](
    measure: Callable[[StackProcess], T],
    template: Path = PROJECT_TEMPLATE,
    overrides: dict[str, str] | None = None,
    env: dict[str, str] | None = None,
) -> T:
    with tempfile.TemporaryDirectory() as tmp:
        stack = StackProcess(template, Path(tmp), overrides=overrides, env=env)
        try:
            return measure(stack)
        finally:
            stack.stop()
