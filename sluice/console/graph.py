"""Lay out an ASL definition as a layered graph and render it as SVG.

The layout is Sugiyama-style, done per state machine level and composed bottom-up:

* ranks: longest path from ``StartAt`` over forward edges (back edges of wait/poll loops are
  found by DFS and drawn separately, on the right);
* edges spanning several ranks get dummy points, so they route through free space instead of
  through the boxes in between;
* order within a rank: a few barycenter sweeps to reduce crossings;
* Parallel and Map states are containers: their branches / item processor are laid out
  recursively first, and the container is sized to hold them.

Node ids are definition paths: ``Name`` at the top, ``Par/1`` for a Parallel's second branch
lane, ``Par/1/Inner`` inside it, ``Map/Inner`` inside a Map's processor.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from html import escape
from itertools import pairwise
from typing import Any

NODE_H = 40
MIN_NODE_W = 110
CHAR_W = 7.2  # average glyph width of the 12px sans-serif used for names
H_GAP = 36
V_GAP = 46
PAD = 16  # inside containers and lanes
HEADER = 26  # container title strip
DUMMY_W = 12
BACK_EDGE_STEP = 12
CONTAINER_TYPES = ("Parallel", "Map")


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
        return self.type in (*CONTAINER_TYPES, "Branch")

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

    def moved(self, dx: float, dy: float) -> Edge:
        points = [(x + dx, y + dy) for x, y in self.points]
        return Edge(self.source, self.target, self.kind, self.label, points, self.back)


@dataclass
class Layout:
    width: float
    height: float
    nodes: list[NodeBox]
    edges: list[Edge]
    start: tuple[float, float] | None = None  # the start marker, top level only

    def node(self, node_id: str) -> NodeBox:
        return next(n for n in self.nodes if n.id == node_id)


def parse(definition: str | Mapping[str, Any]) -> Mapping[str, Any]:
    document = json.loads(definition) if isinstance(definition, str) else definition
    if not isinstance(document, Mapping) or not isinstance(document.get("States"), Mapping):
        raise ValueError("not an ASL definition: no States")
    return document


def layout(definition: str | Mapping[str, Any]) -> Layout:
    """Absolute boxes for every state (and Parallel lane) and routed edges."""
    inner = _layout_machine(parse(definition), "")
    top = 34.0  # room for the start marker
    moved = _offset(inner, PAD, top, None)
    start_at = parse(definition).get("StartAt")
    start = None
    if isinstance(start_at, str) and any(n.id == start_at for n in moved.nodes):
        first = moved.node(start_at)
        start = (first.x + first.w / 2, 14.0)
        moved.edges.append(
            Edge("", start_at, "next", points=[(start[0], start[1] + 6), (start[0], first.y)])
        )
    return Layout(inner.width + 2 * PAD, inner.height + top + PAD, moved.nodes, moved.edges, start)


# -- one machine level -----------------------------------------------------------------------


def _label_width(text: str, minimum: float = MIN_NODE_W) -> float:
    return max(minimum, len(text) * CHAR_W + 28)


def _transitions(spec: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(target, kind, label) for every way out of a state, in definition order."""
    out: list[tuple[str, str, str]] = []
    for rule in spec.get("Choices") or []:
        if isinstance(rule, Mapping) and isinstance(rule.get("Next"), str):
            out.append((rule["Next"], "choice", describe_choice(rule)))
    if isinstance(spec.get("Default"), str):
        out.append((spec["Default"], "default", "default"))
    if isinstance(spec.get("Next"), str):
        out.append((spec["Next"], "next", ""))
    for catcher in spec.get("Catch") or []:
        if isinstance(catcher, Mapping) and isinstance(catcher.get("Next"), str):
            errors = catcher.get("ErrorEquals") or []
            out.append((catcher["Next"], "catch", "catch " + ", ".join(map(str, errors))))
    return out


