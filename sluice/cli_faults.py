"""`sluice fault`: make a function's invokes or a flow's starts fail, to see what the
triggers and flows do about it (the gateway's `/_sluice/faults` and
`/_sluice/execution-faults`)."""

from __future__ import annotations

from typing import Annotated

import typer

from sluice.cli_format import EndpointOpt, gw, print_json
from sluice.execution_faults import ERRORS

fault_app = typer.Typer(help="Inject faults: failing Lambda invokes, refused flow starts.")

CountOpt = Annotated[int, typer.Option("--count", help="How many calls fail (0 removes it).")]


@fault_app.command("lambda")
def fault_lambda(
    function: Annotated[str, typer.Argument(help="Function name.")],
    error: Annotated[str, typer.Option("--error", help="Error name, e.g. Sandbox.Timedout.")],
    count: CountOpt = 1,
    url: EndpointOpt = "",
) -> None:
    """FUNCTION's next invokes fail with ERROR, the handler unrun."""
    body = {"function": function, "errorType": error, "count": count}
    print_json(gw(url).post("/_sluice/faults", body))


@fault_app.command("start")
def fault_start(
    flow: Annotated[str, typer.Argument(help="Flow name, state machine name or ARN.")],
    error: Annotated[str, typer.Option("--error", help=f"One of {', '.join(ERRORS)}.")] = (
        "ServiceUnavailable"
    ),
    count: CountOpt = 1,
    url: EndpointOpt = "",
) -> None:
    """FLOW's next StartExecution/StartSyncExecution calls fail with ERROR: nothing starts."""
    g = gw(url)
    flows = g.flows()
    machine = str(flows[flow]["arn"]) if flow in flows else flow
    body = {"stateMachine": machine, "errorType": error, "count": count}
    print_json(g.post("/_sluice/execution-faults", body))


@fault_app.command("list")
def fault_list(url: EndpointOpt = "") -> None:
    """The pending faults, with how many calls each will still fail."""
    g = gw(url)
    print_json({"lambda": g.get("/_sluice/faults"), "start": g.get("/_sluice/execution-faults")})


@fault_app.command("clear")
def fault_clear(url: EndpointOpt = "") -> None:
    """Remove every pending fault."""
    g = gw(url)
    g.delete("/_sluice/faults")
    g.delete("/_sluice/execution-faults")
    print_json({"lambda": [], "start": []})
