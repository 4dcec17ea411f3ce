"""The execution's own events: started, redriven, ended."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sluice.asl.events import EXECUTION_ENDS, ExecutionStatus
from sluice.history.drafts import Scope


@dataclass
class ExecutionDraft:
    # ExecutionStarted's
    input: str | None = None
    started: datetime | None = None
    # The end's (a redrive clears them): the output on success, else the error and cause.
    status: ExecutionStatus = "RUNNING"
    finished: bool = False
    stopped: datetime | None = None
    output: str | None = None
    error: str | None = None
    cause: str | None = None
    last: datetime | None = None  # the latest timestamp of any event

    def saw(self, stamp: datetime | None) -> None:
        if stamp is not None:
            self.last = stamp if self.last is None else max(self.last, stamp)

    def apply(
        self, phase: str, stamp: datetime | None, details: dict[str, Any], base: Scope, root: Scope
    ) -> None:
        """Record ``Execution<phase>``; ``base`` is the scope of the event it follows."""
        if phase == "Started":
            self.input, self.started = details.get("input"), stamp
            return
        if phase == "Redriven":
            # The same execution runs on from its failed state: the earlier outcome stands
            # in that state's runs, not in the execution's.
            self.finished, self.status, self.stopped = False, "RUNNING", None
            self.error = self.cause = None
            for run in root.runs:
                run.failed_before_redrive |= not run.exited_seen
            root.failed = False
            return
        terminal = EXECUTION_ENDS.get(phase)
        if terminal is None or self.finished:
            return
        self.finished, self.status, self.stopped = True, terminal, stamp
        if terminal == "SUCCEEDED":
            self.output = details.get("output")
            return
        # StopExecution without arguments records empty strings.
        self.error, self.cause = details.get("error") or None, details.get("cause") or None
        if terminal in ("FAILED", "TIMED_OUT"):
            for scope in base.path():
                scope.failed = True
