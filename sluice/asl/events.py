"""The kinds of execution history events (``GetExecutionHistory``), by what they say.

An event type reads as one of:

* ``Execution<Phase>``: the execution started, was redriven, or ended (``EXECUTION_ENDS``);
* ``<Type>StateEntered`` / ``<Type>StateExited``: a state of that ASL type was entered / left;
* ``ParallelState<Phase>`` / ``MapState<Phase>``: a container's children started, succeeded,
  failed or were aborted (one cycle per attempt when the container has a Retry);
* ``MapIteration<Phase>``: iteration ``index`` of a Map started or ended;
* ``Task<Phase>`` / ``LambdaFunction<Phase>`` / ``Activity<Phase>``: one attempt of a task,
  from ``Scheduled`` to ``Succeeded`` or one of ``TASK_FAILURES``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any, Literal

from sluice.asl.definition import CONTAINERS

ExecutionStatus = Literal["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"]
Family = Literal["execution", "entered", "exited", "container", "iteration", "task", "other"]

EXECUTION_ENDS: dict[str, ExecutionStatus] = {
    "Succeeded": "SUCCEEDED",
    "Failed": "FAILED",
    "TimedOut": "TIMED_OUT",
    "Aborted": "ABORTED",
}
TASK_PREFIXES = ("Task", "LambdaFunction", "Activity")
TASK_FAILURES = ("Failed", "TimedOut", "StartFailed", "ScheduleFailed", "SubmitFailed")
CONTAINER_OUTCOMES: dict[str, Literal["succeeded", "failed", "aborted"]] = {
    "Succeeded": "succeeded",
    "Failed": "failed",
    "Aborted": "aborted",
}


@dataclass(frozen=True)
class EventKind:
    """An event type split into what it is about: ``subject`` is the state type (entered,
    exited), the container type, or the task prefix; ``phase`` what happened to it."""

    family: Family
    subject: str = ""
    phase: str = ""

    @property
    def task_failure(self) -> bool:
        return self.family == "task" and self.phase in TASK_FAILURES

    @property
    def container_failure(self) -> bool:
        return self.family == "container" and self.phase == "Failed"


@cache
def kind_of(event_type: str) -> EventKind:
    if event_type.startswith("Execution"):
        return EventKind("execution", phase=event_type.removeprefix("Execution"))
    if event_type.endswith("StateEntered"):
        return EventKind("entered", event_type.removesuffix("StateEntered"))
    if event_type.endswith("StateExited"):
        return EventKind("exited", event_type.removesuffix("StateExited"))
    for container in CONTAINERS:
        if event_type.startswith(container + "State"):
            return EventKind("container", container, event_type.removeprefix(container + "State"))
    if event_type.startswith("MapIteration"):
        return EventKind("iteration", "Map", event_type.removeprefix("MapIteration"))
    for prefix in TASK_PREFIXES:
        if event_type.startswith(prefix):
            return EventKind("task", prefix, event_type.removeprefix(prefix))
    return EventKind("other", phase=event_type)


def event_kind(event: Mapping[str, Any] | None) -> EventKind:
    return kind_of(str((event or {}).get("type", "")))


def details(event: Mapping[str, Any] | None) -> dict[str, Any]:
    """The event's ``*EventDetails`` (every event carries at most one)."""
    for key, value in (event or {}).items():
        if key.endswith("EventDetails") and isinstance(value, Mapping):
            return dict(value)
    return {}


def failure_error(event: Mapping[str, Any] | None) -> str | None:
    """The error of a task attempt's or a Parallel/Map attempt's failure event: ``""`` when it
    names none, None for any other event."""
    kind = event_kind(event)
    if not (kind.task_failure or kind.container_failure):
        return None
    error = details(event).get("error")
    if isinstance(error, str) and error:
        return error
    return "States.Timeout" if kind.phase.endswith("TimedOut") else ""


def timestamp(value: object) -> datetime | None:
    """An event timestamp: a ``datetime`` (boto3), ISO-8601 text or epoch seconds, in UTC."""
    if isinstance(value, datetime):
        stamp = value
    elif isinstance(value, str):
        try:
            stamp = datetime.fromisoformat(value)
        except ValueError:
            return None
    elif isinstance(value, int | float):
        stamp = datetime.fromtimestamp(value, tz=UTC)
    else:
        return None
    # Naive values would refuse to subtract from aware ones; the API speaks UTC.
    return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=UTC)
