"""Turn a Step Functions execution history into a per-state story.

``summarize`` takes the ``events`` of ``GetExecutionHistory`` (boto3 shape; timestamps may be
``datetime`` objects or ISO-8601 strings) and, optionally, the ASL definition, and returns an
``ExecutionStory``: one ``StateRun`` per state entered, in order, with Parallel branches and
Map iterations nested.

Events are attributed to branches and iterations through ``previousEventId``, never through
list order, because branches and iterations run concurrently and their events interleave:

* a state entered straight after ``ParallelStateStarted`` opens a new branch;
* ``MapIterationStarted`` opens iteration ``index`` of the Map named in its details;
* every other event belongs where the event it points at belongs, except that the events
  closing a Parallel or Map (``*StateSucceeded``/``Failed``/``Exited``, ``MapIteration*``) point
  at the last event of a branch or iteration and are resolved upwards to the state they close.

Statuses: ``succeeded``; ``retried`` (succeeded after at least one failed attempt); ``caught``
(failed, but a Catch routed onward); ``failed``; ``in_progress``; ``aborted`` (entered, then
cut short by something else: a sibling branch or iteration failing, or the execution being
stopped); ``not_reached`` (in the definition but never entered; only with a definition).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

StateStatus = Literal[
    "succeeded", "retried", "caught", "failed", "in_progress", "aborted", "not_reached"
]
ExecutionStatus = Literal["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"]

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

_TERMINAL: dict[str, ExecutionStatus] = {
    "ExecutionSucceeded": "SUCCEEDED",
    "ExecutionFailed": "FAILED",
    "ExecutionTimedOut": "TIMED_OUT",
    "ExecutionAborted": "ABORTED",
}
_TASK_PREFIXES = ("Task", "LambdaFunction", "Activity")
_TASK_FAILURES = ("Failed", "TimedOut", "StartFailed", "ScheduleFailed", "SubmitFailed")
_CONTAINERS = ("Parallel", "Map")
_OUTCOMES: dict[str, Literal["succeeded", "failed", "aborted"]] = {
    "Succeeded": "succeeded",
    "Failed": "failed",
    "Aborted": "aborted",
}


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


def summarize(
    events: Sequence[Mapping[str, Any]], definition: str | Mapping[str, Any] | None = None
) -> ExecutionStory:
    """Build the story of one execution from its history ``events``.

    With ``definition`` (the ASL JSON), states never entered are listed as ``not_reached``
    after the entered ones (in every branch and in every started iteration), Fail states
    carry their declared Error/Cause, and branches follow the definition's order.
    """
    shape = _Definition.parse(definition)
    builder = _Builder(shape)
    for event in sorted(events, key=lambda e: int(e["id"])):
        builder.feed(event)
    return builder.story()


def iter_runs(runs: Sequence[StateRun]) -> Iterator[StateRun]:
    """Every run in ``runs`` and, depth first, inside their branches and iterations."""
    for run in runs:
        yield run
        for child in run.children():
            yield from iter_runs(child)


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
            return _descend(max(caught, key=_entered_order))
        if top:
            return _descend(top[-1])
    if caught:
        return _descend(max(caught, key=_entered_order))
    failed = [run for run in every if run.status == "failed" and run.error is not None]
    if failed:
        return _descend(max(failed, key=_entered_order))
    return None


def _entered_order(run: StateRun) -> int:
    return run.event_id if run.event_id is not None else -1


def _descend(run: StateRun) -> StateRun:
    child = _culprit(run)
    return run if child is None else _descend(child)


def _timestamp(value: object) -> datetime | None:
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


def _details(event: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, Mapping):
            return dict(value)
    return {}


def _error_from_output(output: str | None) -> tuple[str | None, str | None]:
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


@dataclass
class _Definition:
    states: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    root: list[str] = field(default_factory=list)
    branches: dict[str, list[list[str]]] = field(default_factory=dict)
    processors: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def parse(cls, definition: str | Mapping[str, Any] | None) -> _Definition:
        shape = cls()
        if definition is None:
            return shape
        document = json.loads(definition) if isinstance(definition, str) else definition
        shape.root = shape._walk(document)
        return shape

    def _walk(self, machine: Mapping[str, Any]) -> list[str]:
        states = machine.get("States")
        if not isinstance(states, Mapping):
            return []
        for name, spec in states.items():
            if not isinstance(spec, Mapping):
                continue
            self.states[name] = spec
            if spec.get("Type") == "Parallel":
                self.branches[name] = [self._walk(b) for b in spec.get("Branches", [])]
            elif spec.get("Type") == "Map":
                processor = spec.get("ItemProcessor") or spec.get("Iterator") or {}
                self.processors[name] = self._walk(processor)
        return list(states)

    def type_of(self, name: str) -> str:
        spec = self.states.get(name, {})
        kind = spec.get("Type")
        return kind if isinstance(kind, str) else "Unknown"

    def fail_error(self, name: str) -> tuple[str | None, str | None]:
        spec = self.states.get(name, {})
        error, cause = spec.get("Error"), spec.get("Cause")
        return (
            error if isinstance(error, str) else None,
            cause if isinstance(cause, str) else None,
        )

    def branch_index(self, parallel: str, first_state: str) -> int | None:
        for index, names in enumerate(self.branches.get(parallel, [])):
            if first_state in names:
                return index
        return None


@dataclass
class _AttemptB:
    started: datetime | None
    ended: datetime | None = None
    succeeded: bool = False
    error: str | None = None
    cause: str | None = None

    def freeze(self) -> Attempt:
        return Attempt(self.started, self.ended, self.succeeded, self.error, self.cause)


@dataclass(eq=False)
class _Scope:
    kind: Literal["root", "branch", "iteration"]
    owner: _Run | None = None
    index: int = 0
    runs: list[_Run] = field(default_factory=list)
    generation: int = 0  # the owner's attempt this scope belongs to
    closed: bool = False  # MapIteration{Succeeded,Failed,Aborted} seen
    failed: bool = False  # a failure originating inside this scope ended it

    @property
    def current(self) -> _Run | None:
        return self.runs[-1] if self.runs else None

    @property
    def parent(self) -> _Scope | None:
        return self.owner.scope if self.owner is not None else None

    def path(self) -> Iterator[_Scope]:
        scope: _Scope | None = self
        while scope is not None:
            yield scope
            scope = scope.parent


@dataclass(eq=False)
class _Run:
    name: str
    type: str
    scope: _Scope
    event_id: int
    entered: datetime | None
    input: str | None
    exited: datetime | None = None
    output: str | None = None
    exited_seen: bool = False
    attempts: list[_AttemptB] = field(default_factory=list)
    children: list[_Scope] = field(default_factory=list)
    # Parallel/Map: whether the children of the latest attempt finished, and how.
    children_outcome: Literal["succeeded", "failed", "aborted"] | None = None
    length: int | None = None
    # Left failed by the execution, which was then redriven from it.
    failed_before_redrive: bool = False

    @property
    def attempt_active(self) -> bool:
        return bool(self.attempts) and self.children_outcome is None


class _Builder:
    def __init__(self, shape: _Definition) -> None:
        self.shape = shape
        self.root = _Scope("root")
        self.scope_of: dict[int, _Scope] = {}
        # Parallel/Map lifecycle events -> the run they belong to, so that a branch's first
        # state and a retry after a Failed event find their state directly.
        self.container_event: dict[int, _Run] = {}
        self.kind_of: dict[int, str] = {}
        self.status: ExecutionStatus = "RUNNING"
        self.input: str | None = None
        self.output: str | None = None
        self.error: str | None = None
        self.cause: str | None = None
        self.started: datetime | None = None
        self.stopped: datetime | None = None
        self.last: datetime | None = None
        self.finished = False

    # -- event attribution -------------------------------------------------------------------

    def feed(self, event: Mapping[str, Any]) -> None:
        event_id = int(event["id"])
        kind = str(event["type"])
        stamp = _timestamp(event.get("timestamp"))
        if stamp is not None:
            self.last = stamp if self.last is None else max(self.last, stamp)
        details = _details(event)
        previous = event.get("previousEventId")
        previous_id = int(previous) if previous else 0
        base = self.scope_of.get(previous_id, self.root)
        self.kind_of[event_id] = kind
        self.scope_of[event_id] = self._apply(event_id, kind, stamp, details, base, previous_id)

    def _apply(
        self,
        event_id: int,
        kind: str,
        stamp: datetime | None,
        details: dict[str, Any],
        base: _Scope,
        previous_id: int,
    ) -> _Scope:
        if kind.startswith("Execution"):
            self._execution(kind, stamp, details, base)
            return self.root
        if kind.endswith("StateEntered"):
            return self._entered(event_id, kind, stamp, details, base, previous_id)
        if kind.endswith("StateExited"):
            name = details.get("name")
            run = self._find(base, lambda r: r.name == name and not r.exited_seen)
            if run is None:
                return base
            run.exited, run.output, run.exited_seen = stamp, details.get("output"), True
            return run.scope
        for container in _CONTAINERS:
            if kind.startswith(container + "State"):
                phase = kind.removeprefix(container + "State")
                run = self._container(container, phase, stamp, details, base, previous_id)
                if run is None:
                    return base
                self.container_event[event_id] = run
                return run.scope
        if kind.startswith("MapIteration"):
            return self._iteration(kind.removeprefix("MapIteration"), details, base)
        for prefix in _TASK_PREFIXES:
            if kind.startswith(prefix):
                self._task(kind.removeprefix(prefix), stamp, details, base)
                break
        return base

    def _find(self, base: _Scope, match: Callable[[_Run], bool]) -> _Run | None:
        """Nearest enclosing open run satisfying ``match``: a scope's latest run is the one
        that is executing, and each enclosing scope is blocked on the run that owns the next
        level down."""
        for scope in base.path():
            run = scope.current
            if run is not None and match(run):
                return run
        return None

    def _execution(
        self, kind: str, stamp: datetime | None, details: dict[str, Any], base: _Scope
    ) -> None:
        if kind == "ExecutionStarted":
            self.input, self.started = details.get("input"), stamp
            return
        if kind == "ExecutionRedriven":
            # The same execution runs on from its failed state: the earlier outcome stands
            # in that state's runs, not in the execution's.
            self.finished, self.status, self.stopped = False, "RUNNING", None
            self.error = self.cause = None
            for run in self.root.runs:
                run.failed_before_redrive |= not run.exited_seen
            self.root.failed = False
            return
        terminal = _TERMINAL.get(kind)
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

    def _entered(
        self,
        event_id: int,
        kind: str,
        stamp: datetime | None,
        details: dict[str, Any],
        base: _Scope,
        previous_id: int,
    ) -> _Scope:
        name = str(details.get("name", "?"))
        scope = base
        parallel = self.container_event.get(previous_id)
        if parallel is not None and self.kind_of.get(previous_id) == "ParallelStateStarted":
            index = self.shape.branch_index(parallel.name, name)
            scope = _Scope(
                "branch",
                owner=parallel,
                index=len(parallel.children) if index is None else index,
                generation=len(parallel.attempts),
            )
            parallel.children.append(scope)
        else:
            # A finished branch or iteration takes no more states; fall back to its parent.
            while scope.parent is not None and self._ended(scope):
                scope = scope.parent
        run = _Run(
            name=name,
            type=kind.removesuffix("StateEntered"),
            scope=scope,
            event_id=event_id,
            entered=stamp,
            input=details.get("input"),
        )
        scope.runs.append(run)
        return scope

    def _container(
        self,
        container: str,
        phase: str,
        stamp: datetime | None,
        details: dict[str, Any],
        base: _Scope,
        previous_id: int,
    ) -> _Run | None:
        if phase == "Started":
            run = self.container_event.get(previous_id)
            if run is None or self.kind_of.get(previous_id) != f"{container}StateFailed":
                # Retrying restarts the state straight from the failed child, without a
                # Failed event for that try: open means not exited and not closed.
                run = self._find(
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
                failed.error, failed.cause = _leaf_error(run.children, self.shape)
            run.attempts.append(_AttemptB(started=stamp))
            run.children, run.children_outcome = [], None
            length = details.get("length")
            run.length = length if isinstance(length, int) else None
            return run
        outcome = _OUTCOMES.get(phase)
        if outcome is None:
            return self._find(base, lambda r: r.type == container and not r.exited_seen)
        run = self._find(
            base, lambda r: r.type == container and not r.exited_seen and r.attempt_active
        )
        if run is None:
            return None
        run.children_outcome = outcome
        attempt = run.attempts[-1]
        attempt.ended, attempt.succeeded = stamp, outcome == "succeeded"
        if outcome == "failed":
            self._mark_failed_below(base, run)
        return run

    def _iteration(self, phase: str, details: dict[str, Any], base: _Scope) -> _Scope:
        name, index = details.get("name"), details.get("index")
        if not isinstance(index, int):
            return base
        if phase == "Started":
            run = self._find(
                base, lambda r: r.type == "Map" and r.name == name and r.attempt_active
            )
            if run is None:
                return base
            scope = _Scope("iteration", owner=run, index=index, generation=len(run.attempts))
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

    def _task(
        self, phase: str, stamp: datetime | None, details: dict[str, Any], base: _Scope
    ) -> None:
        run = self._find(base, lambda r: r.type == "Task" and not r.exited_seen)
        if run is None:
            return
        if phase == "Scheduled":
            run.attempts.append(_AttemptB(started=stamp))
            return
        if phase == "Succeeded" or phase in _TASK_FAILURES:
            if not run.attempts or run.attempts[-1].ended is not None:
                run.attempts.append(_AttemptB(started=stamp))
            attempt = run.attempts[-1]
            attempt.ended, attempt.succeeded = stamp, phase == "Succeeded"
            if phase != "Succeeded":
                attempt.error, attempt.cause = details.get("error"), details.get("cause")
                if attempt.error is None and phase == "TimedOut":
                    attempt.error = "States.Timeout"

    def _mark_failed_below(self, base: _Scope, run: _Run) -> None:
        path: list[_Scope] = []
        for scope in base.path():
            path.append(scope)
            if scope.owner is run:
                for marked in path:
                    marked.failed = True
                return

    # -- statuses and freezing ---------------------------------------------------------------

    def _ended(self, scope: _Scope) -> bool:
        if scope.kind == "root":
            return self.finished
        owner = scope.owner
        assert owner is not None
        if scope.closed or owner.exited_seen or owner.children_outcome is not None:
            return True
        if scope.generation != len(owner.attempts):  # left behind by a retried attempt
            return True
        parent = scope.parent
        return parent is not None and self._ended(parent)

    def _status(self, run: _Run) -> StateStatus:
        failures = [a for a in run.attempts if a.ended is not None and not a.succeeded]
        if run.exited_seen:
            if run.type in ("Task", *_CONTAINERS) and run.attempts:
                if not run.attempts[-1].succeeded and run.attempts[-1].ended is not None:
                    return "caught"
                return "retried" if failures else "succeeded"
            return "succeeded"
        if run.type == "Fail" or (run.type in _CONTAINERS and run.children_outcome == "failed"):
            return "failed"
        if run.failed_before_redrive:
            return "failed"
        if not self._ended(run.scope):
            return "in_progress"
        return "failed" if run.scope.failed else "aborted"

    def _freeze_scope(self, scope: _Scope, names: list[str]) -> list[StateRun]:
        frozen = [self._freeze_run(run) for run in scope.runs]
        entered = {run.name for run in scope.runs}
        frozen.extend(self._unreached(name) for name in names if name not in entered)
        return frozen

    def _freeze_run(self, run: _Run) -> StateRun:
        status = self._status(run)
        branches: list[list[StateRun]] = []
        iterations: list[list[StateRun]] = []
        if run.type == "Parallel":
            shapes = self.shape.branches.get(run.name, [])
            by_index = {scope.index: scope for scope in run.children}
            count = max([len(shapes), *(i + 1 for i in by_index)])
            for index in range(count):
                names = shapes[index] if index < len(shapes) else []
                if index in by_index:
                    branches.append(self._freeze_scope(by_index[index], names))
                else:
                    branches.append([self._unreached(name) for name in names])
        elif run.type == "Map":
            names = self.shape.processors.get(run.name, [])
            by_index = {scope.index: scope for scope in run.children}
            count = max([run.length or 0, *(i + 1 for i in by_index)])
            iterations = [
                self._freeze_scope(by_index[i], names) if i in by_index else []
                for i in range(count)
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
            input=run.input,
            output=run.output,
            error=error,
            cause=cause,
            entered=run.entered,
            exited=run.exited,
            attempts=attempts,
            branches=branches,
            iterations=iterations,
            event_id=run.event_id,
        )

    def _own_error(
        self, run: _Run, status: StateStatus, children: list[list[StateRun]]
    ) -> tuple[str | None, str | None]:
        if status not in ("failed", "caught"):
            return None, None
        if run.type == "Fail":
            return self.shape.fail_error(run.name)
        failed = [a for a in run.attempts if a.error is not None and not a.succeeded]
        if run.type == "Task" and failed:
            return failed[-1].error, failed[-1].cause
        if run.type in _CONTAINERS:
            culprits = [r for runs in children for r in runs if r.status == "failed"]
            culprits.sort(key=lambda r: (r.error is None, _entered_order(r)))
            if culprits and culprits[0].error is not None:
                return culprits[0].error, culprits[0].cause
        if status == "caught":
            return _error_from_output(run.output)
        return None, None

    def _unreached(self, name: str) -> StateRun:
        kind = self.shape.type_of(name)
        branches = (
            [[self._unreached(n) for n in names] for names in self.shape.branches.get(name, [])]
            if kind == "Parallel"
            else []
        )
        return StateRun(name=name, type=kind, status="not_reached", branches=branches)

    def story(self) -> ExecutionStory:
        states = self._freeze_scope(self.root, self.shape.root)
        if self.status in ("FAILED", "TIMED_OUT") and self.error is not None:
            states = _fill_failure(states, self.error, self.cause)
        statuses: dict[str, StateStatus] = {}
        for run in iter_runs(states):
            known = statuses.get(run.name)
            if known is None or STATUS_PRIORITY.index(run.status) < STATUS_PRIORITY.index(known):
                statuses[run.name] = run.status
        for name in self.shape.states:
            statuses.setdefault(name, "not_reached")
        start = self.started
        end = self.stopped or self.last
        return ExecutionStory(
            status=self.status,
            input=self.input,
            output=self.output,
            error=self.error,
            cause=self.cause,
            started=start,
            stopped=self.stopped,
            duration=end - start if start is not None and end is not None else None,
            states=states,
            statuses=statuses,
        )


def _leaf_error(scopes: list[_Scope], shape: _Definition) -> tuple[str | None, str | None]:
    """Error of the earliest failure inside a discarded Parallel/Map attempt."""
    runs = sorted(
        (run for scope in scopes for run in _walk_builders(scope)), key=lambda r: r.event_id
    )
    for run in runs:
        if run.type == "Fail":
            return shape.fail_error(run.name)
        failed = [a for a in run.attempts if a.error is not None and not a.succeeded]
        if run.type == "Task" and failed and not run.exited_seen:
            return failed[-1].error, failed[-1].cause
    return None, None


def _walk_builders(scope: _Scope) -> Iterator[_Run]:
    for run in scope.runs:
        yield run
        for child in run.children:
            yield from _walk_builders(child)


def _fill_failure(runs: list[StateRun], error: str, cause: str | None) -> list[StateRun]:
    """Give the execution's error to the runs on the failure path that have none of their own
    (a Pass with a bad path, a Fail state when no definition was given, ...)."""
    failed = [i for i, run in enumerate(runs) if run.status == "failed"]
    if not failed:
        return runs
    runs = list(runs)
    runs[failed[-1]] = _fill_run(runs[failed[-1]], error, cause)
    return runs


def _fill_run(run: StateRun, error: str, cause: str | None) -> StateRun:
    culprit = _culprit(run)
    if culprit is not None:
        branches = [_fill_list(runs, culprit, error, cause) for runs in run.branches]
        iterations = [_fill_list(runs, culprit, error, cause) for runs in run.iterations]
        run = replace(run, branches=branches, iterations=iterations)
        culprit = _culprit(run)
    if run.error is None:
        inherited = culprit if culprit is not None and culprit.error is not None else None
        run = replace(
            run,
            error=inherited.error if inherited else error,
            cause=inherited.cause if inherited else cause,
        )
    return run


def _fill_list(
    runs: list[StateRun], culprit: StateRun, error: str, cause: str | None
) -> list[StateRun]:
    return [_fill_run(r, error, cause) if r is culprit else r for r in runs]


def _culprit(run: StateRun) -> StateRun | None:
    """The failed child run to blame for a Parallel/Map failing: one with an error first, then
    the earliest entered."""
    candidates = [child for runs in run.children() for child in runs if child.status == "failed"]
    if not candidates:
        return None
    return min(candidates, key=lambda r: (r.error is None, _entered_order(r)))
