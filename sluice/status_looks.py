"""How each state status of `sluice.history` looks to a person: one row per status, read by
the terminal renderer (`sluice history`) and the console's SVG graph."""

from __future__ import annotations

from dataclasses import dataclass

from sluice.history import StateStatus


@dataclass(frozen=True)
class Look:
    label: str  # the words for the status
    symbol: str  # the terminal's mark before a step
    colour: str  # the terminal's rich style
    fill: str  # the graph's node fill and stroke
    stroke: str


STATUS_LOOKS: dict[StateStatus, Look] = {
    "succeeded": Look("succeeded", "✓", "green", "#e3f5e1", "#2e7d32"),
    "retried": Look("succeeded after retry", "↻", "yellow", "#fff4d6", "#b7791f"),
    "caught": Look("failed, caught", "↪", "yellow", "#ffe8cc", "#c05621"),
    "failed": Look("failed", "✗", "red", "#fde2e1", "#c62828"),
    "in_progress": Look("in progress", "▶", "cyan", "#e1efff", "#1e63c4"),
    "aborted": Look("aborted", "■", "magenta", "#eee5f6", "#6b3fa0"),
    "not_reached": Look("not reached", "·", "dim", "#f4f4f5", "#a1a1aa"),
}
