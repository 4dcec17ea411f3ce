"""The story of one execution, as ``summarize`` tells it: frozen per-state runs, and the
questions asked of them (every run, the status per state, the run to blame for a failure)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from sluice.asl.events import ExecutionStatus

StateStatus = Literal[
    "succeeded", "retried", "caught", "failed", "in_progress", "aborted", "not_reached"
]
# Worst first: when one state ran several times (Map iterations, loops, retried Parallels),
# the flat status shows the most alarming outcome.
STATUS_PRIORITY: tuple[StateStatus, ...] = (
    "failed",
    "in_progress",
    "caught",
    "aborted",
    "retried",
    "succeeded",
    "not_reached",
)


@dataclass(frozen=True)
class Attempt:
    """One try of a Task (one Scheduled..Succeeded/Failed cycle), or one run of a Parallel/Map
    state's children when that state has a Retry."""

    started: datetime | None
    ended: datetime | None
    succeeded: bool
    error: str | None = None
    cause: str | None = None

    @property
    def duration(self) -> timedelta | None:
        if self.started is None or self.ended is None:
            return None
        return self.ended - self.started


@dataclass(frozen=True)
class StateRun:
    """One entry into a state. ``input``/``output`` are the raw JSON strings from the history.

    ``branches`` (Parallel) follow the definition's branch order when a definition is given.
    ``iterations`` (Map) are indexed by item: ``iterations[i]`` is item ``i``, empty while that
    iteration has not started. Both hold only the latest attempt when the state was retried.
    """

    name: str
    type: str
    status: StateStatus
    input: str | None = None
    output: str | None = None
    error: str | None = None
    cause: str | None = None
    entered: datetime | None = None
    exited: datetime | None = None
    attempts: list[Attempt] = field(default_factory=list)
    branches: list[list[StateRun]] = field(default_factory=list)
    iterations: list[list[StateRun]] = field(default_factory=list)
    event_id: int | None = None  # the StateEntered event, for linking back to the raw history

    @property
    def duration(self) -> timedelta | None:
        if self.entered is None or self.exited is None:
            return None
        return self.exited - self.entered

    @property
    def retries(self) -> int:
        return max(len(self.attempts) - 1, 0)

    def children(self) -> Iterator[list[StateRun]]:
        yield from self.branches
        yield from self.iterations


@dataclass(frozen=True)
class ExecutionStory:
    status: ExecutionStatus
    input: str | None
    output: str | None
    error: str | None
    cause: str | None
    started: datetime | None
    stopped: datetime | None
    # Up to the last event while the execution is still running.
    duration: timedelta | None
    states: list[StateRun]
    statuses: dict[str, StateStatus]


def iter_runs(runs: Sequence[StateRun]) -> Iterator[StateRun]:
    """Every run in ``runs`` and, depth first, inside their branches and iterations."""
    for run in runs:
        yield run
        for child in run.children():
            yield from iter_runs(child)


def worst(statuses: Iterable[StateStatus]) -> StateStatus:
    """The most alarming of ``statuses`` (see ``STATUS_PRIORITY``); ``not_reached`` when none
    was reached."""
    reached = [s for s in statuses if s != "not_reached"]
    return min(reached, key=STATUS_PRIORITY.index) if reached else "not_reached"


def state_statuses(story: ExecutionStory) -> dict[str, StateStatus]:
    """``{state name: status}`` over all nesting levels, for colouring a graph.

    A state that ran more than once gets its worst status (see ``STATUS_PRIORITY``); with a
    definition, states never entered (including inside Parallel branches and Map processors)
    are ``not_reached``.
    """
    return dict(story.statuses)


def failed_state(story: ExecutionStory) -> StateRun | None:
    """The run to point a user at.

    If the execution FAILED or TIMED_OUT: the deepest failed run under the last failed
    top-level state (descending into the failed branch or iteration, preferring runs with an
    error, then the earliest); when that state is a Fail state a Catch led to, the most
    recently entered caught run instead.

    Otherwise (succeeded, running or aborted): the most recently entered *caught* run anywhere,
    descended the same way, so a caught Parallel resolves to the state that failed inside it;
    failing that, the most recently entered failed run with an error (a failed Map iteration
    in a still-running execution). ``None`` when nothing failed.
    """
    every = list(iter_runs(story.states))
    caught = [run for run in every if run.status == "caught"]
    if story.status in ("FAILED", "TIMED_OUT"):
        top = [run for run in story.states if run.status == "failed"]
        if top and top[-1].type == "Fail" and caught:
            # A Fail state reached through a Catch only ends the path: the caught step is
            # the one with the error to show.
            return descend(max(caught, key=entered_order))
        if top:
            return descend(top[-1])
    if caught:
        return descend(max(caught, key=entered_order))
    failed = [run for run in every if run.status == "failed" and run.error is not None]
    if failed:
        return descend(max(failed, key=entered_order))
    return None


def entered_order(run: StateRun) -> int:
    return run.event_id if run.event_id is not None else -1


def descend(run: StateRun) -> StateRun:
    child = culprit(run)
    return run if child is None else descend(child)


def culprit(run: StateRun) -> StateRun | None:
    """The failed child run to blame for a Parallel/Map failing: one with an error first, then
    the earliest entered."""
    candidates = [child for runs in run.children() for child in runs if child.status == "failed"]
    if not candidates:
        return None
    return min(candidates, key=lambda r: (r.error is None, entered_order(r)))
