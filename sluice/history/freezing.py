"""Freezing draft runs into the story: each run's status, error and children, the states of
the definition never entered (``not_reached``), and the execution's summary."""

from __future__ import annotations

import json
from dataclasses import replace

from sluice.asl.definition import CONTAINERS, Outline
from sluice.history.drafts import RunDraft, Scope, ended
from sluice.history.execution import ExecutionDraft
from sluice.history.failure import fill_failure
from sluice.history.story import (
    STATUS_PRIORITY,
    ExecutionStory,
    StateRun,
    StateStatus,
    entered_order,
    iter_runs,
)


class Freezer:
    def __init__(self, outline: Outline, execution: ExecutionDraft) -> None:
        self.outline = outline
        self.execution = execution

    def story(self, root: Scope) -> ExecutionStory:
        execution = self.execution
        states = self._scope(root, self.outline.root)
        if execution.status in ("FAILED", "TIMED_OUT") and execution.error is not None:
            states = fill_failure(states, execution.error, execution.cause)
        statuses: dict[str, StateStatus] = {}
        for run in iter_runs(states):
            known = statuses.get(run.name)
            if known is None or STATUS_PRIORITY.index(run.status) < STATUS_PRIORITY.index(known):
                statuses[run.name] = run.status
        for name in self.outline.states:
            statuses.setdefault(name, "not_reached")
        start = execution.started
        end = execution.stopped or execution.last
        return ExecutionStory(
            status=execution.status,
            input=execution.input,
            output=execution.output,
            error=execution.error,
            cause=execution.cause,
            started=start,
            stopped=execution.stopped,
            duration=end - start if start is not None and end is not None else None,
            states=states,
            statuses=statuses,
        )

    def status(self, run: RunDraft) -> StateStatus:
        failures = [a for a in run.attempts if a.ended is not None and not a.succeeded]
        if run.exited_seen:
            if run.type in ("Task", *CONTAINERS) and run.attempts:
                if not run.attempts[-1].succeeded and run.attempts[-1].ended is not None:
                    return "caught"
                return "retried" if failures else "succeeded"
            return "succeeded"
        if run.type == "Fail" or (run.type in CONTAINERS and run.children_outcome == "failed"):
            return "failed"
        if run.failed_before_redrive:
            return "failed"
        if not ended(run.scope, self.execution.finished):
            return "in_progress"
        return "failed" if run.scope.failed else "aborted"

    def _scope(self, scope: Scope, names: list[str]) -> list[StateRun]:
        frozen = [self._run(run) for run in scope.runs]
        entered = {run.name for run in scope.runs}
        frozen.extend(self._unreached(name) for name in names if name not in entered)
        return frozen

    def _run(self, run: RunDraft) -> StateRun:
        status = self.status(run)
        branches: list[list[StateRun]] = []
        iterations: list[list[StateRun]] = []
        by_index = {scope.index: scope for scope in run.children}
        if run.type == "Parallel":
            shapes = self.outline.branches.get(run.name, [])
            count = max([len(shapes), *(i + 1 for i in by_index)])
            for index in range(count):
                names = shapes[index] if index < len(shapes) else []
                if index in by_index:
                    branches.append(self._scope(by_index[index], names))
                else:
                    branches.append([self._unreached(name) for name in names])
        elif run.type == "Map":
            names = self.outline.processors.get(run.name, [])
            count = max([run.length or 0, *(i + 1 for i in by_index)])
            iterations = [
                self._scope(by_index[i], names) if i in by_index else [] for i in range(count)
            ]
        error, cause = self._own_error(run, status, branches + iterations)
        attempts = [a.freeze() for a in run.attempts]
        last = attempts[-1] if attempts else None
        if last is not None and last.ended is not None and not last.succeeded and not last.error:
            attempts[-1] = replace(last, error=error, cause=cause)
        return StateRun(
            name=run.name,
            type=run.type,
            status=status,
            error=error,
            cause=cause,
            attempts=attempts,
            input=run.input,
            output=run.output,
            entered=run.entered,
            exited=run.exited,
            branches=branches,
            iterations=iterations,
            event_id=run.event_id,
        )

    def _own_error(
        self, run: RunDraft, status: StateStatus, children: list[list[StateRun]]
    ) -> tuple[str | None, str | None]:
        if status not in ("failed", "caught"):
            return None, None
        if run.type == "Fail":
            return self.outline.fail_error(run.name)
        failed = [a for a in run.attempts if a.error is not None and not a.succeeded]
        if run.type == "Task" and failed:
            return failed[-1].error, failed[-1].cause
        if run.type in CONTAINERS:
            culprits = [r for runs in children for r in runs if r.status == "failed"]
            culprits.sort(key=lambda r: (r.error is None, entered_order(r)))
            if culprits and culprits[0].error is not None:
                return culprits[0].error, culprits[0].cause
        if status == "caught":
            return error_from_output(run.output)
        return None, None

    def _unreached(self, name: str) -> StateRun:
        kind = self.outline.type_of(name)
        branches = (
            [[self._unreached(n) for n in names] for names in self.outline.branches.get(name, [])]
            if kind == "Parallel"
            else []
        )
        return StateRun(name=name, type=kind, status="not_reached", branches=branches)


def error_from_output(output: str | None) -> tuple[str | None, str | None]:
    """A Catch writes ``{"Error", "Cause"}`` at its ResultPath; look one level deep for it."""
    if output is None:
        return None, None
    try:
        value = json.loads(output)
    except ValueError:
        return None, None
    if not isinstance(value, dict):
        return None, None
    candidates = [value, *(v for v in value.values() if isinstance(v, dict))]
    for candidate in candidates:
        if isinstance(candidate.get("Error"), str):
            cause = candidate.get("Cause")
            return candidate["Error"], cause if isinstance(cause, str) else None
    return None, None
