"""`sluice pipes`: the stack's pipes and event source mappings, what each delivered, and
stopping or starting a pipe (StopPipe, StartPipe) to let work pile up behind it."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
from botocore.exceptions import ClientError
from rich.table import Table

from sluice.cli_format import EndpointOpt, JsonOpt, gw, out, print_json, print_table
from sluice.client import Gateway, SluiceError

pipes_app = typer.Typer(help="Pipes: what each delivered; stop one to let work pile up.")
NameArg = Annotated[str, typer.Argument(help="Pipe name (`sluice pipes list` shows them).")]
WAIT_S = 60.0  # for a stopped pipe's batch in flight to end


@pipes_app.command("list")
def pipes_list(json_: JsonOpt = False, url: EndpointOpt = "") -> None:
    """Each pipe and event source mapping: state, source, target and what it delivered."""
    pipes = gw(url).get("/_sluice/pipes")
    if json_:
        print_json(pipes)
        return
    table = Table(title="pipes and event source mappings")
    for col in ("name", "state", "source", "target", "batches", "records", "failed", "to DLQ"):
        table.add_column(col)
    for p in pipes:
        table.add_row(
            p["name"],
            _state(p["state"]),
            _short(p["source"]),
            _short(p["target"]),
            str(p.get("batches_delivered", 0)),
            str(p.get("records_delivered", 0)),
            str(p.get("failures", 0)),
            str(p.get("records_sent_to_dlq", 0)),
        )
    print_table(table)


@pipes_app.command("stop")
def pipes_stop(name: NameArg, url: EndpointOpt = "") -> None:
    """StopPipe NAME, then wait until it has ended the batch it was delivering: what its
    source receives from then on waits there (a stream pipe keeps its position)."""
    g = gw(url)
    _call(g, "stop_pipe", name)
    _wait(g, name, "STOPPED")
    out.print(f"{name} stopped")


@pipes_app.command("start")
def pipes_start(name: NameArg, url: EndpointOpt = "") -> None:
    """StartPipe NAME: it delivers what piled up while it was stopped, then carries on."""
    g = gw(url)
    _call(g, "start_pipe", name)
    _wait(g, name, "RUNNING")
    out.print(f"{name} running")


def _call(g: Gateway, operation: str, name: str) -> None:
    try:
        getattr(g.client("pipes"), operation)(Name=name)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "NotFoundException":
            raise
        known = [p["name"] for p in g.get("/_sluice/pipes") if p["kind"] == "pipe"]
        raise SluiceError(f"no pipe {name!r}; the stack's pipes: {', '.join(known)}") from exc


def _wait(g: Gateway, name: str, state: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while _pipe(g, name)["state"] != state:
        if time.monotonic() > deadline:
            raise SluiceError(f"{name} is not {state} after {WAIT_S:.0f} s")
        time.sleep(0.05)


def _pipe(g: Gateway, name: str) -> dict[str, Any]:
    pipe: dict[str, Any] = next(p for p in g.get("/_sluice/pipes") if p["name"] == name)
    return pipe


def _state(state: str) -> str:
    return {"RUNNING": "[green]RUNNING[/]", "STOPPED": "[yellow]STOPPED[/]"}.get(state, state)


def _short(arn: str) -> str:
    """A queue's, table's, machine's or function's name, from its ARN."""
    if "/stream/" in arn:
        return "stream of " + arn.split(":table/", 1)[1].split("/stream/", 1)[0]
    return arn.rsplit(":", 1)[-1].rsplit("/", 1)[-1]
