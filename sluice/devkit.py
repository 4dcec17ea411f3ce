"""How the app's flows plug their development kit into the runtime, which knows no flow.

A flow's devkit module (``devkit/<flow>.py`` in this project) builds one `Flow` and names
it under the ``sluice.flows`` entry point group of its distribution::

    # pyproject.toml
    [project.entry-points."sluice.flows"]
    transcript_persistence = "devkit.transcript_persistence:FLOW"

The entry point's name is the flow's name (its state machine's name without the stack
prefix). `sluice produce FLOW`, `sluice seed FLOW`, `sluice demo` and `sluice sql` find
flows here and nowhere else. The lake `sluice sql` reads is registered the same way, as a
`Lake` under ``sluice.lake``.

The helpers below (`http_status`, `failed_execution`, ...) are for devkit modules' demos.
"""

from __future__ import annotations

import importlib
import json
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa
    from pydantic import TypeAdapter
    from rich.console import Console

    from sluice.client import Gateway

FLOWS_GROUP = "sluice.flows"
LAKE_GROUP = "sluice.lake"


@dataclass(frozen=True)
class DemoResult:
    """One flow's row of the demo's summary table."""

    written: str
    dead_lettered: int = 0
    api: dict[str, int] = field(default_factory=dict)
    failed_run: str | None = None  # an execution ARN whose history the demo prints


@dataclass(frozen=True)
class DemoContext:
    gateway: Gateway
    console: Console
    data_dir: Path  # the stack's data directory (the lake is its lake/ folder)


@dataclass(frozen=True)
class Flow:
    """What the runtime may do with one flow besides running its template.

    produce(gateway, count): write COUNT items of realistic source data through the flow's
        real trigger (S3 objects, table items, events, an API call); returns one line
        saying what was written.
    demo(context): the flow's part of `sluice demo`, printing its story; flows run in
        `demo_order` (then name) order, so one may rely on an earlier one's data.
    seed(data_dir, rows, seed): load ROWS deterministic rows into the lake under DATA_DIR;
        returns one line saying what was loaded.
    lake_tables(): the flow's lake tables (``namespace.table`` -> Arrow schema), which
        `sluice sql` shows empty until the flow's first write creates them.
    execution_input: ``"module:attribute"`` of a pydantic model or TypeAdapter that the
        console validates a hand-started execution's input against; loaded on first use.
    """

    name: str
    produce: Callable[[Gateway, int], str]
    demo: Callable[[DemoContext], DemoResult] | None = None
    demo_order: int = 100
    seed: Callable[[Path, int, int], str] | None = None
    lake_tables: Callable[[], Mapping[str, pa.Schema]] | None = None
    execution_input: str | None = None

    def input_schema(self) -> TypeAdapter[Any] | None:
        """The execution input's schema, or None when the flow registers none."""
        if self.execution_input is None:
            return None
        from pydantic import TypeAdapter

        module, _, attribute = self.execution_input.partition(":")
        found = getattr(importlib.import_module(module), attribute)
        return found if isinstance(found, TypeAdapter) else TypeAdapter(found)


@dataclass(frozen=True)
class Lake:
    """The lake under a stack's data directory, for `sluice sql`.

    connect(warehouse): a DuckDB connection with every existing table as a view named like
        ``silver.violations``, or None when there is no lake at WAREHOUSE yet.
    """

    connect: Callable[[Path], duckdb.DuckDBPyConnection | None]


class DevkitError(Exception):
    """A flow's devkit could not do what was asked; the CLI prints the message (exit 1)."""


class RegistrationError(Exception):
    """An entry point that does not name a `Flow` (or a `Lake`)."""


def flow_names() -> list[str]:
    """Registered flows by name, without importing them (for help texts)."""
    return sorted({ep.name for ep in entry_points(group=FLOWS_GROUP)})


def _load[T](ep: EntryPoint, kind: type[T]) -> T:
    found = ep.load()
    if not isinstance(found, kind):
        raise RegistrationError(
            f"entry point {ep.group}:{ep.name} = {ep.value} is a {type(found).__name__}, "
            f"not a sluice.devkit.{kind.__name__}"
        )
    return found


def flows() -> list[Flow]:
    """Every registered flow, in demo order."""
    found = [_load(ep, Flow) for ep in entry_points(group=FLOWS_GROUP)]
    return sorted(found, key=lambda f: (f.demo_order, f.name))


def flow(name: str) -> Flow | None:
    for ep in entry_points(group=FLOWS_GROUP, name=name):
        return _load(ep, Flow)
    return None


def lake() -> Lake | None:
    for ep in entry_points(group=LAKE_GROUP):
        return _load(ep, Lake)
    return None


# -- helpers for demos -----------------------------------------------------------------------


def http_json(url: str) -> Any:
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return json.loads(exc.read() or b"{}")


def http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def failed_execution(g: Gateway, flow: str) -> str | None:
    """The newest execution of FLOW that failed or reported a failed item."""
    sfn = g.client("stepfunctions")
    for e in sorted(
        sfn.list_executions(stateMachineArn=g.flow_arn(flow))["executions"],
        key=lambda e: e["startDate"],
        reverse=True,
    ):
        desc = sfn.describe_execution(executionArn=e["executionArn"])
        if desc["status"] == "FAILED" or json.loads(desc.get("output") or "{}").get(
            "batchItemFailures"
        ):
            return str(e["executionArn"])
    return None
