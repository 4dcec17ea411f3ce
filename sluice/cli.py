"""`sluice`: run the stack locally and work with its flows, executions and queues."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from sluice import cli_lake, devkit
from sluice.cli_dlq import dlq_app
from sluice.cli_faults import fault_app
from sluice.cli_format import (
    EndpointOpt,
    JsonOpt,
    TraceOpt,
    err,
    gw,
    out,
    print_json,
    print_table,
)
from sluice.cli_format import cause_message as _message
from sluice.cli_pipes import pipes_app
from sluice.client import SluiceError, UsageError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Run Sluice's Step Functions flows locally: one gateway, the real template.",
    pretty_exceptions_enable=False,
)
app.add_typer(dlq_app, name="dlq")
app.add_typer(fault_app, name="fault")
app.add_typer(pipes_app, name="pipes")
produce_app = typer.Typer(
    no_args_is_help=True,
    help="Write a flow's realistic source data through its real trigger (S3, a table, a bus, "
    "an API), so the running stack starts it. One command per registered flow.",
)
app.add_typer(produce_app, name="produce")

TemplateOpt = Annotated[Path, typer.Option(help="SAM template to deploy.")]


@app.command()
def up(
    template: TemplateOpt = Path("infra/template.yaml"),
    host: str = "127.0.0.1",
    port: int = 4566,
    data_dir: Annotated[Path, typer.Option(help="Logs, lake and indexes live here.")] = Path(
        ".sluice"
    ),
    config_env: Annotated[str, typer.Option(help="samconfig.toml environment.")] = "local",
    parameter_overrides: Annotated[
        list[str] | None,
        typer.Option("--parameter-overrides", help="KEY=VALUE, over samconfig's (repeatable)."),
    ] = None,
    time_scale: Annotated[
        str | None,
        typer.Option(
            envvar="SLUICE_TIME_SCALE",
            metavar="SCALE",
            help="Wait/Retry sleeps take SCALE x their time (0 = no sleeping; default 1).",
        ),
    ] = None,
    built: Annotated[
        bool,
        typer.Option(
            "--built",
            help="Run the functions from `make package`'s output (.aws-sam/build), each "
            "seeing only its own package and the Lambda runtime's libraries.",
        ),
    ] = False,
    fresh: Annotated[
        bool,
        typer.Option(
            "--fresh", help="Start from nothing: forget the state saved in the data directory."
        ),
    ] = False,
) -> None:
    """Start the gateway on HOST:PORT, deploy the template, serve until Ctrl-C.

    What an earlier run saved in the data directory (tables, queues, executions) comes back.
    """
    from sluice.engine import virtual_time
    from sluice.stack import BUILT_TEMPLATE, DEFAULT_TEMPLATE, BuildMissingError, LocalStack

    if time_scale is not None:
        try:
            virtual_time.set_scale(time_scale)
        except virtual_time.TimeScaleError as exc:
            raise UsageError(f"--time-scale / {virtual_time.ENV_VAR}: {exc}") from None

    overrides = {}
    for item in parameter_overrides or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise UsageError(f"--parameter-overrides takes KEY=VALUE, got {item!r}")
        overrides[key] = value
    if built and template == DEFAULT_TEMPLATE:
        template = BUILT_TEMPLATE
    try:
        stack = LocalStack(
            template,
            host=host,
            port=port,
            data_dir=data_dir,
            config_env=config_env,
            overrides=overrides,
            built=built,
            fresh=fresh,
        )
    except BuildMissingError as exc:
        raise SluiceError(str(exc)) from None
    catalogue = stack.start()
    print_stack(catalogue)
    if "durable" in catalogue:
        counts = catalogue["durable"]["restored"].items()
        restored = ", ".join(f"{n} {what}" for what, n in counts if n) or "nothing, a fresh stack"
        out.print(
            f"State kept in {catalogue['durable']['path']} (restored: {restored})",
            soft_wrap=True,
            highlight=False,
            markup=False,
        )
    out.print(
        f"[bold green]Sluice is up[/] at {stack.endpoint}  (console: {stack.endpoint}/console)"
    )
    stack.serve_until_stopped()


def print_stack(catalogue: dict[str, Any]) -> None:
    table = Table(title=f"stack {catalogue.get('stack_name')}")
    for col in ("logical id", "type", "name"):
        table.add_column(col)
    for lid, res in sorted(catalogue["resources"].items(), key=lambda kv: kv[1]["type"]):
        table.add_row(lid, res["type"].split("::")[-1], res["name"])
    print_table(table)


@app.command()
def reset(data_dir: cli_lake.DataDirOpt = Path(".sluice")) -> None:
    """Forget the state saved in DATA_DIR (stop the stack first): `sluice up` starts afresh.

    Tables, queues, objects and executions go; logs, the lake and the search index stay.
    """
    from sluice.durable.store import clear

    if not data_dir.is_dir():
        raise UsageError(f"no data directory at {data_dir}")
    removed = clear(data_dir)
    if removed:
        message = f"Cleared the saved stack state in {data_dir}: the next `sluice up` starts fresh."
    else:
        message = f"No saved stack state in {data_dir}: nothing to clear."
    out.print(message, soft_wrap=True, highlight=False, markup=False)


@app.command()
def deploy(url: EndpointOpt = "") -> None:
    """Redeploy the template into a running gateway (picks up edited ASL and handlers)."""
    catalogue = gw(url).post("/_sluice/deploy")
    print_stack(catalogue)


def parse_input(text: str) -> str:
    if text.startswith("@"):
        path = Path(text[1:])
        try:
            text = path.read_text()
        except OSError as exc:
            raise UsageError(f"cannot read input file {path}: {exc.strerror}") from None
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"input is not valid JSON: {exc}") from None
    return text


@app.command("exec")
def exec_(
    flow: str,
    input: Annotated[str, typer.Option("--input", "-i", help="JSON, or @file.json")] = "{}",
    name: Annotated[str | None, typer.Option(help="Execution name.")] = None,
    wait: Annotated[bool, typer.Option(help="Wait for the end and print the outcome.")] = False,
    json_: JsonOpt = False,
    trace: TraceOpt = False,
    url: EndpointOpt = "",
) -> None:
    """Start an execution of FLOW."""
    payload = parse_input(input)
    g = gw(url)
    arn = g.flow_arn(flow)
    sfn = g.client("stepfunctions")
    kwargs: dict[str, Any] = {"stateMachineArn": arn, "input": payload}
    if name:
        kwargs["name"] = name
    execution = sfn.start_execution(**kwargs)["executionArn"]
    if not wait:
        if json_:
            print_json({"executionArn": execution})
        else:
            out.print(f"started {execution}")
        return
    if not json_:
        out.print(f"started {execution}")
    _print_outcome(g.wait_execution(execution), json_=json_, trace=trace)


@app.command()
def executions(
    flow: Annotated[str | None, typer.Argument()] = None,
    status: Annotated[str | None, typer.Option(help="RUNNING, SUCCEEDED, FAILED, ...")] = None,
    limit: int = 50,
    json_: JsonOpt = False,
    url: EndpointOpt = "",
) -> None:
    """List executions, newest first."""
    g = gw(url)
    flows = g.flows()
    if flow is not None and flow not in flows:
        g.flow_arn(flow)  # raises the "unknown flow" error
    sfn = g.client("stepfunctions")
    rows = []
    for fname, res in flows.items():
        if flow and fname != flow:
            continue
        kwargs: dict[str, Any] = {"stateMachineArn": res["arn"]}
        if status:
            kwargs["statusFilter"] = status.upper()
        for page in sfn.get_paginator("list_executions").paginate(**kwargs):
            rows += [(fname, e) for e in page["executions"]]
    rows.sort(key=lambda r: r[1]["startDate"], reverse=True)
    if json_:
        print_json(
            [
                {
                    "flow": fname,
                    "name": e["name"],
                    "executionArn": e["executionArn"],
                    "status": e["status"],
                    "startDate": e["startDate"],
                    "stopDate": e.get("stopDate"),
                }
                for fname, e in rows[:limit]
            ]
        )
        return
    table = Table()
    for col in ("flow", "name", "status", "started", "duration"):
        table.add_column(col)
    for fname, e in rows[:limit]:
        stop = e.get("stopDate")
        duration = f"{(stop - e['startDate']).total_seconds():.2f}s" if stop else "-"
        colour = {"SUCCEEDED": "green", "FAILED": "red", "RUNNING": "yellow"}.get(e["status"], "")
        table.add_row(
            fname,
            e["name"],
            f"[{colour}]{e['status']}[/]",
            e["startDate"].strftime("%H:%M:%S"),
            duration,
        )
    print_table(table)


@app.command()
def history(execution: str, trace: TraceOpt = False, url: EndpointOpt = "") -> None:
    """Show an execution step by step: attempts, retries, the failed step with its input."""
    from sluice.history import summarize
    from sluice.render_history import render

    g = gw(url)
    arn = g.resolve_execution(execution)
    sfn = g.client("stepfunctions")
    try:
        events = []
        for page in sfn.get_paginator("get_execution_history").paginate(executionArn=arn):
            events += page["events"]
        definition = sfn.describe_state_machine_for_execution(executionArn=arn)["definition"]
    except sfn.exceptions.ExecutionDoesNotExist:
        raise SluiceError(f"no execution {arn}") from None
    render(summarize(events, definition), out, trace=trace)


@app.command()
def redrive(
    execution: str,
    wait: Annotated[bool, typer.Option(help="Wait for the end and print the outcome.")] = False,
    json_: JsonOpt = False,
    trace: TraceOpt = False,
    url: EndpointOpt = "",
) -> None:
    """Redrive a failed, aborted or timed-out Standard execution from the state that failed.

    As on AWS it resumes at the top-level state that did not finish: a run whose Catch led
    to a Fail state resumes there and fails again. For those, send the input again: a flow
    that dead-letters its failed events has them in its DLQ, and `sluice dlq redrive QUEUE`
    starts the flow with each."""
    g = gw(url)
    arn = g.resolve_execution(execution)
    sfn = g.client("stepfunctions")
    try:
        sfn.redrive_execution(executionArn=arn)
    except sfn.exceptions.ExecutionDoesNotExist:
        raise SluiceError(f"no execution {arn}") from None
    except sfn.exceptions.ExecutionNotRedrivable as exc:
        raise SluiceError(f"{arn} cannot be redriven: {exc.response['Error']['Message']}") from None
    desc = sfn.describe_execution(executionArn=arn)
    if wait:
        if not json_:
            out.print(f"redriven {arn} (redrive {desc.get('redriveCount', 1)}): {desc['status']}")
        _print_outcome(g.wait_execution(arn), json_=json_, trace=trace)
    elif json_:
        print_json(_outcome(desc, trace))
    else:
        out.print(f"redriven {arn} (redrive {desc.get('redriveCount', 1)}): {desc['status']}")


def _outcome(desc: dict[str, Any], trace: bool) -> dict[str, Any]:
    output = desc.get("output")
    return {
        "executionArn": desc["executionArn"],
        "name": desc.get("name"),
        "status": desc["status"],
        "startDate": desc.get("startDate"),
        "stopDate": desc.get("stopDate"),
        "redriveCount": desc.get("redriveCount", 0),
        "output": json.loads(output) if output else None,
        "error": desc.get("error"),
        "cause": _message(desc["cause"], trace) if desc.get("cause") else None,
    }


def _print_outcome(desc: dict[str, Any], *, json_: bool = False, trace: bool = False) -> None:
    """A finished execution's status, output or error and cause; exit 1 unless it succeeded."""
    if json_:
        print_json(_outcome(desc, trace))
    else:
        colour = "green" if desc["status"] == "SUCCEEDED" else "red"
        out.print(f"[{colour}]{desc['status']}[/]")
        if desc.get("output"):
            out.print_json(desc["output"])
        if desc.get("error") or desc.get("cause"):
            out.print(
                f"error: {desc.get('error')}\ncause: {_message(desc.get('cause'), trace)}",
                highlight=False,
                markup=False,
            )
    if desc["status"] != "SUCCEEDED":
        raise typer.Exit(1)


