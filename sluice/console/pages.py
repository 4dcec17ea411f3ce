"""HTML for the console's pages: plain server-rendered markup, escaped at every interpolation."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from html import escape
from typing import Any
from urllib.parse import urlencode

from sluice.console.graph import STATUS_LABELS, render_svg
from sluice.console.runs import (
    RunPath,
    format_path,
)
from sluice.console.service import STATUSES, ExecutionRow, Flow, InputProblem

BASE = "/console"


def url(path: str, **params: Any) -> str:
    query = urlencode({k: v for k, v in params.items() if v not in (None, "")})
    return f"{BASE}{path}" + (f"?{query}" if query else "")


def execution_url(arn: str, run: RunPath | None = None) -> str:
    return url("/execution", arn=arn, run=format_path(run) if run else None)


def state_test_url(arn: str, run: RunPath) -> str:
    """The "Test this state" page (sluice/console/test_state.py) of one run's state."""
    return url("/execution/test-state", arn=arn, run=format_path(run))


def h(value: object) -> str:
    return escape("" if value is None else str(value))


def when(moment: datetime | None) -> str:
    if moment is None:
        return "&ndash;"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def duration(value: timedelta | float | None) -> str:
    if value is None:
        return "&ndash;"
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.2f} s"
    return f"{seconds / 60:.1f} min"


def pretty(text: str | None) -> str:
    if text is None:
        return ""
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except (TypeError, ValueError):
        return text


def cause_html(cause: str | None, cls: str = "") -> str:
    """A cause, with a Lambda error's message up front and its stack trace folded away."""
    if not cause:
        return ""
    try:
        parsed = json.loads(cause)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("errorMessage"), str):
        trace = "".join(str(line) for line in parsed.get("stackTrace") or [])
        folded = (
            f"<details><summary>stack trace</summary><pre>{h(trace)}</pre></details>"
            if trace
            else ""
        )
        return f'<pre class="{cls}">{h(parsed["errorMessage"])}</pre>{folded}'
    return f'<pre class="{cls}">{h(pretty(cause))}</pre>'


def badge(status: str) -> str:
    key = status.lower()
    label = STATUS_LABELS.get(key, status)
    return f'<span class="badge st-{h(key)}">{h(label)}</span>'


def layout(title: str, body: str, *, active: str = "") -> str:
    nav = "".join(
        f'<a href="{BASE}{href}" class="{"active" if key == active else ""}">{label}</a>'
        for key, href, label in (
            ("flows", "", "State machines"),
            ("executions", "/executions", "Executions"),
            ("pipes", "/pipes", "Pipes"),
            ("dlqs", "/dlqs", "Dead-letter queues"),
        )
    )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{h(title)} · Sluice</title>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f'<link rel=stylesheet href="{BASE}/static/console.css">'
        f'<script src="{BASE}/static/console.js" defer></script></head>'
        f'<body><header><a class=brand href="{BASE}">Sluice</a><nav>{nav}</nav></header>'
        f"<main>{body}</main></body></html>"
    )


def table(headers: Sequence[str], rows: Iterable[str], *, cls: str = "", empty: str = "") -> str:
    body = "".join(rows)
    if not body and empty:
        return f'<p class="empty">{h(empty)}</p>'
    head = "".join(f"<th>{h(x)}</th>" for x in headers)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


# -- state machines ------------------------------------------------------------------------


def flows_page(flows: list[tuple[Flow, dict[str, int]]]) -> str:
    rows = []
    for flow, counts in flows:
        triggers = "".join(f"<li>{h(t)}</li>" for t in flow.triggers) or (
            '<li class="muted">none: started from the console or CLI</li>'
        )
        count_links = (
            " ".join(
                f'<a class="count" href="{url("/executions", flow=flow.name, status=s)}">'
                f"{badge(s)} {counts[s]}</a>"
                for s in STATUSES
                if counts.get(s)
            )
            or '<span class="muted">no executions</span>'
        )
        rows.append(
            f'<tr data-flow="{h(flow.name)}">'
            f'<td><a href="{url("/executions", flow=flow.name)}"><b>{h(flow.name)}</b></a></td>'
            f"<td>{h(flow.kind)}</td><td><ul class=triggers>{triggers}</ul></td>"
            f'<td class="counts">{count_links}</td>'
            f'<td class="actions"><a href="{url("/flow", flow=flow.name)}">ASL</a> '
            f'<a class="button" href="{url("/start", flow=flow.name)}">Start execution</a></td>'
            "</tr>"
        )
    body = "<h1>State machines</h1>" + table(
        ["flow", "type", "trigger", "executions", ""],
        rows,
        cls="flows",
        empty="No state machines deployed.",
    )
    return layout("State machines", body, active="flows")


