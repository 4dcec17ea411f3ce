"""Attempts: a task's (Scheduled .. Succeeded or failed), a Parallel/Map state's (its children
started .. succeeded, failed or aborted; one per try when it has a Retry), and Map
iterations opening and closing inside an attempt."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sluice.asl.definition import Outline
from sluice.asl.events import CONTAINER_OUTCOMES, TASK_FAILURES
from sluice.history.drafts import AttemptDraft, RunDraft, Scope, find, mark_failed_below
from sluice.history.failure import leaf_error


def start_container(
    container: str,
    retried: RunDraft | None,
    stamp: datetime | None,
    details: dict[str, Any],
    base: Scope,
    outline: Outline,
) -> RunDraft | None:
    """``<container>StateStarted``: a new attempt of the run ``retried`` (the one whose
    failure the event follows) or of the nearest open run of that type."""
    run = retried
    if run is None:
        # Retrying restarts the state straight from the failed child, without a Failed
        # event for that try: open means not exited and not closed.
        run = find(
            base,
            lambda r: (
                r.type == container
                and not r.exited_seen
                and (r.children_outcome is None or not r.attempts)
            ),
        )
    if run is None:
        return None
    if run.attempt_active:
        previous = run.attempts[-1]
        previous.ended, previous.succeeded = stamp, False
    if run.attempts and not run.attempts[-1].succeeded:
        failed = run.attempts[-1]
        failed.error, failed.cause = leaf_error(run.children, outline)
    run.attempts.append(AttemptDraft(started=stamp))
    run.children, run.children_outcome = [], None
    length = details.get("length")
    run.length = length if isinstance(length, int) else None
    return run


def end_container(
    container: str, phase: str, stamp: datetime | None, base: Scope
) -> RunDraft | None:
    """``<container>State<phase>`` after Started: the attempt's children finished."""
    outcome = CONTAINER_OUTCOMES.get(phase)
    if outcome is None:
        return find(base, lambda r: r.type == container and not r.exited_seen)
    run = find(base, lambda r: r.type == container and not r.exited_seen and r.attempt_active)
    if run is None:
        return None
    run.children_outcome = outcome
    attempt = run.attempts[-1]
    attempt.ended, attempt.succeeded = stamp, outcome == "succeeded"
    if outcome == "failed":
        mark_failed_below(base, run)
    return run


def iteration(phase: str, details: dict[str, Any], base: Scope) -> Scope:
    """``MapIteration<phase>``: open iteration ``index`` of the Map, or close it."""
    name, index = details.get("name"), details.get("index")
    if not isinstance(index, int):
        return base
    if phase == "Started":
        run = find(base, lambda r: r.type == "Map" and r.name == name and r.attempt_active)
        if run is None:
            return base
        scope = Scope("iteration", owner=run, index=index, generation=len(run.attempts))
        run.children.append(scope)
        return scope
    target = next(
        (
            s
            for s in base.path()
            if s.kind == "iteration" and s.index == index and s.owner and s.owner.name == name
        ),
        None,
    )
    if target is None:
        return base
    target.closed = True
    if phase == "Failed":
        for scope in base.path():
            scope.failed = True
            if scope is target:
                break
    return target


def task(phase: str, stamp: datetime | None, details: dict[str, Any], base: Scope) -> None:
    """``Task<phase>`` (or ``LambdaFunction``/``Activity``): one attempt of the open Task."""
    run = find(base, lambda r: r.type == "Task" and not r.exited_seen)
    if run is None:
        return
    if phase == "Scheduled":
        run.attempts.append(AttemptDraft(started=stamp))
        return
    if phase == "Succeeded" or phase in TASK_FAILURES:
        if not run.attempts or run.attempts[-1].ended is not None:
            run.attempts.append(AttemptDraft(started=stamp))
        attempt = run.attempts[-1]
        attempt.ended, attempt.succeeded = stamp, phase == "Succeeded"
        if phase != "Succeeded":
            attempt.error, attempt.cause = details.get("error"), details.get("cause")
            if attempt.error is None and phase == "TimedOut":
                attempt.error = "States.Timeout"
