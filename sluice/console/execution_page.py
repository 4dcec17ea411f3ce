"""HTML of the execution page: the graph coloured by the run, the panel of the selected run or
branch/iteration, and the raw event timeline."""

from __future__ import annotations

import json
from datetime import datetime

from sluice.asl.events import details
from sluice.console.graph import STATUS_LABELS, render_svg
from sluice.console.pages import (
    BASE,
    badge,
    cause_html,
    duration,
    execution_url,
    h,
    layout,
    pretty,
    state_test_url,
    table,
    url,
    when,
)
from sluice.console.runs import (
    RunPath,
    Selection,
    children_of,
    format_path,
    graph_view,
    worst,
)
from sluice.console.service import ExecutionView
from sluice.history import StateRun


def execution_page(view: ExecutionView, selection: Selection | None) -> str:
    return layout(view.name, execution_main(view, selection), active="executions")


def execution_version(view: ExecutionView) -> str:
    return f"{len(view.events)}:{view.status}"


def execution_main(view: ExecutionView, selection: Selection | None) -> str:
    """The part of the execution page that live refresh replaces."""
    story = view.story
    focus = selection.path if selection else ()
    statuses, targets = graph_view(story.states, focus)
    links = {node: execution_url(view.arn, path) for node, path in targets.items()}
    svg = render_svg(
        view.definition,
        statuses,
        links=links,
        selected=selection.node_id if selection else None,
    )
    again_url = url("/start", flow=view.flow, again=view.arn)
    again = (
        f'<a class="button" id="start-again" href="{again_url}">Start again with the same input</a>'
        if view.flow
        else ""
    )
    flow_link = (
        f'<a href="{url("/executions", flow=view.flow)}">{h(view.flow)}</a>'
        if view.flow
        else h(view.machine_arn)
    )
    redrive_form = redrive_button = ""
    if view.redrive_status == "REDRIVABLE":
        # The button sits in the line above, next to "Start again"; a form may not.
        redrive_form = (
            f'<form method="post" action="{BASE}/execution/redrive" id="redrive-form">'
            f'<input type="hidden" name="arn" value="{h(view.arn)}"></form>'
        )
        redrive_button = (
            ' <button type="submit" form="redrive-form" id="redrive-execution">'
            "Redrive from the failed state</button>"
        )
    redriven = f" · redriven {view.redrive_count} time(s)" if view.redrive_count else ""
    problem = ""
    if view.error or view.cause:
        problem = f'<div class="problem"><b>{h(view.error)}</b>{cause_html(view.cause)}</div>'
    poll = url("/api/execution", arn=view.arn, run=format_path(focus) if focus else None)
    return (
        f'<div id="main" data-status="{h(view.status)}" data-version="{h(execution_version(view))}"'
        f' data-poll="{h(poll)}">'
        f'<h1>{h(view.name)} <span id="execution-status">{badge(view.status)}</span></h1>'
        f'<p class="meta">{flow_link} · started {when(view.started)} · '
        f"stopped {when(view.stopped)} · {duration(story.duration)}{redriven}"
        f"{' · <span class=live>live</span>' if view.status == 'RUNNING' else ''} {again}"
        f"{redrive_button}</p>{redrive_form}{problem}"
        f'<div class="split"><div class="graph-wrap" id="graph">{svg}</div>'
        f'<aside id="panel">{panel(view, selection)}</aside></div>'
        f'<details class="io"><summary>Execution input</summary><pre id="execution-input">'
        f"{h(pretty(view.input))}</pre></details>"
        f'<details class="io"><summary>Execution output</summary><pre>{h(pretty(view.output))}'
        "</pre></details>"
        f"<h2>Events</h2>{timeline(view)}</div>"
    )


def _breadcrumb(view: ExecutionView, selection: Selection) -> str:
    parts = [f'<a href="{execution_url(view.arn)}">execution</a>']
    parts += [
        f'<a href="{execution_url(view.arn, path)}">{h(label)}</a>'
        for label, path in selection.trail
    ]
    return '<nav class="trail">' + " &rsaquo; ".join(parts) + "</nav>"


def panel(view: ExecutionView, selection: Selection | None) -> str:
    if selection is None:
        return (
            "<h2>Execution</h2><p class=muted>Nothing failed. Click a state to see its runs.</p>"
            f"<h3>Input</h3><pre>{h(pretty(view.input))}</pre>"
            + (f"<h3>Output</h3><pre>{h(pretty(view.output))}</pre>" if view.output else "")
        )
    crumbs = _breadcrumb(view, selection)
    if selection.scope is not None:
        return crumbs + scope_panel(view, selection)
    assert selection.run is not None
    return crumbs + run_panel(view, selection.run, selection.path)


