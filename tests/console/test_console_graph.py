"""The graph layout of every state machine: readable (no overlapping boxes) and complete."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest

from sluice.console.graph import LabelBox, Layout, NodeBox, layout, render_svg

ROOT = Path(__file__).resolve().parents[2]
MACHINES = sorted(
    [
        *ROOT.glob("statemachines/*.asl.json"),
        *(ROOT / "tests" / "console" / "fixture" / "statemachines").glob("*.asl.json"),
        *(ROOT / "tests" / "runtime" / "fixture" / "statemachines").glob("*.asl.json"),
    ]
)
SVG = "{http://www.w3.org/2000/svg}"


def load(path: Path) -> dict[str, Any]:
    # DefinitionSubstitutions are unresolved in the files; any ARN will do for a layout.
    text = re.sub(
        r"\$\{[^}]+\}",
        "arn:aws:lambda:us-east-1:123456789012:function:placeholder",
        path.read_text(),
    )
    document: dict[str, Any] = json.loads(text)
    return document


def all_states(machine: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Expected node ids -> ASL type, Parallel lanes included."""
    out: dict[str, str] = {}
    for name, spec in machine["States"].items():
        out[prefix + name] = spec["Type"]
        if spec["Type"] == "Parallel":
            for i, branch in enumerate(spec["Branches"]):
                out[f"{prefix}{name}/{i}"] = "Branch"
                out.update(all_states(branch, f"{prefix}{name}/{i}/"))
        elif spec["Type"] == "Map":
            inner = spec.get("ItemProcessor") or spec["Iterator"]
            out.update(all_states(inner, f"{prefix}{name}/"))
    return out


def ancestors(node: NodeBox, by_id: dict[str, NodeBox]) -> set[str]:
    out = set()
    while node.parent is not None:
        out.add(node.parent)
        node = by_id[node.parent]
    return out


def overlap(a: NodeBox, b: NodeBox) -> bool:
    return a.x < b.x + b.w and b.x < a.x + a.w and a.y < b.y + b.h and b.y < a.y + a.h


def inside(inner: NodeBox, outer: NodeBox) -> bool:
    return (
        outer.x <= inner.x
        and inner.x + inner.w <= outer.x + outer.w
        and outer.y <= inner.y
        and inner.y + inner.h <= outer.y + outer.h
    )


def test_every_flow_and_fixture_machine_is_covered() -> None:
    names = {p.name for p in MACHINES}
    assert "transcript_persistence.asl.json" in names
    assert {"drill.asl.json", "poll_loop.asl.json", "retry_catch.asl.json"} <= names


@pytest.mark.parametrize("path", MACHINES, ids=lambda p: p.name)
def test_layout_has_every_state_and_no_overlapping_boxes(path: Path) -> None:
    machine = load(path)
    lay: Layout = layout(machine)
    by_id = {n.id: n for n in lay.nodes}

    assert {n.id: n.type for n in lay.nodes} == all_states(machine)
    for a, b in combinations(lay.nodes, 2):
        if a.id in ancestors(b, by_id):
            assert inside(b, a), f"{b.id} sticks out of its container {a.id}"
        elif b.id in ancestors(a, by_id):
            assert inside(a, b), f"{a.id} sticks out of its container {b.id}"
        else:
            assert not overlap(a, b), f"{a.id} and {b.id} overlap in {path.name}"
    for node in lay.nodes:
        assert node.x >= 0 and node.x + node.w <= lay.width
        assert node.y >= 0 and node.y + node.h <= lay.height


@pytest.mark.parametrize("path", MACHINES, ids=lambda p: p.name)
def test_forward_transitions_point_down_and_loops_go_back_up(path: Path) -> None:
    lay = layout(load(path))
    by_id = {n.id: n for n in lay.nodes}
    for edge in lay.edges:
        if not edge.source:
            continue  # the start marker
        source, target = by_id[edge.source], by_id[edge.target]
        if edge.back:
            assert target.y <= source.y, f"{edge.source} -> {edge.target} is no loop"
        else:
            assert target.y >= source.y + source.h, f"{edge.source} -> {edge.target} points up"
        assert edge.points[0] != edge.points[-1]


