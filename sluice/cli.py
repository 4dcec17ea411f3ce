"""`sluice`: run the stack locally and work with its flows, executions and queues."""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from sluice.cli_format import cause_message as _message
from sluice.client import Gateway as GatewayClient
from sluice.client import SluiceError, endpoint

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Run Sluice's Step Functions flows locally: one gateway, the real template.",
    pretty_exceptions_enable=False,
)
dlq_app = typer.Typer(help="Dead-letter queues: see why messages failed, send them back.")
app.add_typer(dlq_app, name="dlq")
produce_app = typer.Typer(help="Write realistic source data that starts the flows.")
app.add_typer(produce_app, name="produce")
out = Console()
err = Console(stderr=True)

TemplateOpt = Annotated[Path, typer.Option(help="SAM template to deploy.")]
EndpointOpt = Annotated[
    str, typer.Option("--endpoint", envvar="SLUICE_ENDPOINT", help="Gateway URL.")
]


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
) -> None:
    """Start the gateway on HOST:PORT, deploy the template, serve until Ctrl-C."""
    from sluice import virtual_time
    from sluice.stack import BUILT_TEMPLATE, DEFAULT_TEMPLATE, BuildMissingError, LocalStack

    if time_scale is not None:
        try:
            virtual_time.set_scale(time_scale)
        except virtual_time.TimeScaleError as exc:
            raise SluiceError(f"--time-scale / {virtual_time.ENV_VAR}: {exc}") from None

    overrides = {}
    for item in parameter_overrides or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise SluiceError(f"--parameter-overrides takes KEY=VALUE, got {item!r}")
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
        )
    except BuildMissingError as exc:
        raise SluiceError(str(exc)) from None
    catalogue = stack.start()
    print_stack(catalogue)
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
    out.print(table)


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
            raise SluiceError(f"cannot read input file {path}: {exc.strerror}") from None
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        raise SluiceError(f"input is not valid JSON: {exc}") from None
    return text


@app.command("exec")
def exec_(
    flow: str,
    input: Annotated[str, typer.Option("--input", "-i", help="JSON, or @file.json")] = "{}",
    wait: Annotated[bool, typer.Option(help="Wait for the end and print the outcome.")] = False,
    name: Annotated[str | None, typer.Option(help="Execution name.")] = None,
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
    out.print(f"started {execution}")
    if wait:
        _print_outcome(g.wait_execution(execution))


@app.command()
def executions(
    flow: Annotated[str | None, typer.Argument()] = None,
    status: Annotated[str | None, typer.Option(help="RUNNING, SUCCEEDED, FAILED, ...")] = None,
    limit: int = 50,
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
    out.print(table)


@app.command()
def history(execution: str, url: EndpointOpt = "") -> None:
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
    render(summarize(events, definition), out)


@app.command()
def redrive(
    execution: str,
    wait: Annotated[bool, typer.Option(help="Wait for the end and print the outcome.")] = False,
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
    out.print(f"redriven {arn} (redrive {desc.get('redriveCount', 1)}): {desc['status']}")
    if wait:
        _print_outcome(g.wait_execution(arn))


def _print_outcome(desc: dict[str, Any]) -> None:
    """A finished execution's status, output or error and cause; exit 1 unless it succeeded."""
    colour = "green" if desc["status"] == "SUCCEEDED" else "red"
    out.print(f"[{colour}]{desc['status']}[/]")
    if desc.get("output"):
        out.print_json(desc["output"])
    if desc.get("error") or desc.get("cause"):
        out.print(f"error: {desc.get('error')}\ncause: {_message(desc.get('cause'))}")
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


def _lake_env(data_dir: Path) -> dict[str, str]:
    lake = data_dir / "lake"
    if not (lake / "catalog.db").exists():
        raise SluiceError(f"no lake at {lake} (start a stack with --data-dir {data_dir} first)")
    return {"LAKE_WAREHOUSE": str(lake), "LAKE_CATALOG_URI": ""}


@app.command()
def sql(query: str, data_dir: DataDirOpt = Path(".sluice"), limit: int = 50) -> None:
    """Run DuckDB SQL over the lake's Iceberg tables (e.g. silver.violations)."""
    import duckdb

    from tasks.common.lake import catalog_from_env
    from tasks.common.lake_sql import duckdb_connection

    con = duckdb_connection(catalog_from_env(_lake_env(data_dir)))
    try:
        result = con.sql(query)
    except duckdb.Error as exc:
        raise SluiceError(f"SQL failed: {str(exc).splitlines()[0]}") from None
    if result is None:
        out.print("ok")
        return
    data = result.to_arrow_table()
    table = Table(caption=f"{data.num_rows} row(s)")
    for name in data.column_names:
        table.add_column(name)
    for row in data.slice(0, limit).to_pylist():
        table.add_row(*(str(v) for v in row.values()))
    out.print(table)


@app.command("seed-violations")
def seed_violations_cmd(
    rows: int = 100_000, data_dir: DataDirOpt = Path(".sluice"), seed: int = 7
) -> None:
    """Load ROWS synthetic violations into silver.violations (replacing its rows)."""
    import time

    from sluice.lake_seed import seed_violations
    from tasks.common.lake import catalog_from_env

    lake = data_dir / "lake"
    lake.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with out.status(f"writing {rows} violations"):
        table = seed_violations(
            catalog_from_env({"LAKE_WAREHOUSE": str(lake), "LAKE_CATALOG_URI": ""}), rows, seed
        )
    files = len(list(table.scan().plan_files()))
    out.print(
        f"silver.violations: {rows} rows in {files} files ({time.perf_counter() - started:.1f} s)"
    )


@dlq_app.command("list")
def dlq_list(
    queue: Annotated[str | None, typer.Argument(help="DLQ name; all DLQs when omitted.")] = None,
    url: EndpointOpt = "",
) -> None:
    """Dead-lettered messages with the reason they failed."""
    g = gw(url)
    if queue is None:
        table = Table(title="dead-letter queues")
        for col in ("queue", "fed by", "source", "messages"):
            table.add_column(col)
        for q in g.get("/_sluice/dlq"):
            table.add_row(q["name"], q["fed_by"], q["source"].rsplit("/", 1)[-1], str(q["depth"]))
        out.print(table)
        return
    messages = g.get(f"/_sluice/dlq/{queue}")
    if not messages:
        out.print(f"{queue} is empty")
    for m in messages:
        reason = m.get("reason") or {}
        out.print(f"[bold]{m['messageId']}[/]  received {m['receiveCount']}x")
        out.print(
            f"  [red]{reason.get('error') or 'reason unknown'}[/]: {_message(reason.get('cause'))}"
        )
        if reason.get("execution"):
            out.print(f"  execution: {reason['execution']}")
        out.print(f"  body: {json.dumps(m['body'])[:300]}", highlight=False, soft_wrap=True)


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
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        app()
    except (SluiceError, ClientError, BotoCoreError) as exc:
        err.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
