"""A state's input and output written into the history once, not once per event.

moto copies a state's whole input and serialises it for its StateEntered event, again for
the 256 KB quota check of its output, and again for its StateExited event; the next state
serialises that same output once more as its StateEntered input. With an input of some
kilobytes (an embedding) those copies and `json.dumps` are most of an execution's CPU.

Here the compact JSON of a state's current input is made once per input value (kept on the
execution frame's States, beside the value it was made from) and both events carry it, so
the history holds exactly the text moto wrote. The quota check of a state's output (its
next input) measures that same text, the check of a task's result its own compact text;
either falls back to moto's own check near the limit: moto measures the JSON
with `", "` and `": "` separators, which add one byte per separator, and a JSON text has
fewer separators than characters, so a compact text under half the quota is within it.
Like the other speed-ups, off with `SLUICE_ENGINE_SPEED=0` (sluice/engine/speed.py).
"""

from __future__ import annotations

from typing import Any

from moto.stepfunctions.parser.api import (
    HistoryEventExecutionDataDetails,
    StateEnteredEventDetails,
    StateExitedEventDetails,
)
from moto.stepfunctions.parser.asl.component.state.state import CommonStateField
from moto.stepfunctions.parser.asl.utils.encoding import to_json_str
from moto.stepfunctions.parser.quotas import MAX_STATE_SIZE_UTF8_BYTES

from sluice.engine import speed

_COMPACT = (",", ":")


def input_text(states: Any) -> str:
    """The compact JSON of STATES' current input (moto replaces the value on every reset,
    never changes it in place, so the text holds as long as the value is the same object)."""
    current = states._states_data["input"]
    made = states.__dict__.get("_input_text")
    if made is not None and made[0] is current:
        return str(made[1])
    text = to_json_str(current, separators=_COMPACT)
    states._input_text = (current, text)  # the value kept too: its id is not reused
    return text


class InputSerialisedOnce(CommonStateField):
    def _get_state_entered_event_details(self, env: Any) -> StateEnteredEventDetails:
        env.states.__dict__.pop("_quota_of_input", None)  # a state's output that raised
        if not speed.enabled():
            return super()._get_state_entered_event_details(env)
        return StateEnteredEventDetails(
            name=self.name,
            input=input_text(env.states),
            inputDetails=HistoryEventExecutionDataDetails(truncated=False),
        )

    def _get_state_exited_event_details(self, env: Any) -> StateExitedEventDetails:
        if not speed.enabled():
            return super()._get_state_exited_event_details(env)
        details = StateExitedEventDetails(
            name=self.name,
            output=input_text(env.states),
            outputDetails=HistoryEventExecutionDataDetails(truncated=False),
        )
        # As moto's: the variables the state assigned, and their tracing reset.
        assigned = env.variable_store.get_assigned_variables()
        env.variable_store.reset_tracing()
        if assigned:
            extra: Any = details
            extra["assignedVariables"] = assigned
            extra["assignedVariablesDetails"] = {"truncated": False}
        return details

    def _eval_state_output(self, env: Any) -> None:
        super()._eval_state_output(env)
        # The next step of moto's state checks the quota of a copy of the current input.
        env.states._quota_of_input = True

    def _verify_size_quota(self, env: Any, value: Any) -> None:
        of_input = env.states.__dict__.pop("_quota_of_input", False)
        if speed.enabled() and not isinstance(value, str):
            text = input_text(env.states) if of_input else to_json_str(value, separators=_COMPACT)
            if 2 * len(text.encode()) < MAX_STATE_SIZE_UTF8_BYTES:
                return
        super()._verify_size_quota(env, value)
