"""EventBridge events accepted but not yet delivered to their state-machine targets.

PutEvents answers once the events are saved here (one commit per request); an event is
forgotten when every target delivery of it has ended (delivered, sent to its dead-letter
queue, or dropped). A restarted stack delivers the events still saved again, to the rules
it has then: an event whose delivery had started but not been recorded as ended when the
stack died is delivered twice (at least once, as EventBridge).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sluice.durable.store import Store

KIND = "events"


class PendingEvents:
    def __init__(self, store: Store, before_done: Callable[[], None] = lambda: None) -> None:
        self._store = store
        self._before_done = before_done

    def add(self, events: list[tuple[dict[str, Any], str]]) -> None:
        """Save (event envelope, bus name) pairs before they are delivered."""
        self._store.write(
            (KIND, str(event["id"]), json.dumps([event, bus]).encode()) for event, bus in events
        )

    def done(self, event_id: str) -> None:
        self._before_done()
        self._store.write([(KIND, event_id, None)])

    def saved(self) -> list[tuple[dict[str, Any], str]]:
        """The events still to deliver, oldest first."""
        loaded = [json.loads(value) for _, value in self._store.load(KIND)]
        pairs = [(event, str(bus)) for event, bus in loaded]
        return sorted(pairs, key=lambda pair: str(pair[0].get("time", "")))
