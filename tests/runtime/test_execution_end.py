"""An execution's end is published whole: its status is set after its output or error."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sluice.engine.execution import SluiceExecution
from sluice.testing import in_process_aws

ENDINGS = {
    "succeeds": ({"Type": "Pass", "Result": {"done": True}, "End": True}, "SUCCEEDED", "output"),
    "fails": ({"Type": "Fail", "Error": "Broken", "Cause": "on purpose"}, "FAILED", "error"),
}


@pytest.mark.parametrize("ending", sorted(ENDINGS))
def test_a_reader_that_sees_the_final_status_sees_what_it_ended_with(
    ending: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """StartSyncExecution and DescribeExecution poll the status from another thread: at the
    moment it turns final, the output (or the error and cause) must already be there."""
    state, final, result = ENDINGS[ending]
    seen_at_final: list[dict[str, Any]] = []
    assign = SluiceExecution.__setattr__

    def recording(self: SluiceExecution, name: str, value: Any) -> None:
        if name == "exec_status" and getattr(value, "value", None) == final:
            seen_at_final.append({k: getattr(self, k, None) for k in ("output", "error")})
        assign(self, name, value)

    monkeypatch.setattr(SluiceExecution, "__setattr__", recording)
    with in_process_aws({}) as aws:
        arn = aws.create_state_machine(
            f"ends-{ending}", json.dumps({"StartAt": "S", "States": {"S": state}})
        )
        assert aws.run(arn, {})["status"] == final
    (seen,) = seen_at_final
    assert seen[result] is not None
