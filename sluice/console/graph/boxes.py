"""What a layout is made of: state boxes, routed edges with their label boxes."""

from __future__ import annotations

from dataclasses import dataclass, field

from sluice.asl.definition import CONTAINERS

HEADER = 26  # a container's title strip


@dataclass(frozen=True)
class LabelBox:
    x: float
    y: float
    w: float
    h: float
    text: str  # what is drawn: the label, cut to MAX_CHARS

    def moved(self, dx: float, dy: float) -> LabelBox:
        return LabelBox(self.x + dx, self.y + dy, self.w, self.h, self.text)

    def overlaps(self, x: float, y: float, w: float, h: float, margin: float = 0.0) -> bool:
        return (
            self.x < x + w + margin
            and x < self.x + self.w + margin
            and self.y < y + h + margin
            and y < self.y + self.h + margin
        )


@dataclass
class NodeBox:
    id: str
    name: str
    type: str  # ASL type, or "Branch" for a Parallel's lane
    x: float
    y: float
    w: float
    h: float
    parent: str | None = None
    end: bool = False

    @property
    def container(self) -> bool:
        return self.type in (*CONTAINERS, "Branch")

    def moved(self, dx: float, dy: float, parent: str | None) -> NodeBox:
        return NodeBox(
            self.id,
            self.name,
            self.type,
            self.x + dx,
            self.y + dy,
            self.w,
            self.h,
            self.parent or parent,
            self.end,
        )


@dataclass
class Edge:
    source: str
    target: str
    kind: str  # next | choice | default | catch
    label: str = ""
    points: list[tuple[float, float]] = field(default_factory=list)
    back: bool = False
    label_box: LabelBox | None = None  # where the label is drawn (see ``labels``)

    def moved(self, dx: float, dy: float) -> Edge:
        points = [(x + dx, y + dy) for x, y in self.points]
        box = self.label_box.moved(dx, dy) if self.label_box is not None else None
        return Edge(self.source, self.target, self.kind, self.label, points, self.back, box)


@dataclass
class Layout:
    width: float
    height: float
    nodes: list[NodeBox]
    edges: list[Edge]
    start: tuple[float, float] | None = None  # the start marker, top level only

    def node(self, node_id: str) -> NodeBox:
        return next(n for n in self.nodes if n.id == node_id)