def describe_choice(rule: Mapping[str, Any], limit: int = 28) -> str:
    """A short reading of a Choice rule, for the edge label."""
    text = _choice_text(rule)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _choice_text(rule: Mapping[str, Any]) -> str:
    for combinator, joiner in (("And", " and "), ("Or", " or ")):
        if isinstance(rule.get(combinator), list):
            return joiner.join(_choice_text(r) for r in rule[combinator] if isinstance(r, Mapping))
    if isinstance(rule.get("Not"), Mapping):
        return "not " + _choice_text(rule["Not"])
    if isinstance(rule.get("Condition"), str):  # JSONata
        return str(rule["Condition"]).strip("{% }")
    variable = str(rule.get("Variable", "?"))
    ops = {
        "Equals": "==",
        "LessThanEquals": "<=",
        "GreaterThanEquals": ">=",
        "LessThan": "<",
        "GreaterThan": ">",
        "Matches": "~",
    }
    for key, value in rule.items():
        if key in ("Variable", "Next"):
            continue
        path = key.endswith("Path")
        base = key.removesuffix("Path")
        for suffix, symbol in ops.items():
            if base.endswith(suffix):
                shown = value if path else json.dumps(value)
                return f"{variable} {symbol} {shown}"
        if base.startswith("Is"):
            return f"{variable} {base[2:].lower()}={json.dumps(value)}"
    return variable


@dataclass
class _Item:
    """A node or a dummy point in the layered layout of one level."""

    key: str
    w: float
    h: float
    rank: int
    dummy: bool = False
    x: float = 0.0
    y: float = 0.0


def _layout_machine(machine: Mapping[str, Any], prefix: str) -> Layout:
    states: Mapping[str, Any] = machine.get("States") or {}
    names = [n for n, s in states.items() if isinstance(s, Mapping)]
    if not names:
        return Layout(MIN_NODE_W, NODE_H, [], [])
    start = machine.get("StartAt") if machine.get("StartAt") in names else names[0]
    assert isinstance(start, str)

    # Sizes, laying out containers' insides first.
    inner: dict[str, Layout] = {}
    size: dict[str, tuple[float, float]] = {}
    for name in names:
        spec = states[name]
        kind = spec.get("Type")
        if kind in CONTAINER_TYPES:
            inner[name] = _layout_container(name, spec, prefix + name)
            size[name] = (max(inner[name].width, _label_width(name) + 40), inner[name].height)
        else:
            size[name] = (_label_width(name), NODE_H)

    edges = [
        (name, target, kind, label)
        for name in names
        for target, kind, label in _transitions(states[name])
        if target in states
    ]
    back = _back_edges(start, names, edges)
    rank = _ranks(start, names, [e for i, e in enumerate(edges) if i not in back])

    # Layer items, with a dummy per rank crossed by a long forward edge.
    items: dict[str, _Item] = {n: _Item(n, *size[n], rank[n]) for n in names}
    chains: list[list[str]] = []
    for index, (src, dst, _, _) in enumerate(edges):
        chain = [src]
        if index not in back:
            for r in range(rank[src] + 1, rank[dst]):
                key = f"\0{index}:{r}"
                items[key] = _Item(key, DUMMY_W, 0, r, dummy=True)
                chain.append(key)
        chain.append(dst)
        chains.append(chain)
    rows = _order(items, chains, back, start)
    width, height = _place(rows, items, chains, back)

    nodes: list[NodeBox] = []
    routed: list[Edge] = []
    for name in names:
        it = items[name]
        kind = str(states[name].get("Type", "?"))
        ends = bool(states[name].get("End")) or kind in ("Succeed", "Fail")
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


def _layout_container(name: str, spec: Mapping[str, Any], node_id: str) -> Layout:
    """A Parallel's lanes side by side, or a Map's processor, under a title strip."""
    if spec.get("Type") == "Parallel":
        lanes: list[Layout] = []
        for index, branch in enumerate(spec.get("Branches") or []):
            lane_id = f"{node_id}/{index}"
            body = _layout_machine(branch if isinstance(branch, Mapping) else {}, lane_id + "/")
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
    processor = spec.get("ItemProcessor") or spec.get("Iterator") or {}
    body = _layout_machine(processor if isinstance(processor, Mapping) else {}, node_id + "/")
    moved = _offset(body, PAD, HEADER, node_id)
    return Layout(body.width + 2 * PAD, body.height + HEADER + PAD, moved.nodes, moved.edges)


def _offset(lay: Layout, dx: float, dy: float, parent: str | None) -> Layout:
    return Layout(
        lay.width,
        lay.height,
        [n.moved(dx, dy, parent) for n in lay.nodes],
        [e.moved(dx, dy) for e in lay.edges],
    )


