"""`sluice demo`: a fresh local stack, each registered flow driven through its real trigger
(its devkit's demo, see sluice.devkit), a summary."""

from __future__ import annotations

import shutil
import threading
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.table import Table

from sluice import devkit
from sluice.client import Gateway
from sluice.history import summarize
from sluice.render_history import render
from sluice.stack import LocalStack

DATA_DIR = Path(".sluice/demo")


def run_demo(*, port: int, serve: bool, console: Console) -> None:
    flows = [f for f in devkit.flows() if f.demo is not None]
    shutil.rmtree(DATA_DIR, ignore_errors=True)
    with console.status("starting the local stack and deploying infra/template.yaml"):
        stack = LocalStack(port=port, data_dir=DATA_DIR)
        catalogue = stack.start()
    console.print(
        f"[green]stack up[/] at {stack.endpoint}: "
        f"{len(catalogue['resources'])} resources, {len(catalogue['pipes'])} pipes, "
        f"{len(catalogue['routes'])} HTTP routes"
    )
    g = Gateway(stack.endpoint)
    context = devkit.DemoContext(gateway=g, console=console, data_dir=DATA_DIR)
    try:
        results = []
        for flow in flows:
            assert flow.demo is not None
            results.append((flow.name, flow.demo(context)))
        summary(g, results, console)
        if serve:
            console.print(
                f"\nServing at {stack.endpoint} (console at {stack.endpoint}/console)."
                " Ctrl-C to stop."
            )
            threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()


def summary(g: Gateway, results: list[tuple[str, devkit.DemoResult]], console: Console) -> None:
    console.rule("summary")
    sfn = g.client("stepfunctions")
    table = Table(title="what happened")
    for col in ("flow", "executions", "written", "dead-lettered", "API answers"):
        table.add_column(col, no_wrap=col == "flow")
    for name, r in results:
        statuses = Counter(
            e["status"] for e in sfn.list_executions(stateMachineArn=g.flow_arn(name))["executions"]
        )
        table.add_row(
            name,
            ", ".join(f"{n} {s.lower()}" for s, n in sorted(statuses.items())),
            r.written,
            str(r.dead_lettered),
            " ".join(str(s) for s in r.api.values()),
        )
    console.print(table)
    for name, r in results:
        if r.failed_run:
            console.print(f"\n[bold]{name}[/]: the run that reported a failed item")
            events = sfn.get_execution_history(executionArn=r.failed_run, maxResults=1000)
            definition = sfn.describe_state_machine_for_execution(executionArn=r.failed_run)[
                "definition"
            ]
            render(summarize(events["events"], definition), console)
