"""States without a timeout run their work on the execution's own thread.

moto evaluates every Task, Map and Parallel state on a thread of its own so that the
state's thread can wait on it with `TimeoutSeconds`, and waits for it. Without a
`TimeoutSeconds` (moto's default, 99,999,999 s) there is nothing to time, so the work runs
on the waiting thread itself: the same evaluation, one handoff between threads fewer per
state (a sizeable part of a short execution's CPU). Map iterations and Parallel branches
still run on threads of their own.
"""

from __future__ import annotations

from typing import Any

from moto.stepfunctions.parser.asl.component.state.exec.execute_state import ExecutionState

from sluice.engine import speed


class UntimedStateInline(ExecutionState):
    def _evaluate_with_timeout(self, env: Any) -> None:
        if not speed.enabled() or not self.timeout.is_default_value():
            super()._evaluate_with_timeout(env)
            return
        with speed.next_thread_inline():
            super()._evaluate_with_timeout(env)
