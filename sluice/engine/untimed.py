"""States and programs without a timeout run their work on the execution's own thread.

moto evaluates every Task, Map and Parallel state on a thread of its own so that the
state's thread can wait on it with `TimeoutSeconds`, and waits for it. Without a
`TimeoutSeconds` (moto's default, 99,999,999 s) there is nothing to time, so the work runs
on the waiting thread itself: the same evaluation, one handoff between threads fewer per
state (a sizeable part of a short execution's CPU). Map iterations and Parallel branches
still run on threads of their own.

A program (an execution's, a Parallel branch's, a Map iteration's) is evaluated the same
way: moto starts a thread for it and joins it with the program's TimeoutSeconds; without
one, the program runs on the thread that would only join it.
"""

from __future__ import annotations

import contextlib
from typing import Any

from moto.stepfunctions.parser.asl.component.program.program import Program
from moto.stepfunctions.parser.asl.component.state.exec.execute_state import ExecutionState

from sluice.engine import speed


class UntimedStateInline(ExecutionState):
    def _evaluate_with_timeout(self, env: Any) -> None:
        if not speed.enabled() or not self.timeout.is_default_value():
            super()._evaluate_with_timeout(env)
            return
        with speed.next_thread_inline():
            super()._evaluate_with_timeout(env)


def inline_if_untimed(program: Program) -> contextlib.AbstractContextManager[None]:
    """Around moto's `Program.eval` of PROGRAM: its thread runs inline if it has no
    TimeoutSeconds."""
    if not speed.enabled() or program.timeout_seconds is not None:
        return contextlib.nullcontext()
    return speed.next_thread_inline()


class UntimedProgramInline(Program):
    def eval(self, env: Any) -> None:
        with inline_if_untimed(self):
            super().eval(env)
