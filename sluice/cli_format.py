"""What the CLI's command modules share: its consoles, options and output helpers, and the
formatting of failure causes (the demo uses that too)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from sluice.client import ENDPOINT_ENV, endpoint
from sluice.client import Gateway as GatewayClient

out = Console()
err = Console(stderr=True)

EndpointOpt = Annotated[
    str,
    typer.Option(
        "--endpoint",
        envvar=list(ENDPOINT_ENV),
        help="Gateway URL (SLUICE_ENDPOINT, else AWS_ENDPOINT_URL).",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
TraceOpt = Annotated[
    bool, typer.Option("--trace", help="Show Lambda errors' stack traces, not just the message.")
]


def print_table(table: Table) -> None:
    """A table, full width: on a terminal it fits the screen; piped or redirected, no cell is
    cut short (a script gets whole names and ARNs)."""
    if out.is_terminal:
        out.print(table)
        return
    caption, table.caption = table.caption, None  # a caption would wrap to the table's width
    wide = Console(width=100_000, no_color=out.no_color, highlight=False)
    wide.print(table, crop=False)
    if caption:
        wide.print(caption)


def print_json(value: Any) -> None:
    if out.is_terminal:
        out.print_json(data=value, default=_json_default)
    else:
        print(json.dumps(value, default=_json_default, indent=2))


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def gw(url: str | None = None) -> GatewayClient:
    return GatewayClient(url or endpoint())


def lambda_error(cause: Any) -> tuple[str, list[str]] | None:
    """(errorMessage, stack trace lines) of a Lambda function's error payload, as Step
    Functions and the pipes put it in a failure's cause; None for any other cause."""
    try:
        doc = json.loads(cause)
    except (TypeError, ValueError):
        return None
    if not isinstance(doc, dict) or "errorMessage" not in doc:
        return None
    trace = doc.get("stackTrace") or []
    items = trace if isinstance(trace, list) else [trace]
    lines = [line for item in items for line in str(item).rstrip("\n").splitlines()]
    return str(doc["errorMessage"]), lines


def cause_message(cause: Any, trace: bool = False) -> str:
    """A Lambda failure's cause is its JSON error payload; people want its message (and,
    with TRACE, the stack trace below it)."""
    error = lambda_error(cause)
    if error is None:
        return str(cause)
    message, stack = error
    return "\n".join([message, *stack]) if trace and stack else message
