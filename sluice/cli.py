"""`sluice`: run the stack locally and work with its flows, executions and queues."""

from __future__ import annotations

import json
import signal
import sys
import threading
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from sluice import devkit
from sluice.cli_format import cause_message as _message
from sluice.client import (
    ENDPOINT_ENV,
    STACK_FILE,
    SluiceError,
    UsageError,
    catalogue_flows,
    endpoint,
)
from sluice.client import Gateway as GatewayClient

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Run Sluice's Step Functions flows locally: one gateway, the real template.",
    pretty_exceptions_enable=False,
)
dlq_app = typer.Typer(help="Dead-letter queues: see why messages failed, send them back.")
app.add_typer(dlq_app, name="dlq")
produce_app = typer.Typer(
    no_args_is_help=True,
    help="Write a flow's realistic source data through its real trigger (S3, a table, a bus, "
    "an API), so the running stack starts it. One command per registered flow.",
)
app.add_typer(produce_app, name="produce")
out = Console()
err = Console(stderr=True)

TemplateOpt = Annotated[Path, typer.Option(help="SAM template to deploy.")]
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
    """Start the gateway on HOST:PORT, deploy the template, serve until Ctrl-C. State
    (tables, queues, objects) saved in the data directory by an earlier run comes back."""
    from sluice import virtual_time
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
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()


def print_stack(catalogue: dict[str, Any]) -> None:
    table = Table(title=f"stack {catalogue.get('stack_name')}")
    for col in ("logical id", "type", "name"):
        table.add_column(col)
    for lid, res in sorted(catalogue["resources"].items(), key=lambda kv: kv[1]["type"]):
        table.add_row(lid, res["type"].split("::")[-1], res["name"])
    print_table(table)


@app.command()
def reset(data_dir: DataDirOpt = Path(".sluice")) -> None:
    """Forget the stack state saved in DATA_DIR (tables, queues, objects), so the next
    `sluice up` starts from nothing. Stop the stack first. Logs, the lake and the search
    index stay."""
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
    wait: Annotated[bool, typer.Option(help="Wait for the end and print the outcome.")] = False,
    name: Annotated[str | None, typer.Option(help="Execution name.")] = None,
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
    """Redrive a failed, aborted or timed-out Standard execution from the state that failed."""
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


DataDirOpt = Annotated[
    Path, typer.Option(help="The stack's data directory (the lake is its lake/ folder).")
]


def lake_connection(data_dir: Path) -> Any:
    """DuckDB over the lake of the stack whose data directory is DATA_DIR: its tables as views
    (``silver.violations``), and the tables its flows declare (`Flow.lake_tables`) that no
    write has created yet as empty ones, so a fresh stack's lake can be queried at once."""
    import duckdb

    warehouse = data_dir / "lake"
    lake = devkit.lake()
    con = lake.connect(warehouse) if lake is not None else None
    stack_file = data_dir / STACK_FILE
    if con is None:
        if not stack_file.exists():
            raise SluiceError(
                f"no lake at {warehouse} (start a stack with --data-dir {data_dir} first)"
            )
        con = duckdb.connect()
    flows = devkit.flows()
    if stack_file.exists():  # the stack's flows; else (a seeded lake alone) every flow's
        deployed = catalogue_flows(json.loads(stack_file.read_text()))
        flows = [f for f in flows if f.name in deployed]
    for flow in flows:
        for name, schema in (flow.lake_tables() if flow.lake_tables else {}).items():
            namespace, _, table = name.rpartition(".")
            namespace = namespace or "main"
            exists = con.execute(
                "SELECT 1 FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
                [namespace, table],
            ).fetchall()
            if not exists:
                con.register("__sluice_empty__", schema.empty_table())
                con.execute(f"CREATE SCHEMA IF NOT EXISTS {_quote(namespace)}")
                con.execute(
                    f"CREATE TABLE {_quote(namespace)}.{_quote(table)} AS "
                    "SELECT * FROM __sluice_empty__"
                )
                con.unregister("__sluice_empty__")
    return con


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


@app.command()
def sql(
    query: str, data_dir: DataDirOpt = Path(".sluice"), limit: int = 50, json_: JsonOpt = False
) -> None:
    """Run DuckDB SQL over the lake's Iceberg tables (e.g. silver.violations)."""
    import duckdb

    con = lake_connection(data_dir)
    try:
        result = con.sql(query)
    except duckdb.Error as exc:
        raise SluiceError(f"SQL failed: {str(exc).splitlines()[0]}") from None
    if result is None:
        if json_:
            print_json([])
        else:
            out.print("ok")
        return
    data = result.to_arrow_table()
    rows = data.slice(0, limit).to_pylist()
    if json_:
        print_json(rows)
        return
    table = Table(caption=f"{data.num_rows} row(s)")
    for name in data.column_names:
        table.add_column(name)
    for row in rows:
        table.add_row(*(str(v) for v in row.values()))
    print_table(table)


@app.command()
def seed(
    flow: Annotated[str, typer.Argument(help="A registered flow with a lake seed.")],
    rows: int = 100_000,
    data_dir: DataDirOpt = Path(".sluice"),
    seed: int = 7,
) -> None:
    """Load ROWS deterministic rows into FLOW's lake tables (replacing their rows)."""
    found = devkit.flow(flow)
    seeded = [f.name for f in devkit.flows() if f.seed is not None]
    if found is None or found.seed is None:
        raise UsageError(f"no lake seed for {flow!r} (flows with one: {', '.join(seeded)})")
    (data_dir / "lake").mkdir(parents=True, exist_ok=True)
    with out.status(f"seeding {rows} rows for {flow}"):
        summary = found.seed(data_dir, rows, seed)
    out.print(summary, highlight=False)


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
