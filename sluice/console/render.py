"""The execution graph as an SVG file, for ``sluice render EXECUTION -o graph.svg``."""

from __future__ import annotations

from sluice.aws_client import client
from sluice.console.graph import render_svg
from sluice.console.runs import graph_view, path_of, select
from sluice.console.service import load_execution
from sluice.history import failed_state


def render_execution_svg(endpoint: str, execution_arn: str) -> str:
    """The execution's state machine, every state coloured by what happened, the failed
    state outlined, with a legend: the same picture as the console's execution page."""
    view = load_execution(client(endpoint, "stepfunctions"), execution_arn)
    culprit = failed_state(view.story)
    path = path_of(view.story.states, culprit) if culprit is not None else None
    selection = select(view.story.states, path) if path else None
    statuses, _ = graph_view(view.story.states, path or ())
    return render_svg(view.definition, statuses, selected=selection.node_id if selection else None)
