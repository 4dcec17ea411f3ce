"""Print an ``ExecutionStory`` to a terminal: header, then every step in order, with the step
that made the execution fail (see ``failed_state``) in red with its error, cause and input."""

from __future__ import annotations

import json
from datetime import timedelta

from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from sluice.cli_format import lambda_error
from sluice.history import (
    STATUS_PRIORITY,
    ExecutionStory,
    StateRun,
    StateStatus,
    failed_state,
    iter_runs,
    worst,
)
from sluice.status_looks import STATUS_LOOKS

INDENT = 2
MAX_CAUSE_CHARS = 600
MAX_CAUSE_LINES = 12

_EXECUTION_STYLE = {
    "SUCCEEDED": "bold green",
    "FAILED": "bold red",
    "TIMED_OUT": "bold red",
    "ABORTED": "bold yellow",
    "RUNNING": "bold cyan",
}
# Shorter words than the console's where a step's line has little room.
_LABEL: dict[StateStatus, str] = {
    **{status: look.label for status, look in STATUS_LOOKS.items()},
    "caught": "caught",
    "in_progress": "running",
}


def render(
    story: ExecutionStory,
    console: Console,
    *,
    max_iterations: int = 10,
    max_input_lines: int = 20,
    trace: bool = False,
) -> None:
    """Print ``story``. Map states show at most ``max_iterations`` iterations, keeping the
    ones that did not simply succeed; the highlighted step's input is cut after
    ``max_input_lines`` lines. A Lambda function's error shows as its errorMessage, with its
    stack trace when ``trace``."""
    renderer = _Renderer(console, failed_state(story), max_iterations, max_input_lines, trace)
    renderer.story(story)


def format_duration(value: timedelta | None) -> str:
    if value is None:
        return ""
    seconds = value.total_seconds()
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.2f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def attempts_note(run: StateRun) -> str:
    """``"3 attempts, 2 retried"``; empty for a single attempt."""
    if len(run.attempts) < 2:
        return ""
    return f"{len(run.attempts)} attempts, {run.retries} retried"


def pretty_payload(raw: str | None, max_lines: int, max_width: int) -> list[str]:
    """A JSON payload from the history, indented, with long lines and long documents cut."""
    if raw is None:
        return ["(none)"]
    try:
        text = json.dumps(json.loads(raw), indent=2, ensure_ascii=False)
    except ValueError:
        text = raw  # The history truncates large payloads, leaving invalid JSON.
    lines = text.splitlines() or [""]
    width = max(max_width, 20)
    shown = [line if len(line) <= width else line[: width - 1] + "…" for line in lines[:max_lines]]
    if len(lines) > max_lines:
        shown.append(f"… {len(lines) - max_lines} more lines")
    return shown


