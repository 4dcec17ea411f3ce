"""`sluice dlq`: dead-lettered messages, why they failed, and sending them back."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from sluice.cli_format import EndpointOpt, JsonOpt, TraceOpt, gw, out, print_json, print_table
from sluice.cli_format import cause_message as _message

dlq_app = typer.Typer(help="Dead-letter queues: see why messages failed, send them back.")


@dlq_app.command("list")
def dlq_list(
    queue: Annotated[str | None, typer.Argument(help="DLQ name; all DLQs when omitted.")] = None,
    json_: JsonOpt = False,
    trace: TraceOpt = False,
    url: EndpointOpt = "",
) -> None:
    """Dead-lettered messages with the reason they failed."""
    g = gw(url)
    if queue is None:
        queues = g.get("/_sluice/dlq")
        if json_:
            print_json(queues)
            return
        table = Table(title="dead-letter queues")
        for col in ("queue", "fed by", "source", "messages"):
            table.add_column(col)
        for q in queues:
            table.add_row(q["name"], q["fed_by"], q["source"].rsplit("/", 1)[-1], str(q["depth"]))
        print_table(table)
        return
    messages = g.get(f"/_sluice/dlq/{queue}")
    if json_:
        for m in messages:
            reason = m.get("reason") or {}
            if reason.get("cause"):
                reason["message"] = _message(reason["cause"], trace)
        print_json(messages)
        return
    if not messages:
        out.print(f"{queue} is empty")
    for m in messages:
        reason = m.get("reason") or {}
        out.print(f"[bold]{m['messageId']}[/]  received {m['receiveCount']}x")
        out.print(
            f"  {reason.get('error') or 'reason unknown'}: {_message(reason.get('cause'), trace)}",
            markup=False,
            style="red",
        )
        if reason.get("execution"):
            out.print(f"  execution: {reason['execution']}")
        body = json.dumps(m["body"])
        if out.is_terminal and len(body) > 300:
            body = body[:300] + "…"
        out.print(f"  body: {body}", highlight=False, soft_wrap=True, markup=False)


@dlq_app.command("redrive")
def dlq_redrive(queue: str, url: EndpointOpt = "") -> None:
    """Send every message of QUEUE back to where it came from."""
    result = gw(url).post(f"/_sluice/dlq/{queue}/redrive")
    out.print(f"redriven {result['redriven']} message(s) from {queue}")
    for failure in result["failed"]:
        out.print(f"[red]not redriven[/] {failure['messageId']}: {failure['error']}")
    if result["failed"]:
        raise typer.Exit(1)
