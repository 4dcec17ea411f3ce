"""The stack's durable state: what `sluice up` keeps in its data directory across a stop
or a crash, and puts back on the next start.

`DurableState` opens the store (`store.py`), puts the saved state back into moto's
backends once the template's resources exist (`restore`), then journals every change
(`journal.py`) as the engine's observers report it (sluice/engine/observers.py), one
module per service, each a `rows.Rows` of the store. See
docs/RUNTIME.md ("Durable state") for what is written when and what a crash can lose.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sluice.bedrock_emulator import BedrockEmulator
from sluice.durable import bedrock, dynamodb, executions, pipes, rules, s3, sqs, streams
from sluice.durable.events import PendingEvents
from sluice.durable.journal import Journal
from sluice.durable.store import FILE_NAME, Store, clear

# `make bench` measures the engine with persistence on and off: SLUICE_DURABLE=0 keeps the
# state in memory only, as moto does.
SWITCH = "SLUICE_DURABLE"
# What each service puts back on restore, in this order (stream records after the items).
RESTORES = {
    "dynamodb": dynamodb.ROWS.restore,
    "streams": streams.ROWS.restore,
    "sqs": sqs.ROWS.restore,
    "s3": s3.ROWS.restore,
    "executions": executions.restore,
    "pipes": pipes.ROWS.restore,
    "rules": rules.ROWS.restore,
}

# Every kind of row journalled as it changes.
ROWS = (
    dynamodb.ROWS,
    streams.ROWS,
    sqs.ROWS,
    s3.ROWS,
    executions.ROWS,
    executions.HISTORY,
    bedrock.ROWS,
    pipes.ROWS,
    rules.ROWS,
)


# Operations that change nothing: their answer waits for no commit.
_READS = ("Describe", "List", "Get", "Query", "Scan", "BatchGet")
_NOT_READS = ("GetActivityTask",)  # takes a task


def reads_only(environ: dict[str, Any]) -> bool:
    """Whether a request to moto only reads (by its X-Amz-Target, or a REST GET/HEAD)."""
    target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
    if target:
        operation = target.rpartition(".")[2]
        return operation.startswith(_READS) and operation not in _NOT_READS
    query = str(environ.get("QUERY_STRING", ""))
    return environ.get("REQUEST_METHOD") in ("GET", "HEAD") and "Action=" not in query


def enabled() -> bool:
    return os.environ.get(SWITCH, "1") != "0"


class DurableState:
    def __init__(self, data_dir: Path, *, fresh: bool = False) -> None:
        if fresh:
            clear(data_dir)
        self.path = data_dir / FILE_NAME
        self.store = Store(self.path)
        self.journal = Journal(self.store)
        # Both write after the journal's marks: a stream batch's position or an event's
        # end is never on disk before the writes its execution made.
        self.positions = streams.Positions(self.store, self.journal.flush)
        self.pending = PendingEvents(self.store, self.journal)
        self.restored_events = 0  # set by the stack once its rules can deliver them
        self.restored: dict[str, int] | None = None

    def restore(self, emulator: BedrockEmulator) -> dict[str, int]:
        """Put the saved state back (once; the resources must exist), then start
        journalling. Answers how many entities of each service came back."""
        if self.restored is None:
            self.restored = {name: restore(self.store) for name, restore in RESTORES.items()}
            self.restored["bedrock-jobs"] = bedrock.restore(self.store, emulator)
            self.positions.resumed = self.restored["streams"] > 0
            for rows in ROWS:
                rows.attach(self.journal)
            emulator.on_change = bedrock.changed
            self.journal.start()
        return self.restored

    def flush(self) -> None:
        if self.restored is not None:
            self.journal.flush()

    def describe(self) -> dict[str, Any]:
        restored = {**(self.restored or {}), "events": self.restored_events}
        return {"path": str(self.path), "restored": restored}

    def stop(self) -> None:
        self.journal.stop()
        for rows in ROWS:
            if rows.journal is self.journal:
                rows.attach(None)
        self.store.close()
