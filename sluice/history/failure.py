"""Which error to show where: the earliest failure inside a discarded Parallel/Map attempt,
and the execution's error handed to the runs on its failure path that have none."""

from __future__ import annotations

from dataclasses import replace

from sluice.asl.definition import Outline
from sluice.history.drafts import Scope, walk_drafts
from sluice.history.story import StateRun, culprit


def leaf_error(scopes: list[Scope], outline: Outline) -> tuple[str | None, str | None]:
    """Error of the earliest failure inside a discarded Parallel/Map attempt."""
    runs = sorted((run for scope in scopes for run in walk_drafts(scope)), key=lambda r: r.event_id)
    for run in runs:
        if run.type == "Fail":
            return outline.fail_error(run.name)
        failed = [a for a in run.attempts if a.error is not None and not a.succeeded]
        if run.type == "Task" and failed and not run.exited_seen:
            return failed[-1].error, failed[-1].cause
    return None, None


def fill_failure(runs: list[StateRun], error: str, cause: str | None) -> list[StateRun]:
    """Give the execution's error to the runs on the failure path that have none of their own
    (a Pass with a bad path, a Fail state when no definition was given, ...)."""
    failed = [i for i, run in enumerate(runs) if run.status == "failed"]
    if not failed:
        return runs
    runs = list(runs)
    runs[failed[-1]] = _fill_run(runs[failed[-1]], error, cause)
    return runs


def _fill_run(run: StateRun, error: str, cause: str | None) -> StateRun:
    blamed = culprit(run)
    if blamed is not None:
        branches = [_fill_list(runs, blamed, error, cause) for runs in run.branches]
        iterations = [_fill_list(runs, blamed, error, cause) for runs in run.iterations]
        run = replace(run, branches=branches, iterations=iterations)
        blamed = culprit(run)
    if run.error is None:
        inherited = blamed if blamed is not None and blamed.error is not None else None
        run = replace(
            run,
            error=inherited.error if inherited else error,
            cause=inherited.cause if inherited else cause,
        )
    return run


def _fill_list(
    runs: list[StateRun], blamed: StateRun, error: str, cause: str | None
) -> list[StateRun]:
    return [_fill_run(r, error, cause) if r is blamed else r for r in runs]
