"""What reading a history builds before it is frozen into ``StateRun``s: runs of states, each
inside a scope (the root, a Parallel branch or a Map iteration), with their attempts."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from sluice.history.story import Attempt


@dataclass
class AttemptDraft:
    started: datetime | None
    ended: datetime | None = None
    succeeded: bool = False
    error: str | None = None
    cause: str | None = None

    def freeze(self) -> Attempt:
        return Attempt(self.started, self.ended, self.succeeded, self.error, self.cause)


@dataclass(eq=False)
class Scope:
    kind: Literal["root", "branch", "iteration"]
    owner: RunDraft | None = None
    index: int = 0
    runs: list[RunDraft] = field(default_factory=list)
    generation: int = 0  # the owner's attempt this scope belongs to
    closed: bool = False  # MapIteration{Succeeded,Failed,Aborted} seen
    failed: bool = False  # a failure originating inside this scope ended it

    @property
    def current(self) -> RunDraft | None:
        return self.runs[-1] if self.runs else None

    @property
    def parent(self) -> Scope | None:
        return self.owner.scope if self.owner is not None else None

    def path(self) -> Iterator[Scope]:
        scope: Scope | None = self
        while scope is not None:
            yield scope
            scope = scope.parent


@dataclass(eq=False)
class RunDraft:
    name: str
    type: str
    scope: Scope
    event_id: int
    entered: datetime | None
    input: str | None
    exited: datetime | None = None
    output: str | None = None
    exited_seen: bool = False
    attempts: list[AttemptDraft] = field(default_factory=list)
    children: list[Scope] = field(default_factory=list)
    # Parallel/Map: whether the children of the latest attempt finished, and how.
    children_outcome: Literal["succeeded", "failed", "aborted"] | None = None
    length: int | None = None
    # Left failed by the execution, which was then redriven from it.
    failed_before_redrive: bool = False

    @property
    def attempt_active(self) -> bool:
        return bool(self.attempts) and self.children_outcome is None


def find(base: Scope, match: Callable[[RunDraft], bool]) -> RunDraft | None:
    """Nearest enclosing open run satisfying ``match``: a scope's latest run is the one that is
    executing, and each enclosing scope is blocked on the run that owns the next level down."""
    for scope in base.path():
        run = scope.current
        if run is not None and match(run):
            return run
    return None


def ended(scope: Scope, execution_finished: bool) -> bool:
    """Whether ``scope`` takes no more states: its branch/iteration or an enclosing one ended,
    or it belongs to an attempt that a retry left behind."""
    if scope.kind == "root":
        return execution_finished
    owner = scope.owner
    assert owner is not None
    if scope.closed or owner.exited_seen or owner.children_outcome is not None:
        return True
    if scope.generation != len(owner.attempts):  # left behind by a retried attempt
        return True
    parent = scope.parent
    return parent is not None and ended(parent, execution_finished)


def mark_failed_below(base: Scope, run: RunDraft) -> None:
    """Mark every scope from ``base`` up to the one ``run`` owns as ended by a failure."""
    path: list[Scope] = []
    for scope in base.path():
        path.append(scope)
        if scope.owner is run:
            for marked in path:
                marked.failed = True
            return


def walk_drafts(scope: Scope) -> Iterator[RunDraft]:
    for run in scope.runs:
        yield run
        for child in run.children:
            yield from walk_drafts(child)