def _back_edges(start: str, names: list[str], edges: list[tuple[str, str, str, str]]) -> set[int]:
    """Indexes of edges closing a cycle (DFS from StartAt, then from unreachable states)."""
    out_edges: dict[str, list[int]] = {n: [] for n in names}
    for index, (src, _, _, _) in enumerate(edges):
        out_edges[src].append(index)
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    back: set[int] = set()
    for root in [start, *names]:
        if root in state:
            continue
        stack: list[tuple[str, int]] = [(root, 0)]
        state[root] = 1
        while stack:
            node, pos = stack.pop()
            if pos < len(out_edges[node]):
                stack.append((node, pos + 1))
                index = out_edges[node][pos]
                target = edges[index][1]
                if state.get(target) == 1:
                    back.add(index)
                elif target not in state:
                    state[target] = 1
                    stack.append((target, 0))
            else:
                state[node] = 2
    return back


def _ranks(
    start: str, names: list[str], forward: list[tuple[str, str, str, str]]
) -> dict[str, int]:
    """Longest path from the roots over the (acyclic) forward edges."""
    incoming = {n: 0 for n in names}
    for _, dst, _, _ in forward:
        incoming[dst] += 1
    rank = {n: 0 for n in names}
    ready = [n for n in names if incoming[n] == 0]
    ready.sort(key=lambda n: n != start)
    while ready:
        node = ready.pop(0)
        for src, dst, _, _ in forward:
            if src == node:
                rank[dst] = max(rank[dst], rank[node] + 1)
                incoming[dst] -= 1
                if incoming[dst] == 0:
                    ready.append(dst)
    return rank


def _order(
    items: dict[str, _Item], chains: list[list[str]], back: set[int], start: str
) -> list[list[str]]:
    """Rows of item keys, ordered by barycenter sweeps to reduce crossings."""
    depth = max(it.rank for it in items.values()) + 1
    rows: list[list[str]] = [[] for _ in range(depth)]
    for key, it in items.items():  # insertion order = definition order, then dummies
        rows[it.rank].append(key)
    up: dict[str, list[str]] = {k: [] for k in items}
    down: dict[str, list[str]] = {k: [] for k in items}
    for index, chain in enumerate(chains):
        if index in back:
            continue
        for a, b in pairwise(chain):
            down[a].append(b)
            up[b].append(a)
    for sweep in range(8):
        downward = sweep % 2 == 0
        span = range(1, depth) if downward else range(depth - 2, -1, -1)
        for r in span:
            ref = rows[r - 1] if downward else rows[r + 1]
            pos = {k: i for i, k in enumerate(ref)}
            links = up if downward else down
            keys: dict[str, float] = {}
            for i, key in enumerate(rows[r]):
                near = [pos[n] for n in links[key] if n in pos]
                keys[key] = sum(near) / len(near) if near else float(i)
            rows[r].sort(key=keys.__getitem__)
    return rows


def _place(
    rows: list[list[str]], items: dict[str, _Item], chains: list[list[str]], back: set[int]
) -> tuple[float, float]:
    """Coordinates: rows top to bottom; in a row, each item near its predecessors' centre."""
    preds: dict[str, list[str]] = {k: [] for k in items}
    for index, chain in enumerate(chains):
        if index not in back:
            for a, b in pairwise(chain):
                preds[b].append(a)
    y = 0.0
    for row in rows:
        height = max((items[k].h for k in row), default=0)
        desired: list[float] = []
        for key in row:
            it = items[key]
            near = [items[p].x + items[p].w / 2 for p in preds[key]]
            desired.append(sum(near) / len(near) - it.w / 2 if near else float("nan"))
        x = 0.0
        lefts: list[float] = []
        for key, want in zip(row, desired, strict=True):
            left = x if want != want else max(want, x)  # NaN: no predecessor, pack
            lefts.append(left)
            x = left + items[key].w + H_GAP
        # Rigid shift towards the wanted places (never breaks the spacing just made).
        wanted = [(w - left) for w, left in zip(desired, lefts, strict=True) if w == w]
        shift = min(0.0, sum(wanted) / len(wanted)) if wanted else 0.0
        for key, left in zip(row, lefts, strict=True):
            it = items[key]
            it.x = left + shift
            it.y = y + (height - it.h) / 2 if not it.dummy else y
            if it.dummy:
                it.h = height
        y += height + V_GAP
    min_x = min(it.x for it in items.values())
    for it in items.values():
        it.x -= min_x
    width = max(it.x + it.w for it in items.values())
    return width, y - V_GAP


