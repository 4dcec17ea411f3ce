"""Each bench suite measures on a fresh stack of its own, torn down afterwards."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from sluice.testing import StackProcess

PROJECT_TEMPLATE = Path(__file__).resolve().parent.parent / "infra" / "template.yaml"


def on_fresh_stack(
    measure: Callable[[StackProcess], str],
    template: Path = PROJECT_TEMPLATE,
    overrides: dict[str, str] | None = None,
) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        stack = StackProcess(template, Path(tmp), overrides=overrides)
        try:
            return measure(stack)
        finally:
            stack.stop()
