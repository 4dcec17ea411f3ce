"""Step Functions executions, durable: one row per execution and one per history event.

The execution's row (machine, definition, input, status, output or error, dates) is
marked when it starts and when its program ends (success, failure, timeout, stop; a
redriven run ends again). History events are appended in rows of their own: the events an
execution adds between two flushes are one row (its id and the first event's), so writing
an execution's progress costs one row of its new events, however long its history; both
are written before the answer of the request that made them, or by the journal's
background flush within 50 ms when the execution runs on its own.

On restore each execution comes back as it was saved, history included, under the
definition it ran with. One that was RUNNING when the stack died cannot continue (its
thread and in-memory state are gone): it is marked FAILED with a `States.Runtime` error
whose cause names the crash, an `ExecutionFailed` event ends its history, and it can be
redriven, which continues from the top-level state that had not finished, as a redrive
of any failed execution does. Variables assigned before the crash are not saved.
"""

from __future__ import annotations

import json
import pickle
from collections import defaultdict
from typing import Any

from moto.stepfunctions.parser.backend.execution import Execution

from sluice.durable.rows import Rows
from sluice.durable.store import Store
from sluice.engine import observers, restored

KIND = "executions"
EVENTS = "execution-events"
CRASH_ERROR = "States.Runtime"
CRASH_CAUSE = (
    "The execution was running when its stack stopped without finishing it (sluice up "
    "was killed or crashed); it was marked failed when the stack restarted. Redrive it to "
    "continue from the state that had not finished."
)


def _snapshot(execution: Execution) -> bytes:
    status = execution.exec_status
    return pickle.dumps(
        {
            "account_id": execution.account_id,
            "region": execution.region_name,
            "machine_arn": execution.state_machine.arn,
            "definition": execution.state_machine.definition,
            "name": execution.name,
            "arn": execution.exec_arn,
            "role_arn": execution.role_arn,
            "start_date": execution.start_date,
            "input": execution.execution_input,
            "trace_header": execution.trace_header,
            "status": status.value if status is not None else "RUNNING",
            "stop_date": execution.stop_date,
            "output": execution.output,
            "error": execution.error,
            "cause": execution.cause,
        }
    )


def _changed(execution: Execution, _: Any) -> None:
    """After an execution started or its program ended."""
    ROWS.mark(execution.exec_arn, lambda: _snapshot(execution))


def _events_key(arn: str, first: dict[str, Any]) -> str:
    return json.dumps([arn, int(first["id"])])


def _events_row(arn: str, events: list[dict[str, Any]]) -> tuple[str, bytes]:
    """The row of the events an execution added between two flushes."""
    return _events_key(arn, events[0]), pickle.dumps(events)


def _event_added(execution: Execution, event: dict[str, Any]) -> None:
    HISTORY.append(execution.exec_arn, event)


def restore(store: Store) -> int:
    """Bring back every saved execution of a machine the template still has, oldest first;
    the ones that were running are marked failed (and saved so)."""
    histories: dict[str, list[dict[str, Any]]] = defaultdict(list)
    rows: dict[str, list[str]] = defaultdict(list)  # execution ARN -> its events' row keys
    for key, value in store.load(EVENTS):
        arn = json.loads(key)[0]
        histories[arn] += pickle.loads(value)
        rows[arn].append(key)
    saved = sorted(
        (pickle.loads(value) for _, value in store.load(KIND)), key=lambda s: s["start_date"]
    )
    count, changes = 0, list[tuple[str, str, bytes | None]]()
    for entry in saved:
        events = sorted(histories.pop(entry["arn"], []), key=lambda e: int(e["id"]))
        execution = restored.rebuild(entry, events)
        if execution is None:
            changes.append((KIND, entry["arn"], None))
            changes += [(EVENTS, key, None) for key in rows[entry["arn"]]]
            continue
        if entry["status"] == "RUNNING":
            failed = restored.fail(execution, CRASH_ERROR, CRASH_CAUSE)
            changes += [
                (KIND, entry["arn"], _snapshot(execution)),
                (EVENTS, *_events_row(entry["arn"], [failed])),
            ]
        count += 1
    store.write(changes)
    return count


ROWS = Rows(KIND, {observers.EXECUTION_STARTED: _changed, observers.EXECUTION_ENDED: _changed})
HISTORY = Rows(EVENTS, {observers.HISTORY_EVENT_ADDED: _event_added}, appended=_events_row)