def flow_page(flow: Flow, definition: str) -> str:
    body = (
        f"<h1>{h(flow.name)} <small>{h(flow.kind)}</small></h1>"
        f'<p><a class="button" href="{url("/start", flow=flow.name)}">Start execution</a> '
        f'<a href="{url("/executions", flow=flow.name)}">Executions</a> · '
        f'<a href="{url("/flow/asl", flow=flow.name)}">raw ASL</a>'
        + (f" · <code>{h(flow.definition_uri)}</code>" if flow.definition_uri else "")
        + "</p>"
        f'<div class="graph-wrap">{render_svg(definition, legend=False)}</div>'
        f'<h2>Definition</h2><pre class="asl">{h(pretty(definition))}</pre>'
    )
    return layout(flow.name, body, active="flows")


# -- executions ----------------------------------------------------------------------------


def executions_page(
    rows: list[ExecutionRow], flows: list[str], flow: str | None, status: str | None
) -> str:
    flow_opts = '<option value="">all flows</option>' + "".join(
        f"<option{' selected' if f == flow else ''}>{h(f)}</option>" for f in flows
    )
    status_opts = '<option value="">any status</option>' + "".join(
        f"<option{' selected' if s == status else ''}>{s}</option>" for s in STATUSES
    )
    filters = (
        f'<form class="filters" method="get" action="{BASE}/executions">'
        f'<select name="flow" id="flow-filter">{flow_opts}</select>'
        f'<select name="status" id="status-filter">{status_opts}</select>'
        '<button type="submit">Filter</button></form>'
    )
    body_rows = []
    for row in rows:
        problem = ""
        if row.error or row.cause:
            problem = f"<b>{h(row.error)}</b> <span class=muted>{h((row.cause or '')[:160])}</span>"
        body_rows.append(
            f'<tr class="execution" data-status="{h(row.status)}">'
            f'<td><a href="{execution_url(row.arn)}">{h(row.name)}</a></td>'
            f"<td>{h(row.flow)}</td><td>{badge(row.status)}</td>"
            f"<td>{when(row.started)}</td><td>{when(row.stopped)}</td>"
            f'<td class="num">{duration(row.duration_s)}</td><td class="error">{problem}</td></tr>'
        )
    body = (
        "<h1>Executions</h1>"
        + filters
        + table(
            ["name", "flow", "status", "started (UTC)", "stopped", "duration", "error"],
            body_rows,
            cls="executions",
            empty="No executions match.",
        )
    )
    return layout("Executions", body, active="executions")


# -- start ---------------------------------------------------------------------------------


def start_page(
    flow: Flow,
    text: str,
    name: str,
    problems: list[InputProblem],
    schema: str | None,
    schema_doc: str | None,
) -> str:
    errors = ""
    if problems:
        items = "".join(f"<li>{h(p)}</li>" for p in problems)
        errors = f'<ul class="input-errors" id="input-errors" role="alert">{items}</ul>'
    hint = (
        f"Validated against <code>{h(schema)}</code> before starting."
        if schema
        else "No schema for this flow: any JSON is accepted."
    )
    doc = (
        f"<details><summary>JSON Schema</summary><pre>{h(schema_doc)}</pre></details>"
        if schema_doc
        else ""
    )
    body = (
        f"<h1>Start {h(flow.name)} <small>{h(flow.kind)}</small></h1>"
        f'<form method="post" action="{BASE}/start" class="start">'
        f'<input type="hidden" name="flow" value="{h(flow.name)}">'
        f'<label>Execution name (optional) <input name="name" value="{h(name)}"></label>'
        f'<label for="input">Input</label><div class="input-row">'
        f'<textarea id="input" name="input" rows="16" spellcheck="false"'
        f"{' aria-invalid=true' if problems else ''}>{h(text)}</textarea>{errors}</div>"
        f'<p class="muted">{hint}</p>{doc}'
        '<button type="submit" id="start-button">Start execution</button></form>'
    )
    return layout(f"Start {flow.name}", body, active="flows")