def test_start_at_is_the_top_state_and_edges_are_typed() -> None:
    machine = load(ROOT / "tests" / "console" / "fixture" / "statemachines" / "drill.asl.json")
    lay = layout(machine)
    top = [n for n in lay.nodes if n.parent is None]
    assert min(top, key=lambda n: n.y).id == "Route"
    kinds = {(e.source, e.target): e.kind for e in lay.edges}
    assert kinds[("Route", "Done")] == "choice"
    assert kinds[("Route", "FanOut")] == "default"
    assert kinds[("FanOut", "EachItem")] in ("next", "catch")
    assert kinds[("EachItem/Check", "EachItem/Reject")] == "choice"
    catches = [e for e in lay.edges if e.kind == "catch"]
    assert {(e.source, e.target) for e in catches} >= {("EachItem", "Finish")}
    # Parallel branches sit side by side inside their container.
    lanes = [lay.node("FanOut/0"), lay.node("FanOut/1")]
    assert lanes[0].y == lanes[1].y and lanes[0].x + lanes[0].w <= lanes[1].x


def test_poll_loop_is_drawn_as_a_back_edge() -> None:
    lay = layout(
        load(ROOT / "tests" / "console" / "fixture" / "statemachines" / "poll_loop.asl.json")
    )
    back = [e for e in lay.edges if e.back]
    assert [(e.source, e.target) for e in back] == [("IsDone", "Wait")]
    # It runs right of every box it passes.
    rightmost = max(n.x + n.w for n in lay.nodes if n.parent is None)
    assert max(x for x, _ in back[0].points) > lay.node("IsDone").x + lay.node("IsDone").w
    assert max(x for x, _ in back[0].points) <= lay.width
    assert rightmost <= lay.width


def test_svg_colours_states_by_status_and_marks_the_selected_one() -> None:
    machine = load(ROOT / "tests" / "console" / "fixture" / "statemachines" / "drill.asl.json")
    svg = render_svg(
        machine,
        {
            "Route": "succeeded",
            "FanOut": "caught",
            "FanOut/1/Explode": "failed",
            "Finish": "failed",
        },
        links={"Finish": "/console/x?run=Finish"},
        selected="Finish",
    )
    root = ET.fromstring(svg)
    groups = {g.get("data-id"): g for g in root.iter(f"{SVG}g") if g.get("data-id")}
    assert "st-failed" in groups["Finish"].get("class", "")
    assert "selected" in groups["Finish"].get("class", "")
    assert "st-caught" in groups["FanOut"].get("class", "")
    assert "st-failed" in groups["FanOut/1/Explode"].get("class", "")
    assert "st-" not in groups["Done"].get("class", "")  # no status given, no colour
    link = groups["Finish"].find(f"{SVG}a")
    assert link is not None and link.get("href") == "/console/x?run=Finish"
    catch_paths = [p for p in root.iter(f"{SVG}path") if "catch" in (p.get("class") or "")]
    assert catch_paths and all("arrow-catch" in (p.get("marker-end") or "") for p in catch_paths)


def label_boxes_overlap(a: LabelBox, b: LabelBox) -> bool:
    return a.x < b.x + b.w and b.x < a.x + a.w and a.y < b.y + b.h and b.y < a.y + a.h


@pytest.mark.parametrize("path", MACHINES, ids=lambda p: p.name)
def test_edge_labels_overlap_no_other_label_and_stay_in_the_graph(path: Path) -> None:
    lay = layout(load(path))
    labelled = [e for e in lay.edges if e.label]
    boxes = [e.label_box for e in labelled if e.label_box is not None]
    assert len(boxes) == len(labelled), "every labelled edge has its label drawn"
    for a, b in combinations(boxes, 2):
        assert not label_boxes_overlap(a, b), f"{a.text!r} and {b.text!r} overlap in {path.name}"
    for box in boxes:
        assert box.x >= 0 and box.x + box.w <= lay.width
        assert box.y >= 0 and box.y + box.h <= lay.height


def test_the_labels_of_a_choice_with_five_ways_out_are_all_apart() -> None:
    lay = layout(load(ROOT / "statemachines" / "sale_dual_write.asl.json"))
    source = "ClaimSale/0/WhoHoldsTheClaim"
    edges = [e for e in lay.edges if e.source == source]
    assert [e.kind for e in edges] == ["choice"] * 4 + ["default"]
    boxes = [e.label_box for e in edges]
    assert all(box is not None for box in boxes)
    # Each label sits beside its own edge, below the Choice and above the states it leads to.
    choice = lay.node(source)
    for edge, box in zip(edges, boxes, strict=True):
        assert box is not None
        assert choice.y + choice.h <= box.y and box.y + box.h <= lay.node(edge.target).y
    assert len({(b.x, b.y) for b in boxes if b is not None}) == 5
