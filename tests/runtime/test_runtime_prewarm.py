"""`sluice up` imports every function's handler in the background once the stack is up."""

from __future__ import annotations

import urllib.request
from typing import Any

from sluice.testing import StackProcess
from sluice.waiting import wait_for


def test_every_function_is_imported_after_up_and_its_invoke_has_no_init(
    stack: StackProcess,
) -> None:
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
