"""Addressing runs of an ``ExecutionStory`` for drill-down, and colouring the graph from it.

A run path names one run: ``("FanOut", "1", "Explode")`` is the ``Explode`` run in branch 1
of ``FanOut``; ``("EachItem", "3")`` is iteration 3 of the Map ``EachItem`` (a scope, not a
run). Graph node ids (see ``graph``) drop Map indexes: the same state in every iteration is
one box, coloured by the iteration being looked at, or by its worst run when none is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sluice.history import STATUS_PRIORITY, StateRun, StateStatus, worst

RunPath = tuple[str, ...]


@dataclass
class Selection:
    path: RunPath
    run: StateRun | None = None  # the path ends with a state name
    scope: list[StateRun] | None = None  # the path ends with a branch/iteration index
    owner: StateRun | None = None  # the Parallel/Map holding ``scope``
    node_id: str | None = None
    trail: list[tuple[str, RunPath]] = field(default_factory=list)  # breadcrumb


def parse_path(text: str | None) -> RunPath:
    return tuple(p for p in (text or "").split("/") if p)


def format_path(path: RunPath) -> str:
    return "/".join(path)


def children_of(run: StateRun) -> list[list[StateRun]]:
    return run.branches if run.type == "Parallel" else run.iterations


def _last(runs: Sequence[StateRun], name: str) -> StateRun | None:
    # A state run twice in one scope (a loop) is shown by its latest run.
    found = [r for r in runs if r.name == name and r.status != "not_reached"]
    if found:
        return found[-1]
    return next((r for r in runs if r.name == name), None)


def select(states: list[StateRun], path: RunPath) -> Selection | None:
    """Resolve PATH in the story; ``None`` when it names nothing."""
    runs: list[StateRun] = states
    run: StateRun | None = None
    node: list[str] = []
    trail: list[tuple[str, RunPath]] = []
    for depth, segment in enumerate(path):
        if depth % 2 == 0:
            run = _last(runs, segment)
            if run is None:
                return None
            node.append(segment)
            trail.append((segment, path[: depth + 1]))
            continue
        assert run is not None
        if not segment.isdigit() or int(segment) >= len(children_of(run)):
            return None
        index = int(segment)
        runs = children_of(run)[index]
        if run.type == "Parallel":
            node.append(segment)
            trail.append((f"branch {index + 1}", path[: depth + 1]))
        else:
            trail.append((f"iteration {index}", path[: depth + 1]))
        if depth == len(path) - 1:
            return Selection(path, scope=runs, owner=run, node_id="/".join(node), trail=trail)
    if run is None:
        return None
    return Selection(path, run=run, node_id="/".join(node), trail=trail)


def path_of(states: list[StateRun], target: StateRun) -> RunPath | None:
    """The run path of TARGET (found by identity)."""
    for run in states:
        if run is target:
            return (run.name,)
        for index, child in enumerate(children_of(run)):
            inner = path_of(child, target)
            if inner is not None:
                return (run.name, str(index), *inner)
    return None


def graph_view(
    states: list[StateRun], focus: RunPath = ()
) -> tuple[dict[str, StateStatus], dict[str, RunPath]]:
    """Statuses and link targets per graph node id.

    Inside a Map, only the iteration on FOCUS's way (if any) is counted; otherwise every
    iteration, a box taking its worst run (and linking to it).
    """
    statuses: dict[str, StateStatus] = {}
    links: dict[str, RunPath] = {}

    def record(node_id: str, status: StateStatus, path: RunPath | None) -> None:
        known = statuses.get(node_id)
        if known is None or STATUS_PRIORITY.index(status) < STATUS_PRIORITY.index(known):
            statuses[node_id] = status
            if path is not None and status != "not_reached":
                links[node_id] = path
        if path is not None and node_id not in links and status != "not_reached":
            links[node_id] = path

    def walk(runs: list[StateRun], id_prefix: str, path_prefix: RunPath) -> None:
        for run in runs:
            node_id = id_prefix + run.name
            path = (*path_prefix, run.name)
            record(node_id, run.status, path)
            if run.type == "Parallel":
                for index, branch in enumerate(run.branches):
                    lane = f"{node_id}/{index}"
                    lane_path = (*path, str(index))
                    record(lane, worst([r.status for r in branch]), lane_path)
                    walk(branch, lane + "/", lane_path)
            elif run.iterations:
                chosen = [
                    i
                    for i in range(len(run.iterations))
                    if focus[: len(path) + 1] == (*path, str(i))
                ]
                for index in chosen or range(len(run.iterations)):
                    walk(run.iterations[index], node_id + "/", (*path, str(index)))

    walk(states, "", ())
    return statuses, links