# -- SVG -------------------------------------------------------------------------------------

STATUS_COLOURS: dict[str, tuple[str, str]] = {  # fill, stroke
    "succeeded": ("#e3f5e1", "#2e7d32"),
    "retried": ("#fff4d6", "#b7791f"),
    "caught": ("#ffe8cc", "#c05621"),
    "failed": ("#fde2e1", "#c62828"),
    "in_progress": ("#e1efff", "#1e63c4"),
    "aborted": ("#eee5f6", "#6b3fa0"),
    "not_reached": ("#f4f4f5", "#a1a1aa"),
}
STATUS_LABELS = {
    "succeeded": "succeeded",
    "retried": "succeeded after retry",
    "caught": "failed, caught",
    "failed": "failed",
    "in_progress": "in progress",
    "aborted": "aborted",
    "not_reached": "not reached",
}

_SVG_STYLE = (
    "text{font:12px system-ui,-apple-system,'Segoe UI',sans-serif;fill:#1f2328}"
    ".type{font-size:10px;fill:#57606a}"
    ".node rect{fill:#fff;stroke:#57606a;stroke-width:1.2}"
    ".container rect{fill:#fafbfc;stroke:#8c959f;stroke-dasharray:5 3}"
    ".lane rect{fill:#fff;stroke:#c6ccd2}"
    ".selected rect{stroke-width:3.5!important}"
    ".edge{fill:none;stroke:#6e7781;stroke-width:1.3}"
    ".edge.catch{stroke:#c05621;stroke-dasharray:6 3}"
    ".edge.back{stroke:#8250df}"
    ".elabel{font-size:10px;fill:#57606a}.elabel.catch{fill:#c05621}"
    "a:hover rect{stroke-width:2.5}"
    + "".join(
        f".st-{status} rect{{fill:{fill};stroke:{stroke}}}"
        for status, (fill, stroke) in STATUS_COLOURS.items()
    )
    + ".st-not_reached text{fill:#71717a}"
)


