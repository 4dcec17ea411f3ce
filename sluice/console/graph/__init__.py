"""Lay out an ASL definition as a layered graph and render it as SVG.

The layout is Sugiyama-style, done per state machine level and composed bottom-up
(``layout``, ``layers``):

* ranks: longest path from ``StartAt`` over forward edges (back edges of wait/poll loops are
  found by DFS and drawn separately, on the right);
* edges spanning several ranks get dummy points, so they route through free space instead of
  through the boxes in between;
* order within a rank: a few barycenter sweeps to reduce crossings;
* Parallel and Map states are containers: their branches / item processor are laid out
  recursively first, and the container is sized to hold them;
* edge labels (Choice rules, default, catch) are placed last, each along its own edge where
  it overlaps no other label (``labels``); the gap below a rank grows with the labelled edges
  leaving it, so a Choice's labels have room.

Node ids are definition paths: ``Name`` at the top, ``Par/1`` for a Parallel's second branch
lane, ``Par/1/Inner`` inside it, ``Map/Inner`` inside a Map's processor.
"""

from sluice.console.graph.boxes import Edge, LabelBox, Layout, NodeBox
from sluice.console.graph.layout import layout
from sluice.console.graph.svg import STATUS_COLOURS, STATUS_LABELS, render_svg

__all__ = [
    "STATUS_COLOURS",
    "STATUS_LABELS",
    "Edge",
    "LabelBox",
    "Layout",
    "NodeBox",
    "layout",
    "render_svg",
]
