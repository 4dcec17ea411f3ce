"""The laid-out state machine as a standalone SVG document, coloured by state status."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

from sluice.console.graph.boxes import NodeBox
from sluice.console.graph.labels import BASELINE
from sluice.console.graph.layout import PAD, layout
from sluice.status_looks import STATUS_LOOKS

# The console's names for them: the pages import these.
STATUS_COLOURS: dict[str, tuple[str, str]] = {
    status: (look.fill, look.stroke) for status, look in STATUS_LOOKS.items()
}
STATUS_LABELS: dict[str, str] = {status: look.label for status, look in STATUS_LOOKS.items()}

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
    for edge in lay.edges:
        kind = "back" if edge.back else ("catch" if edge.kind == "catch" else "next")
        classes = f"edge {edge.kind}" + (" back" if edge.back else "")
        path = "M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in edge.points)
        out.append(
            f'<path class="{classes}" d="{path}" marker-end="url(#arrow-{kind})" '
            f'data-source="{escape(edge.source)}" data-target="{escape(edge.target)}"/>'
        )
        box = edge.label_box
        if box is not None:
            out.append(
                f'<text class="elabel {edge.kind}" x="{box.x:.1f}" y="{box.y + BASELINE:.1f}" '
                f'data-source="{escape(edge.source)}" data-target="{escape(edge.target)}">'
                f"<title>{escape(edge.label)}</title>{escape(box.text)}</text>"
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
