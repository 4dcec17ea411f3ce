"""`sluice up` imports every function's handler in the background once the stack is up."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sluice.testing import StackProcess, project_stack
from sluice.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def prewarming_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackProcess]:
    """The project's stack as `sluice up` starts it: prewarm on (the suite's stacks have
    it off)."""
    stack = project_stack(ROOT, tmp_path_factory.mktemp("prewarm"), env={"SLUICE_PREWARM": "1"})
    yield stack
    stack.stop()


def test_every_function_is_imported_after_up_and_its_invoke_has_no_init(
    prewarming_stack: StackProcess,
) -> None:
    stack = prewarming_stack

    def all_imported() -> bool:
        workers: dict[str, dict[str, int]] = stack.gateway.get("/_sluice/lambda/workers")
        return all(w["idle"] or w["running"] for w in workers.values())

    # Nothing invokes most functions in the meantime: only workers started ahead of need
    # can make every function's pool hold one.
    wait_for(all_imported, timeout=600, interval=0.5, what="a worker imported per function")
    with urllib.request.urlopen(f"{stack.gateway.url}/artists/search?city=York") as resp:
        assert resp.status == 200
    records: list[dict[str, Any]] = stack.gateway.get("/_sluice/invocations")
    last = [r for r in records if r["function"] == "ArtistSearchApiFunction"][-1]
    assert last["init_ms"] is None  # the handler was imported before the invoke