def render_svg(
    definition: str | Mapping[str, Any],
    statuses: Mapping[str, str] | None = None,
    *,
    links: Mapping[str, str] | None = None,
    selected: str | None = None,
    legend: bool = True,
) -> str:
    """The state machine as a standalone SVG document.

    ``statuses`` maps node ids (see the module doc) or plain state names to a status of
    ``sluice.history`` (the id wins, so one Map iteration can override the flat colours);
    ``links`` maps node ids to hrefs; ``selected`` is a node id drawn with a heavy border.
    """
    lay = layout(definition)
    statuses = statuses or {}
    links = links or {}
    legend_h = 30 if legend else 0
    legend_w = PAD + sum(26 + len(label) * 6 for label in STATUS_LABELS.values())
    width, height = max(lay.width, legend_w if legend else 0), lay.height + legend_h
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="graph" width="{width:.0f}" '
        f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}">',
        f"<style>{_SVG_STYLE}</style>",
        "<defs>",
        *(
            f'<marker id="arrow-{kind}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
            f'markerHeight="7" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" '
            f'fill="{colour}"/></marker>'
            for kind, colour in (("next", "#6e7781"), ("catch", "#c05621"), ("back", "#8250df"))
        ),
        "</defs>",
    ]

    def status_of(node: NodeBox) -> str | None:
        return statuses.get(node.id) or statuses.get(node.name)

    def open_node(node: NodeBox, extra: str) -> None:
        status = status_of(node)
        classes = ["node", extra, f"type-{node.type}"]
        if status:
            classes.append(f"st-{status}")
        if node.id == selected:
            classes.append("selected")
        out.append(
            f'<g class="{" ".join(classes)}" data-id="{escape(node.id)}" '
            f'data-name="{escape(node.name)}" data-status="{status or ""}">'
        )
        if node.id in links:
            out.append(f'<a href="{escape(links[node.id])}">')
        title = f"{node.name} ({node.type})" + (
            f": {STATUS_LABELS.get(status, status)}" if status else ""
        )
        out.append(f"<title>{escape(title)}</title>")

    def close_node(node: NodeBox) -> None:
        out.append("</a></g>" if node.id in links else "</g>")

    for node in sorted((n for n in lay.nodes if n.container), key=lambda n: n.id.count("/")):
        open_node(node, "lane" if node.type == "Branch" else "container")
        out.append(
            f'<rect x="{node.x:.1f}" y="{node.y:.1f}" width="{node.w:.1f}" height="{node.h:.1f}" '
            f'rx="8"/>'
        )
        caption = node.name if node.type == "Branch" else f"{node.name}  ·  {node.type}"
        out.append(f'<text x="{node.x + 10:.1f}" y="{node.y + 17:.1f}">{escape(caption)}</text>')
        close_node(node)

    if lay.start is not None:
        sx, sy = lay.start
        out.append(f'<circle cx="{sx:.1f}" cy="{sy:.1f}" r="6" fill="#1f2328"/>')
    # Labels of edges leaving the same state are staggered along their first segment.
    siblings: dict[int, int] = {}
    seen: dict[str, int] = {}
    for edge in lay.edges:
        if edge.label:
            siblings[id(edge)] = seen.get(edge.source, 0)
            seen[edge.source] = siblings[id(edge)] + 1
    for edge in lay.edges:
        kind = "back" if edge.back else ("catch" if edge.kind == "catch" else "next")
        classes = f"edge {edge.kind}" + (" back" if edge.back else "")
        path = "M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in edge.points)
        out.append(
            f'<path class="{classes}" d="{path}" marker-end="url(#arrow-{kind})" '
            f'data-source="{escape(edge.source)}" data-target="{escape(edge.target)}"/>'
        )
        if edge.label and len(edge.points) >= 2:
            x, y, anchor = _label_spot(edge, siblings.get(id(edge), 0))
            short = edge.label if len(edge.label) <= 30 else edge.label[:29] + "…"
            out.append(
                f'<text class="elabel {edge.kind}" x="{x:.1f}" y="{y:.1f}" '
                f'text-anchor="{anchor}"><title>{escape(edge.label)}</title>'
                f"{escape(short)}</text>"
            )

    for node in lay.nodes:
        if node.container:
            continue
        open_node(node, "state")
        rx = 20 if node.type in ("Succeed", "Fail") else 6
        border = ' stroke-width="2.2"' if node.end else ""
        out.append(
            f'<rect x="{node.x:.1f}" y="{node.y:.1f}" width="{node.w:.1f}" height="{node.h:.1f}" '
            f'rx="{rx}"{border}/>'
        )
        cx = node.x + node.w / 2
        out.append(
            f'<text x="{cx:.1f}" y="{node.y + 17:.1f}" text-anchor="middle">'
            f"{escape(node.name)}</text>"
        )
        out.append(
            f'<text class="type" x="{cx:.1f}" y="{node.y + 31:.1f}" text-anchor="middle">'
            f"{escape(node.type)}</text>"
        )
        close_node(node)

    if legend:
        x, y = PAD, lay.height + 8
        for status, (fill, stroke) in STATUS_COLOURS.items():
            label = STATUS_LABELS[status]
            out.append(
                f'<rect x="{x}" y="{y}" width="14" height="14" rx="3" fill="{fill}" '
                f'stroke="{stroke}"/><text class="type" x="{x + 18}" y="{y + 11}">{label}</text>'
            )
            x += 26 + len(label) * 6
    out.append("</svg>")
    return "\n".join(out)


def _label_spot(edge: Edge, sibling: int) -> tuple[float, float, str]:
    """Where an edge's label goes: on its first segment, on the side the edge leaves to."""
    (x1, y1), (x2, y2) = edge.points[0], edge.points[1]
    if edge.back:
        return x2 + 4, (y1 + y2) / 2, "start"
    t = 0.4 + 0.3 * (sibling % 2)
    x, y = x1 + (x2 - x1) * t, y1 + (y2 - y1) * t
    if x2 < x1 - 1:
        return x - 6, y, "end"
    return x + 6, y + 4, "start"