class _Renderer:
    def __init__(
        self,
        console: Console,
        highlighted: StateRun | None,
        max_iterations: int,
        max_input_lines: int,
        trace: bool = False,
    ) -> None:
        self.trace = trace
        self.console = console
        self.highlighted = highlighted
        self.max_iterations = max_iterations
        self.max_input_lines = max_input_lines

    def print(self, text: Text, depth: int) -> None:
        self.console.print(Padding(text, (0, 0, 0, depth * INDENT), expand=False))

    def story(self, story: ExecutionStory) -> None:
        header = Text("Execution ")
        header.append(story.status, style=_EXECUTION_STYLE.get(story.status, "bold"))
        if story.duration is not None:
            verb = "so far" if story.status == "RUNNING" else "after"
            header.append(f"  {verb} {format_duration(story.duration)}")
        if story.started is not None:
            header.append(f"  started {story.started:%Y-%m-%d %H:%M:%S %Z}".rstrip(), style="dim")
        self.console.print(header)
        if story.error is not None or story.cause is not None:
            self.field("error", story.error or "", 1, "red")
            if story.cause:
                self.cause(story.cause, 1)
        self.console.print()
        self.console.print(Text("Steps", style="bold"))
        self.runs(story.states, 1)

    def runs(self, runs: list[StateRun], depth: int) -> None:
        for run in runs:
            if run.status != "not_reached":
                self.run(run, depth)
        unreached = [run.name for run in runs if run.status == "not_reached"]
        if unreached:
            self.print(Text(f"· not reached: {', '.join(unreached)}", style="dim"), depth)

    def run(self, run: StateRun, depth: int) -> None:
        highlighted = run is self.highlighted
        colour = STATUS_LOOKS[run.status].colour
        line = Text()
        line.append(f"{STATUS_LOOKS[run.status].symbol} ", style=colour)
        line.append(run.name, style="bold red" if highlighted else "bold")
        line.append(f"  {run.type}", style="dim")
        line.append(f"  {_LABEL[run.status]}", style=colour)
        for extra in (format_duration(run.duration), attempts_note(run)):
            if extra:
                line.append(f"  {extra}", style="dim")
        if highlighted:
            where = "caught here" if run.status == "caught" else "failed here"
            line.append(f"  ← {where}", style="bold red")
        self.print(line, depth)
        self.details(run, depth + 1, highlighted)
        for index, branch in enumerate(run.branches):
            self.print(Text(f"branch {index + 1}", style="dim"), depth + 1)
            self.runs(branch, depth + 2)
        self.iterations(run, depth + 1)

    def details(self, run: StateRun, depth: int, highlighted: bool) -> None:
        for number, attempt in enumerate(run.attempts[:-1], start=1):
            if not attempt.succeeded:
                took = format_duration(attempt.duration)
                note = f"attempt {number} failed{f' after {took}' if took else ''}"
                self.print(Text(f"{note}: {attempt.error or 'unknown error'}", style="dim"), depth)
        if run.status not in ("failed", "caught") or (run.error is None and not highlighted):
            return
        colour = "red" if run.status == "failed" else "yellow"
        self.field("error", run.error or "unknown", depth, colour)
        if highlighted:
            if run.cause:
                self.cause(run.cause, depth)
            width = self.console.width - (depth * INDENT) - len("input ")
            payload = pretty_payload(run.input, self.max_input_lines, width)
            self.field("input", "\n".join(payload), depth, "")

    def field(self, label: str, value: str, depth: int, style: str) -> None:
        # A grid keeps wrapped lines of long values under the value, not under the label.
        grid = Table.grid(padding=(0, 1))
        grid.add_column(style="dim", no_wrap=True)
        grid.add_column(overflow="fold")
        grid.add_row(label, Text(value, style=style))
        self.console.print(Padding(grid, (0, 0, 0, depth * INDENT), expand=False))

    def cause(self, cause: str, depth: int) -> None:
        width = self.console.width - (depth * INDENT) - len("cause ")
        error = lambda_error(cause)
        if error is not None:
            message, stack = error
            lines = [message, *(stack if self.trace else [])]
        elif cause.lstrip().startswith(("{", "[")):
            lines = pretty_payload(cause, MAX_CAUSE_LINES, width)
        else:
            lines = [cause if len(cause) <= MAX_CAUSE_CHARS else cause[:MAX_CAUSE_CHARS] + "…"]
        self.field("cause", "\n".join(lines), depth, "")

    def iterations(self, run: StateRun, depth: int) -> None:
        iterations = run.iterations
        if not iterations:
            return
        if len(iterations) <= self.max_iterations:
            shown = list(range(len(iterations)))
        else:
            # Keep the highlighted iteration, then the most alarming ones, then fill up in order.
            def rank(index: int) -> tuple[bool, int, int]:
                runs = iterations[index]
                status = worst(r.status for r in runs)
                holds_highlight = any(r is self.highlighted for r in iter_runs(runs))
                return (not holds_highlight, STATUS_PRIORITY.index(status), index)

            shown = sorted(sorted(range(len(iterations)), key=rank)[: self.max_iterations])
        for index in shown:
            runs = iterations[index]
            label = Text(f"iteration {index}", style="dim")
            if not runs:
                label.append("  not started", style="dim")
            self.print(label, depth)
            self.runs(runs, depth + 1)
        hidden = [i for i in range(len(iterations)) if i not in shown]
        if hidden:
            counts: dict[str, int] = {}
            for index in hidden:
                status = worst(r.status for r in iterations[index])
                key = "not started" if status == "not_reached" else _LABEL[status]
                counts[key] = counts.get(key, 0) + 1
            summary = ", ".join(f"{count} {label}" for label, count in counts.items())
            self.print(Text(f"… {len(hidden)} more iterations ({summary})", style="dim"), depth)
