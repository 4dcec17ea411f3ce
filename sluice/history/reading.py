"""Reading history events, one by one, into draft runs in their scopes.

Each event is attributed through ``previousEventId`` to the scope (root, branch, iteration)
of the event it follows; the events that open a branch or an iteration, and those closing a
Parallel or Map, move it (see the package docstring).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sluice.asl.definition import Outline
from sluice.asl.events import EventKind, details, kind_of, timestamp
from sluice.history.attempts import end_container, iteration, start_container, task
from sluice.history.drafts import RunDraft, Scope, ended, find
from sluice.history.execution import ExecutionDraft


class Reader:
    def __init__(self, outline: Outline) -> None:
        self.outline = outline
        self.root = Scope("root")
        self.execution = ExecutionDraft()
        self.scope_of: dict[int, Scope] = {}
        # Parallel/Map lifecycle events -> the run they belong to, so that a branch's first
        # state and a retry after a Failed event find their state directly.
        self.container_event: dict[int, RunDraft] = {}
        self.type_of: dict[int, str] = {}

    def feed(self, event: Mapping[str, Any]) -> None:
        event_id = int(event["id"])
        event_type = str(event["type"])
        stamp = timestamp(event.get("timestamp"))
        self.execution.saw(stamp)
        previous = event.get("previousEventId")
        previous_id = int(previous) if previous else 0
        base = self.scope_of.get(previous_id, self.root)
        self.type_of[event_id] = event_type
        kind = kind_of(event_type)
        scope = self._apply(event_id, kind, stamp, details(event), base, previous_id)
        self.scope_of[event_id] = scope

    def _apply(
        self,
        event_id: int,
        kind: EventKind,
        stamp: datetime | None,
        facts: dict[str, Any],
        base: Scope,
        previous_id: int,
    ) -> Scope:
        """The event's effect; returns the scope it belongs to."""
        if kind.family == "execution":
            self.execution.apply(kind.phase, stamp, facts, base, self.root)
            return self.root
        if kind.family == "entered":
            return self._entered(event_id, kind.subject, stamp, facts, base, previous_id)
        if kind.family == "exited":
            name = facts.get("name")
            run = find(base, lambda r: r.name == name and not r.exited_seen)
            if run is None:
                return base
            run.exited, run.output, run.exited_seen = stamp, facts.get("output"), True
            return run.scope
        if kind.family == "container":
            found = self._container(kind.subject, kind.phase, stamp, facts, base, previous_id)
            if found is None:
                return base
            self.container_event[event_id] = found
            return found.scope
        if kind.family == "iteration":
            return iteration(kind.phase, facts, base)
        if kind.family == "task":
            task(kind.phase, stamp, facts, base)
        return base

    def _container(
        self,
        container: str,
        phase: str,
        stamp: datetime | None,
        facts: dict[str, Any],
        base: Scope,
        previous_id: int,
    ) -> RunDraft | None:
        if phase != "Started":
            return end_container(container, phase, stamp, base)
        after_failure = self.type_of.get(previous_id) == f"{container}StateFailed"
        retried = self.container_event.get(previous_id) if after_failure else None
        return start_container(container, retried, stamp, facts, base, self.outline)

    def _entered(
        self,
        event_id: int,
        state_type: str,
        stamp: datetime | None,
        facts: dict[str, Any],
        base: Scope,
        previous_id: int,
    ) -> Scope:
        name = str(facts.get("name", "?"))
        scope = base
        parallel = self.container_event.get(previous_id)
        if parallel is not None and self.type_of.get(previous_id) == "ParallelStateStarted":
            index = self.outline.branch_index(parallel.name, name)
            scope = Scope(
                "branch",
                owner=parallel,
                index=len(parallel.children) if index is None else index,
                generation=len(parallel.attempts),
            )
            parallel.children.append(scope)
        else:
            # A finished branch or iteration takes no more states; fall back to its parent.
            while scope.parent is not None and ended(scope, self.execution.finished):
                scope = scope.parent
        run = RunDraft(
            name=name,
            type=state_type,
            scope=scope,
            event_id=event_id,
            entered=stamp,
            input=facts.get("input"),
        )
        scope.runs.append(run)
        return scope
