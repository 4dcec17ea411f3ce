"""Boxes and routed edges for every state of a definition (see the package docstring)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sluice.asl.choice import describe
from sluice.asl.definition import CONTAINERS, branches, document, level, processor
from sluice.asl.edges import transitions
from sluice.console.graph.boxes import HEADER, Edge, Layout, NodeBox
from sluice.console.graph.labels import place_labels
from sluice.console.graph.layers import Edge4, Item, back_edges, order, place, ranks

NODE_H = 40
MIN_NODE_W = 110
CHAR_W = 7.2  # average glyph width of the 12px sans-serif used for names
V_GAP = 46.0
LABEL_ROW = 15  # the height one more labelled edge adds to the gap below its source's rank
PAD = 16  # inside containers and lanes
DUMMY_W = 12
BACK_EDGE_STEP = 12


def parse(definition: str | Mapping[str, Any]) -> Mapping[str, Any]:
    machine = document(definition)
    if not isinstance(machine.get("States"), Mapping):
        raise ValueError("not an ASL definition: no States")
    return machine


def layout(definition: str | Mapping[str, Any]) -> Layout:
    """Absolute boxes for every state (and Parallel lane), routed edges and their labels."""
    machine = parse(definition)
    inner = _layout_machine(machine, "")
    top = 34.0  # room for the start marker
    moved = _offset(inner, PAD, top, None)
    start_at = machine.get("StartAt")
    start = None
    if isinstance(start_at, str) and any(n.id == start_at for n in moved.nodes):
        first = moved.node(start_at)
        start = (first.x + first.w / 2, 14.0)
        moved.edges.append(
            Edge("", start_at, "next", points=[(start[0], start[1] + 6), (start[0], first.y)])
        )
    width, height = inner.width + 2 * PAD, inner.height + top + PAD
    boxes = place_labels(moved.nodes, moved.edges, width)
    for edge, box in zip(moved.edges, boxes, strict=True):
        edge.label_box = box
    placed = [b for b in boxes if b is not None]
    width = max([width, *(b.x + b.w + PAD for b in placed)])
    height = max([height, *(b.y + b.h + PAD for b in placed)])
    return Layout(width, height, moved.nodes, moved.edges, start)


# -- one machine level -----------------------------------------------------------------------


def _label_width(text: str, minimum: float = MIN_NODE_W) -> float:
    return max(minimum, len(text) * CHAR_W + 28)


def _transitions(spec: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(target, kind, label) for every way out of a state, in definition order."""
    out: list[tuple[str, str, str]] = []
    for edge in transitions(spec):
        if edge.target is None:
            continue
        if edge.kind == "choice":
            label = describe(edge.rule)
        elif edge.kind == "catch":
            label = "catch " + ", ".join(edge.errors)
        else:
            label = "default" if edge.kind == "default" else ""
        out.append((edge.target, edge.kind, label))
    return out


