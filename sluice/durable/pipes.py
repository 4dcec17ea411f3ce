"""Pipes' DesiredState, durable: a pipe stopped through the API (StopPipe, UpdatePipe) is
still stopped after a restart or a crash, and one started is still running, as a pipe on
AWS does not change state when its poller's host does. One row per pipe, written when its
state is set; the deploy of a restart creates each pipe as the template declares it, then
the saved state is set again (a pipe the template no longer has is dropped).
"""

from __future__ import annotations

import json
from typing import Any

from moto.pipes.models import EventBridgePipesBackend, pipes_backends

from sluice.durable.rows import Rows
from sluice.engine.observers import PIPE_STATE_SET
from sluice.template import ACCOUNT_ID, REGION

KIND = "pipes"


def _changed(_backend: EventBridgePipesBackend, pipe: Any, *_: Any, **__: Any) -> None:
    state = json.dumps({"desired_state": pipe.desired_state}).encode()
    ROWS.mark(pipe.name, lambda: state)


def _put(name: str, value: bytes) -> bool:
    """Set the saved DesiredState of the pipe NAME, through the Pipes API's own calls (the
    triggers observe them)."""
    backend = pipes_backends[ACCOUNT_ID][REGION]
    if name not in backend.pipes:
        return False
    if json.loads(value)["desired_state"] == "STOPPED":
        backend.stop_pipe(name)
    else:
        backend.start_pipe(name)
    return True


ROWS = Rows(
    KIND,
    dict.fromkeys(PIPE_STATE_SET, _changed),
    put=_put,
)