@app.command()
def render(
    execution: str,
    output: Annotated[Path, typer.Option("--output", "-o")] = Path("execution.svg"),
    url: EndpointOpt = "",
) -> None:
    """Write an execution's graph, each state coloured by what happened, as SVG."""
    from sluice.console import render_execution_svg

    g = gw(url)
    output.write_text(render_execution_svg(g.url, g.resolve_execution(execution)))
    out.print(f"wrote {output}")


app.command()(cli_lake.sql)
app.command()(cli_lake.seed)


def _produce_command(name: str) -> None:
    def produce(
        count: Annotated[int, typer.Option("--count", "-n", min=1, help="How many.")] = 10,
        url: EndpointOpt = "",
    ) -> None:
        flow = devkit.flow(name)
        assert flow is not None  # registered: its name is an entry point
        g = gw(url)
        g.flow_arn(name)  # the running stack must deploy the flow ("unknown flow" otherwise)
        try:
            summary = flow.produce(g, count)
        except devkit.DevkitError as exc:
            raise SluiceError(f"{name}: {exc}") from None
        out.print(summary, highlight=False, soft_wrap=True)

    produce_app.command(
        name, help=f"Write COUNT items of {name}'s source data through its trigger."
    )(produce)


for _name in devkit.flow_names():
    _produce_command(_name)


@app.command()
def demo(
    port: int = 4566,
    serve: Annotated[bool, typer.Option(help="Keep the stack up afterwards.")] = False,
) -> None:
    """Start a fresh stack, run every flow through its real trigger, print what happened."""
    from sluice.demo import run_demo

    run_demo(port=port, serve=serve, console=out)


def main() -> None:
    """Exit 0 on success, 1 when the stack, a flow or the lake failed, 2 for a command line
    the CLI cannot act on (click's own usage errors exit 2 too)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        app()
    except (SluiceError, ClientError, BotoCoreError) as exc:
        err.print("[red]error:[/] ", end="")
        err.print(str(exc), highlight=False, soft_wrap=True, markup=False)
        sys.exit(2 if isinstance(exc, UsageError) else 1)


if __name__ == "__main__":
    main()