def _layout_machine(machine: Mapping[str, Any], prefix: str) -> Layout:
    states = dict(level(machine))
    names = list(states)
    if not names:
        return Layout(MIN_NODE_W, NODE_H, [], [])
    start = machine.get("StartAt") if machine.get("StartAt") in names else names[0]
    assert isinstance(start, str)

    # Sizes, laying out containers' insides first.
    inner: dict[str, Layout] = {}
    size: dict[str, tuple[float, float]] = {}
    for name, spec in states.items():
        if spec.get("Type") in CONTAINERS:
            inner[name] = _layout_container(spec, prefix + name)
            size[name] = (max(inner[name].width, _label_width(name) + 40), inner[name].height)
        else:
            size[name] = (_label_width(name), NODE_H)

    edges: list[Edge4] = [
        (name, target, kind, label)
        for name in names
        for target, kind, label in _transitions(states[name])
        if target in states
    ]
    back = back_edges(start, names, edges)
    rank = ranks(start, names, [e for i, e in enumerate(edges) if i not in back])

    # Layer items, with a dummy per rank crossed by a long forward edge.
    items: dict[str, Item] = {n: Item(n, *size[n], rank[n]) for n in names}
    chains: list[list[str]] = []
    for index, (src, dst, _, _) in enumerate(edges):
        chain = [src]
        if index not in back:
            for r in range(rank[src] + 1, rank[dst]):
                key = f"\0{index}:{r}"
                items[key] = Item(key, DUMMY_W, 0, r, dummy=True)
                chain.append(key)
        chain.append(dst)
        chains.append(chain)
    rows = order(items, chains, back, start)
    labelled = [0] * len(rows)
    for src, _, _, label in edges:
        labelled[rank[src]] += bool(label)
    gaps = [max(V_GAP, LABEL_ROW * count + 16.0) for count in labelled]
    width, height = place(rows, items, chains, back, gaps)

    nodes: list[NodeBox] = []
    routed: list[Edge] = []
    for name, spec in states.items():
        it = items[name]
        kind = str(spec.get("Type", "?"))
        ends = bool(spec.get("End")) or kind in ("Succeed", "Fail")
        box = NodeBox(prefix + name, name, kind, it.x, it.y, it.w, it.h, None, ends)
        nodes.append(box)
        if name in inner:
            sub = _offset(inner[name], it.x + (it.w - inner[name].width) / 2, it.y, box.id)
            nodes += sub.nodes
            routed += sub.edges
    lane = width
    for index, (src, dst, kind, label) in enumerate(edges):
        a, b = items[src], items[dst]
        if index in back:
            lane += BACK_EDGE_STEP
            points = [
                (a.x + a.w, a.y + a.h / 2),
                (lane, a.y + a.h / 2),
                (lane, b.y + b.h / 2),
                (b.x + b.w, b.y + b.h / 2),
            ]
        else:
            points = [(a.x + a.w / 2, a.y + a.h)]
            for key in chains[index][1:-1]:
                d = items[key]
                points += [(d.x + d.w / 2, d.y), (d.x + d.w / 2, d.y + d.h)]
            points.append((b.x + b.w / 2, b.y))
        routed.append(Edge(prefix + src, prefix + dst, kind, label, points, index in back))
    return Layout(max(width, lane + BACK_EDGE_STEP if back else width), height, nodes, routed)


def _layout_container(spec: Mapping[str, Any], node_id: str) -> Layout:
    """A Parallel's lanes side by side, or a Map's processor, under a title strip."""
    if spec.get("Type") == "Parallel":
        lanes: list[Layout] = []
        for index, branch in enumerate(branches(spec)):
            lane_id = f"{node_id}/{index}"
            body = _layout_machine(branch, lane_id + "/")
            box = NodeBox(
                lane_id,
                f"branch {index + 1}",
                "Branch",
                0,
                0,
                body.width + 2 * PAD,
                body.height + HEADER + PAD,
                node_id,
            )
            moved = _offset(body, PAD, HEADER, lane_id)
            lanes.append(Layout(box.w, box.h, [box, *moved.nodes], moved.edges))
        x, tallest = float(PAD), 0.0
        nodes: list[NodeBox] = []
        edges: list[Edge] = []
        for lane_layout in lanes:
            placed = _offset(lane_layout, x, HEADER, node_id)
            nodes += placed.nodes
            edges += placed.edges
            x += lane_layout.width + PAD
            tallest = max(tallest, lane_layout.height)
        return Layout(max(x, MIN_NODE_W), tallest + HEADER + PAD, nodes, edges)
    body = _layout_machine(processor(spec), node_id + "/")
    moved = _offset(body, PAD, HEADER, node_id)
    return Layout(body.width + 2 * PAD, body.height + HEADER + PAD, moved.nodes, moved.edges)


def _offset(lay: Layout, dx: float, dy: float, parent: str | None) -> Layout:
    return Layout(
        lay.width,
        lay.height,
        [n.moved(dx, dy, parent) for n in lay.nodes],
        [e.moved(dx, dy) for e in lay.edges],
    )
