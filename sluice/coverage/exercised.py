"""Which coverage items one execution's history exercised."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sluice.asl.choice import CannotEvaluate, chosen_rule
from sluice.asl.definition import Outline, Spec
from sluice.asl.edges import catchers, choice_rules, first_matching, retriers
from sluice.asl.events import details, event_kind, failure_error
from sluice.coverage.items import Item
from sluice.history import StateRun, summarize


def exercised(events: Sequence[Mapping[str, Any]], definition: str | Mapping[str, Any]) -> set[str]:
    """Keys of the items (see ``Item.key``) that one execution's history exercised.

    Two readings are combined: the event links (``previousEventId``: a state entered straight
    after another's ``*StateExited``, a task re-scheduled straight after its failure), which
    see inside every attempt of a retried Parallel/Map, and ``sluice.history``'s per-state
    runs, which know the error of a failed Parallel/Map attempt.
    """
    outline = Outline.of(definition)
    hit = _from_links(events, outline)
    _from_runs(summarize(events, definition).states, outline, hit)
    return hit


def _from_links(events: Sequence[Mapping[str, Any]], outline: Outline) -> set[str]:
    by_id = {int(e["id"]): e for e in events}
    specs = outline.states

    def before(event: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
        return by_id.get(int(event.get("previousEventId") or 0)) if event else None

    hit: set[str] = set()
    for event in events:
        kind = event_kind(event)
        name = details(event).get("name")
        if kind.family == "entered" and isinstance(name, str):
            if name in specs:
                hit.add(Item("state", name).key)
            exited = before(event)
            source = details(exited).get("name")
            spec = specs.get(source) if isinstance(source, str) else None
            if spec is None or event_kind(exited).family != "exited":
                continue
            assert isinstance(source, str)
            if spec.get("Type") == "Choice":
                raw = details(before(exited)).get("input")
                language = outline.query_language(source)
                hit |= _choice_keys(
                    source, spec, language, raw if isinstance(raw, str) else None, name
                )
            else:
                error = failure_error(before(exited))
                if error is not None and spec.get("Catch"):
                    hit |= _catch_keys(source, spec, error or None, name)
        elif kind.family == "task" and kind.phase == "Scheduled":
            # Scheduled straight after a failure of the same task: a retry.
            failure = before(event)
            error = failure_error(failure)
            if error is None or event_kind(failure).family != "task":
                continue
            entered = failure
            while entered is not None and event_kind(entered).family != "entered":
                entered = before(entered)
            state = details(entered).get("name")
            if isinstance(state, str) and state in specs:
                hit |= _retry_keys(state, specs[state], [error or None])
    return hit


def _from_runs(runs: Sequence[StateRun], outline: Outline, hit: set[str]) -> None:
    entered = [run for run in runs if run.status != "not_reached"]
    for position, run in enumerate(entered):
        following = entered[position + 1] if position + 1 < len(entered) else None
        spec = outline.states.get(run.name)
        if spec is None:  # a state of another version of the definition
            continue
        hit.add(Item("state", run.name).key)
        if run.type == "Choice" and following is not None:
            language = outline.query_language(run.name)
            hit |= _choice_keys(run.name, spec, language, run.input, following.name)
        # Every failed attempt that another attempt followed was retried.
        retried = [a.error for a in run.attempts[:-1] if not a.succeeded]
        hit |= _retry_keys(run.name, spec, retried)
        if run.status == "caught":
            taken = following.name if following else None
            hit |= _catch_keys(run.name, spec, run.error, taken)
        for children in run.children():
            _from_runs(children, outline, hit)


def _choice_keys(name: str, spec: Spec, language: str, raw: str | None, taken: str) -> set[str]:
    rules = choice_rules(spec)
    default = spec.get("Default")
    chosen: int | None
    try:
        chosen = chosen_rule(spec, json.loads(raw) if raw is not None else None, language)
    except (CannotEvaluate, ValueError, TypeError):
        chosen = -1
    if chosen is None and default == taken:
        return {Item("choice", name, None).key}
    if chosen is not None and chosen >= 0 and rules[chosen].get("Next") == taken:
        return {Item("choice", name, chosen).key}
    # Not evaluable here (or evaluated differently from the engine): every way to `taken`.
    keys = {Item("choice", name, i).key for i, r in enumerate(rules) if r.get("Next") == taken}
    if default == taken:
        keys.add(Item("choice", name, None).key)
    return keys


def _retry_keys(name: str, spec: Spec, errors: Sequence[str | None]) -> set[str]:
    """The retriers that retried failures with ``errors`` (None: error unknown)."""
    entries = retriers(spec)
    keys: set[str] = set()
    for error in errors:
        index = None
        if error is not None:
            matching = first_matching(entries, error)
            index = matching.index if matching is not None else None
        if index is None and len(entries) == 1:
            index = entries[0].index
        if index is not None:
            keys.add(Item("retry", name, index).key)
    return keys


def _catch_keys(name: str, spec: Spec, error: str | None, taken: str | None) -> set[str]:
    entries = catchers(spec)
    if error is not None:
        matching = first_matching(entries, error)
        if matching is not None and (taken is None or matching.next == taken):
            return {Item("catch", name, matching.index).key}
    if taken is None:
        return set()
    return {Item("catch", name, c.index).key for c in entries if c.next == taken}
