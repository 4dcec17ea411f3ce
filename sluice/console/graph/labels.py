"""Edge labels that overlap no other label.

Each label goes along its own edge: candidate spots are tried on each segment of the edge, in
order (the first segment first, beside it on the side the edge leaves to, or above/below a
horizontal one). The first spot that overlaps no label placed before it, stays inside the
lane or processor the edge belongs to, and covers no state wins; failing that, the first
that only overlaps no label; failing that, a free row right of the graph. Label widths are
estimated per character on the generous side of DejaVu Sans (a wide sans-serif, and what
``system-ui`` resolves to on a bare Linux), so a box holds its drawn text.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import pairwise

from sluice.console.graph.boxes import Edge, LabelBox, NodeBox

LABEL_H = 13.0  # a 10px line
BASELINE = 10.0  # from the top of a label's box
MAX_CHARS = 30
GAP = 6.0  # between an edge and its label
MARGIN = 1.0  # between two labels
_NARROW = frozenset(" '.,:;|/\\-()[]tfilIjJr!")
_WIDE = frozenset("mwMW%@…#+<=>^~&")


def shown(label: str) -> str:
    return label if len(label) <= MAX_CHARS else label[: MAX_CHARS - 1] + "…"


def text_width(text: str) -> float:
    """Width of ``text`` at 10px, never below what DejaVu Sans draws."""
    return sum(
        4.0 if c in _NARROW else 10.0 if c in _WIDE else 8.0 if c.isupper() else 6.5 for c in text
    )


def place_labels(
    nodes: Sequence[NodeBox], edges: Sequence[Edge], width: float
) -> list[LabelBox | None]:
    """A box for the label of each edge (None for edges without one), in edge order; ``width``
    is where the graph ends, for labels with no room along their edge."""
    by_id = {n.id: n for n in nodes}
    placed: list[LabelBox] = []
    out: list[LabelBox | None] = []
    for edge in edges:
        if not edge.label or len(edge.points) < 2:
            out.append(None)
            continue
        text = shown(edge.label)
        source = by_id.get(edge.source)
        region = by_id.get(source.parent) if source and source.parent else None
        obstacles = [n for n in nodes if not _holds(n, source, by_id)]
        box = _place(edge, text, region, obstacles, placed, width)
        placed.append(box)
        out.append(box)
    return out


def _place(
    edge: Edge,
    text: str,
    region: NodeBox | None,
    obstacles: list[NodeBox],
    placed: list[LabelBox],
    width: float,
) -> LabelBox:
    w = text_width(text)

    def free(x: float, y: float) -> bool:
        return x >= 0 and y >= 0 and not any(b.overlaps(x, y, w, LABEL_H, MARGIN) for b in placed)

    def fits(x: float, y: float) -> bool:
        inside = region is None or (
            region.x <= x <= region.x + region.w - w and region.y <= y <= region.y + region.h
        )
        return inside and not any(_covers(n, x, y, w) for n in obstacles) and free(x, y)

    spots = list(_spots(edge, w))
    spot = next((s for s in spots if fits(*s)), None) or next((s for s in spots if free(*s)), None)
    if spot is None:
        y = edge.points[0][1]
        while not free(width, y):
            y += LABEL_H + MARGIN
        spot = (width, y)
    return LabelBox(spot[0], spot[1], w, LABEL_H, text)


def _holds(node: NodeBox, source: NodeBox | None, by_id: dict[str, NodeBox]) -> bool:
    """Whether ``node`` is, or contains, the edge's source (its label may sit on it)."""
    while source is not None:
        if source.id == node.id:
            return True
        source = by_id.get(source.parent) if source.parent else None
    return False


def _covers(node: NodeBox, x: float, y: float, w: float) -> bool:
    return node.x < x + w and x < node.x + node.w and node.y < y + LABEL_H and y < node.y + node.h


def _spots(edge: Edge, w: float) -> Iterator[tuple[float, float]]:
    """Top-left corners to try for a label ``w`` wide, along the edge, best first."""
    for (x1, y1), (x2, y2) in pairwise(edge.points):
        for t in (0.5, 0.3, 0.7, 0.15, 0.85):
            x, y = x1 + (x2 - x1) * t, y1 + (y2 - y1) * t
            if abs(y2 - y1) < 1:  # horizontal: above, then below
                yield x - w / 2, y - LABEL_H - 2
                yield x - w / 2, y + 2
                continue
            right, left = (x + GAP, y - LABEL_H / 2), (x - GAP - w, y - LABEL_H / 2)
            yield from (left, right) if x2 < x1 - 1 else (right, left)