def scope_panel(view: ExecutionView, selection: Selection) -> str:
    """One Parallel branch or Map iteration: its runs, each linking to its details."""
    assert selection.scope is not None and selection.owner is not None
    owner = selection.owner
    index = int(selection.path[-1])
    label = f"branch {index + 1}" if owner.type == "Parallel" else f"iteration {index}"
    rows = [
        f'<tr class="run" data-state="{h(run.name)}" data-status="{run.status}">'
        f'<td><a href="{execution_url(view.arn, (*selection.path, run.name))}">{h(run.name)}</a>'
        f"</td><td>{badge(run.status)}</td><td>{duration(run.duration)}</td>"
        f"<td><b>{h(run.error)}</b> <span class=muted>{h((run.cause or '')[:200])}</span></td></tr>"
        for run in selection.scope
    ]
    picker = map_picker(view, owner, selection.path[:-1], index) if owner.type == "Map" else ""
    return (
        f'<h2 id="scope-title">{h(owner.name)} &rsaquo; {h(label)} '
        f"{badge(worst([r.status for r in selection.scope]))}</h2>"
        + picker
        + table(
            ["state", "status", "duration", "error"], rows, cls="scope-runs", empty="Not started."
        )
    )


def map_picker(view: ExecutionView, run: StateRun, path: RunPath, current: int | None) -> str:
    options = []
    for index, iteration in enumerate(run.iterations):
        status = worst([r.status for r in iteration]) if iteration else "not_reached"
        selected = " selected" if index == current else ""
        options.append(
            f'<option value="{h(execution_url(view.arn, (*path, str(index))))}"{selected}>'
            f"iteration {index}: {h(STATUS_LABELS[status])}</option>"
        )
    if current is None:
        options.insert(0, "<option value='' selected disabled>pick an iteration…</option>")
    return (
        '<label class="picker">Map iteration '
        f'<select id="iteration-picker">{"".join(options)}</select></label>'
    )


def run_panel(view: ExecutionView, run: StateRun, path: RunPath) -> str:
    parts = [
        f'<h2 id="run-title" data-state="{h(run.name)}" data-status="{run.status}">'
        f"{h(run.name)} <small>{h(run.type)}</small> {badge(run.status)}</h2>",
        f'<p><a class="button" id="test-state" href="{state_test_url(view.arn, path)}">'
        "Test this state</a></p>",
        f'<p class="meta">entered {when(run.entered)} · exited {when(run.exited)} · '
        f"{duration(run.duration)}</p>",
    ]
    if run.error or run.cause:
        parts.append(
            f'<div class="problem"><div class="panel-error">{h(run.error)}</div>'
            f"{cause_html(run.cause, 'panel-cause')}</div>"
        )
    if run.attempts and (len(run.attempts) > 1 or not run.attempts[0].succeeded):
        rows = [
            f'<tr class="attempt {"ok" if a.succeeded else "failed"}"><td>{n}</td>'
            f"<td>{when(a.started)}</td><td>{duration(a.duration)}</td>"
            f"<td>{'succeeded' if a.succeeded else 'failed' if a.ended else 'running'}</td>"
            f"<td><b>{h(a.error)}</b>{cause_html(a.cause)}</td></tr>"
            for n, a in enumerate(run.attempts, start=1)
        ]
        parts.append(
            f"<h3>Attempts ({len(run.attempts)})</h3>"
            + table(["#", "started", "took", "outcome", "error"], rows, cls="attempts")
        )
    if run.type == "Parallel" and run.branches:
        items = "".join(
            f'<li><a class="branch-link" href="{execution_url(view.arn, (*path, str(i)))}">'
            f"branch {i + 1}</a> {badge(worst([r.status for r in b]))}</li>"
            for i, b in enumerate(run.branches)
        )
        parts.append(f"<h3>Branches</h3><ul class=branches>{items}</ul>")
    if run.type == "Map":
        count = len(run.iterations)
        parts.append(f"<h3>Iterations ({count})</h3>")
        if count:
            parts.append(map_picker(view, run, path, None))
    if run.status != "not_reached":
        parts.append(f'<h3>Input</h3><pre class="panel-input">{h(pretty(run.input))}</pre>')
        if run.output is not None:
            parts.append(f'<h3>Output</h3><pre class="panel-output">{h(pretty(run.output))}</pre>')
    if children_of(run) and run.status == "not_reached":
        parts.append("<p class=muted>Never entered.</p>")
    return "".join(parts)


def timeline(view: ExecutionView) -> str:
    start = view.started
    rows = []
    for event in sorted(view.events, key=lambda e: int(e["id"])):
        facts = details(event)
        stamp = event.get("timestamp")
        offset = (
            duration(stamp - start)
            if isinstance(stamp, datetime) and isinstance(start, datetime)
            else ""
        )
        kind = str(event["type"])
        summary = facts.get("name") or facts.get("error") or ""
        extra = ""
        if facts:
            extra = (
                f"<details><summary>{h(str(summary)[:80])}</summary>"
                f"<pre>{h(json.dumps(facts, indent=2, default=str))}</pre></details>"
            )
        cls = "bad" if kind.endswith(("Failed", "TimedOut", "Aborted")) else ""
        rows.append(
            f'<tr class="{cls}"><td class=num>{h(event["id"])}</td><td class=num>{offset}</td>'
            f"<td>{h(kind)}</td><td class=num>{h(event.get('previousEventId', ''))}</td>"
            f"<td>{extra}</td></tr>"
        )
    return table(["id", "+time", "type", "prev", "details"], rows, cls="timeline")
