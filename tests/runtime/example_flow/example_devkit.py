"""The example flow's devkit: greetings put on its bus, one lake table it declares."""

from __future__ import annotations

import json

import pyarrow as pa

from sluice.client import Gateway
from sluice.devkit import Flow


def produce(g: Gateway, count: int) -> str:
    bus = g.stack()["resources"]["GreetingBus"]["name"]
    entries = [
        {
            "Source": "example.greetings",
            "DetailType": "greeting.sent",
            "Detail": json.dumps({"name": f"guest {n + 1}"}),
            "EventBusName": bus,
        }
        for n in range(count)
    ]
    for start in range(0, count, 10):
        g.client("events").put_events(Entries=entries[start : start + 10])
    return f"put {count} greeting(s) on {bus}"


def lake_tables() -> dict[str, pa.Schema]:
    return {"example.greetings": pa.schema([("name", pa.string()), ("greeting", pa.string())])}


FLOW = Flow(name="greetings", produce=produce, lake_tables=lake_tables)
