"""What the end-to-end benches share: when each item was first seen on the far side."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def watch(
    look: Callable[[], Iterable[str]],
    seen: dict[str, float],
    until: threading.Event,
    interval: float,
    expected: int | None = None,
) -> None:
    """Polls LOOK every INTERVAL seconds on a daemon thread, recording in SEEN when each key
    it returns was first seen, until UNTIL is set (set here once EXPECTED keys are seen)."""

    def loop() -> None:
        while not until.is_set():
            keys = look()
            now = time.perf_counter()
            for key in keys:
                seen.setdefault(key, now)
            if expected is not None and len(seen) >= expected:
                until.set()
            time.sleep(interval)

    threading.Thread(target=loop, daemon=True).start()


def read_back(ddb: Any, table: str, keys: Mapping[str, dict[str, Any]], id_attr: str) -> list[str]:
    """The ids among KEYS (id -> item key) whose items TABLE holds, by BatchGetItem (100 a call);
    ID_ATTR is the item attribute holding the id."""
    ids = list(keys)
    found: list[str] = []
    for i in range(0, len(ids), 100):
        request = {
            "Keys": [keys[k] for k in ids[i : i + 100]],
            "ProjectionExpression": "#id",
            "ExpressionAttributeNames": {"#id": id_attr},
        }
        got = ddb.batch_get_item(RequestItems={table: request})["Responses"][table]
        found += [item[id_attr]["S"] for item in got]
    return found


def percentile(values: Iterable[float], q: float) -> float:
    """The Q quantile (0 to 1) of VALUES, nan when there are none."""
    ordered = sorted(values)
    return ordered[int(len(ordered) * q)] if ordered else float("nan")
