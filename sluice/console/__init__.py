"""The web console at /console: flows, executions, the execution graph, DLQs."""

from __future__ import annotations

from sluice.console.app import console_app
from sluice.console.render import render_execution_svg

__all__ = ["console_app", "render_execution_svg"]
