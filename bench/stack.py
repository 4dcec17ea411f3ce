"""Each bench suite measures on a fresh stack of its own, torn down afterwards."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from sluice.testing import StackProcess

PROJECT_TEMPLATE = Path(__file__).resolve().parent.parent / "infra" / "template.yaml"

# A burst runs with the template's own visibility timeouts (AWS guidance: at least six
# times the work), not samconfig's 5 s that makes a failed message come back quickly in
# local development: on 2 busy cores a batch can take longer than 5 s, and a batch that
# comes back while it still runs is loaded twice, which measures the redelivery instead.
BURST_OVERRIDES = {
    "TranscriptQueueVisibilityTimeout": "900",
    "SaleLakeQueueVisibilityTimeout": "600",
}


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
