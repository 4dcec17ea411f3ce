"""Layering one machine level: back edges, ranks, order within a rank, coordinates."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

H_GAP = 36

Edge4 = tuple[str, str, str, str]  # source, target, kind, label


@dataclass
class Item:
    """A node or a dummy point in the layered layout of one level."""

    key: str
    w: float
    h: float
    rank: int
    dummy: bool = False
    x: float = 0.0
    y: float = 0.0


def back_edges(start: str, names: list[str], edges: list[Edge4]) -> set[int]:
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


def ranks(start: str, names: list[str], forward: list[Edge4]) -> dict[str, int]:
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


def order(
    items: dict[str, Item], chains: list[list[str]], back: set[int], start: str
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


def place(
    rows: list[list[str]],
    items: dict[str, Item],
    chains: list[list[str]],
    back: set[int],
    gaps: list[float],
) -> tuple[float, float]:
    """Coordinates: rows top to bottom, ``gaps[r]`` below row ``r``; in a row, each item near
    its predecessors' centre."""
    preds: dict[str, list[str]] = {k: [] for k in items}
    for index, chain in enumerate(chains):
        if index not in back:
            for a, b in pairwise(chain):
                preds[b].append(a)
    y = 0.0
    for row, gap in zip(rows, gaps, strict=True):
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
        y += height + gap
    min_x = min(it.x for it in items.values())
    for it in items.values():
        it.x -= min_x
    width = max(it.x + it.w for it in items.values())
    return width, y - gaps[-1]
