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
from dataclasses import dataclass
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
        lines = [seg for other in edges if other is not edge for seg in pairwise(other.points)]
        box = _place(edge, text, _Avoid(region, obstacles, lines), placed, width)
        placed.append(box)
        out.append(box)
    return out


Point = tuple[float, float]


@dataclass
class _Avoid:
    """What a label should keep clear of, beyond other labels: it stays in ``region`` (the lane
    or processor of its edge), off ``nodes`` and off the ``lines`` of other edges."""

    region: NodeBox | None
    nodes: list[NodeBox]
    lines: list[tuple[Point, Point]]

    def clear(self, x: float, y: float, w: float, lines: bool) -> bool:
        region = self.region
        inside = region is None or (
            region.x <= x <= region.x + region.w - w and region.y <= y <= region.y + region.h
        )
        if not inside or any(_covers(n, x, y, w) for n in self.nodes):
            return False
        return not lines or not any(_crosses(x, y, w, p, q) for p, q in self.lines)


def _place(edge: Edge, text: str, avoid: _Avoid, placed: list[LabelBox], width: float) -> LabelBox:
    w = text_width(text)

    def free(x: float, y: float) -> bool:
        return x >= 0 and y >= 0 and not any(b.overlaps(x, y, w, LABEL_H, MARGIN) for b in placed)

    spots = [s for s in _spots(edge, w) if free(*s)]
    spot = (
        next((s for s in spots if avoid.clear(*s, w, lines=True)), None)
        or next((s for s in spots if avoid.clear(*s, w, lines=False)), None)
        or next(iter(spots), None)
    )
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


def _crosses(x: float, y: float, w: float, p: Point, q: Point) -> bool:
    """Whether segment ``p``-``q`` passes through the label box at ``x``, ``y`` (clipping the
    segment to the box, one axis at a time)."""
    low, high = 0.0, 1.0
    for start, end, lo, hi in ((p[0], q[0], x, x + w), (p[1], q[1], y, y + LABEL_H)):
        delta = end - start
        if abs(delta) < 1e-9:
            if not lo < start < hi:
                return False
            continue
        a, b = sorted(((lo - start) / delta, (hi - start) / delta))
        low, high = max(low, a), min(high, b)
        if low >= high:
            return False
    return True


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
