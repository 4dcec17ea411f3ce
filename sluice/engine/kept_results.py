"""What a redrive keeps of a failed Map or Parallel state: the results of the iterations and
branches that succeeded.

"For workflows that include an Inline Map or Parallel state, RedriveExecution API action
reschedules and redrives only the iterations and branches that failed or aborted"
(https://docs.aws.amazon.com/step-functions/latest/apireference/API_RedriveExecution.html).
While a top-level Map or Parallel state runs, the output of each iteration or branch that
succeeds is kept with the execution (keyed by its history, which a redrive continues);
when a redrive resumes at that state, those iterations and branches are not run again and
their kept outputs take their places in the state's result. Entering the state afresh (a
run that is not the redrive's resumption, a loop, a Retry) forgets what was kept.

Only top-level states keep results (`mark_top_level`): a redrive resumes at one of them, and
a Map or Parallel nested inside a failed iteration or branch runs again with it.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, field
from typing import Any

from moto.stepfunctions.parser.asl.component.state.exec.state_map.state_map import StateMap
from moto.stepfunctions.parser.asl.component.state.exec.state_parallel.state_parallel import (
    StateParallel,
)

from sluice.engine import speed


@dataclass
class _Kept:
    resume: str | None = None  # the state the pending redrive resumes at
    outputs: dict[str, dict[int, Any]] = field(default_factory=dict)
    reusable: dict[str, dict[int, Any]] = field(default_factory=dict)


# One per execution, keyed by its history (event manager), which a redrive shares.
_kept: weakref.WeakKeyDictionary[Any, _Kept] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def resume_at(event_manager: Any, state_name: str) -> None:
    """A redrive of the execution with this history resumes at STATE_NAME."""
    with _lock:
        _kept.setdefault(event_manager, _Kept()).resume = state_name


def begin(env: Any, state_name: str) -> None:
    """Top-level STATE_NAME (a Map or Parallel state) starts running in ENV."""
    with _lock:
        kept = _kept.setdefault(env.event_manager, _Kept())
        if kept.resume == state_name:
            kept.resume = None
            kept.reusable[state_name] = dict(kept.outputs.get(state_name, {}))
        else:
            kept.outputs[state_name] = {}
            kept.reusable.pop(state_name, None)


_NONE: dict[int, Any] = {}


def reusable(env: Any, state_name: str) -> dict[int, Any]:
    """Index -> output of the iterations or branches of STATE_NAME a redrive does not rerun
    (read only)."""
    with _lock:
        kept = _kept.get(env.event_manager)
        return kept.reusable.get(state_name, _NONE) if kept else _NONE


def succeeded(env: Any, state_name: str, index: int, output: Any) -> None:
    """Iteration or branch INDEX of STATE_NAME ended with OUTPUT (kept for top-level ones)."""
    with _lock:
        kept = _kept.get(env.event_manager)
        if kept is not None and state_name in kept.outputs:
            kept.outputs[state_name][index] = speed.json_copy(output)


def mark_top_level(program: Any) -> None:
    """Let PROGRAM's top-level Map and Parallel states keep their results."""
    for name, state in program.states.states.items():
        if isinstance(state, MapKeepsIterations):
            state.keeps_results = True
        elif isinstance(state, StateParallel):
            branches: Any = state.branches  # components.BranchErrorsKept
            branches.state_name = name


class MapKeepsIterations(StateMap):
    """A Map state's entry, for the results its iterations keep (the Map's workers keep and
    reuse them: components.IterationErrorsKept)."""

    keeps_results = False  # set on top-level ones

    def _eval_execution(self, env: Any) -> None:
        if self.keeps_results:
            begin(env, self.name)
        super()._eval_execution(env)