# -- dead-letter queues --------------------------------------------------------------------


def dlqs_page(queues: list[tuple[dict[str, Any], list[dict[str, Any]]]], notice: str | None) -> str:
    sections = []
    for queue, messages in queues:
        rows = []
        for m in messages:
            reason = m.get("reason") or {}
            execution = reason.get("execution")
            link = f' <a href="{execution_url(execution)}">execution</a>' if execution else ""
            body = m["body"] if isinstance(m["body"], str) else json.dumps(m["body"], indent=2)
            rows.append(
                f'<tr class="message"><td><code>{h(m["messageId"])}</code></td>'
                f"<td>{when(datetime.fromtimestamp(m['sentAt'] / 1000, tz=UTC))}</td>"
                f"<td class=num>{h(m.get('receiveCount'))}</td>"
                f'<td class="reason"><b>{h(reason.get("error") or reason.get("condition"))}</b> '
                f"{h(reason.get('cause'))}{link}</td>"
                f"<td><details><summary>body</summary><pre>{h(body)}</pre></details></td></tr>"
            )
        sections.append(
            f'<section class="dlq" data-queue="{h(queue["name"])}">'
            f'<h2>{h(queue["name"])} <span class="depth">{queue["depth"]}</span></h2>'
            f"<p class=muted>fed by {h(queue['fed_by'])} {h(queue['source'])}</p>"
            f'<form method="post" action="{BASE}/dlqs/redrive">'
            f'<input type="hidden" name="queue" value="{h(queue["name"])}">'
            f'<button type="submit" class="redrive"{" disabled" if not messages else ""}>'
            "Redrive all messages</button></form>"
            + table(
                ["message", "sent", "receives", "why it failed", ""],
                rows,
                cls="messages",
                empty="Empty.",
            )
            + "</section>"
        )
    flash = f'<p class="notice" id="notice">{h(notice)}</p>' if notice else ""
    body = (
        "<h1>Dead-letter queues</h1>"
        + flash
        + ("".join(sections) or '<p class="empty">No dead-letter queues in this stack.</p>')
    )
    return layout("Dead-letter queues", body, active="dlqs")


def pipes_page(pipes: list[dict[str, Any]], notice: str | None) -> str:
    """Each pipe and event source mapping with its state and counts; a pipe can be stopped
    (its source keeps what arrives meanwhile) and started again."""
    rows = []
    for p in pipes:
        running = p["state"] == "RUNNING"
        action = ""
        if p["kind"] == "pipe":
            action = (
                f'<form method="post" action="{BASE}/pipes/state">'
                f'<input type="hidden" name="pipe" value="{h(p["name"])}">'
                f'<input type="hidden" name="running" value="{"no" if running else "yes"}">'
                f'<button type="submit">{"Stop" if running else "Start"}</button></form>'
            )
        counts = (
            p.get(k, 0)
            for k in ("batches_delivered", "records_delivered", "failures", "records_sent_to_dlq")
        )
        rows.append(
            f'<tr class="pipe" data-pipe="{h(p["name"])}"><td><code>{h(p["name"])}</code>'
            f"<div class=muted>{h(p['kind'])}</div></td>"
            f'<td class="state">{h(p["state"])}</td>'
            f"<td><code>{h(p['source'])}</code></td><td><code>{h(p['target'])}</code></td>"
            + "".join(f"<td class=num>{h(c)}</td>" for c in counts)
            + f"<td>{action}</td></tr>"
        )
    flash = f'<p class="notice" id="notice">{h(notice)}</p>' if notice else ""
    headers = ["name", "state", "source", "target", "batches", "records", "failed", "to DLQ", ""]
    body = (
        "<h1>Pipes</h1>"
        + flash
        + "<p class=muted>A stopped pipe ends the batch it is delivering (STOPPING), then "
        "leaves what arrives in its source until it is started: a stream pipe resumes where "
        "it stopped.</p>" + table(headers, rows, cls="pipes", empty="No pipes in this stack.")
    )
    return layout("Pipes", body, active="pipes")


def error_page(status: int, message: str) -> str:
    return layout("Error", f'<h1>{status}</h1><p class="problem">{h(message)}</p>')
