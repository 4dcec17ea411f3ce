"""EventBridge rules' State, durable: a rule disabled or enabled through the API
(DisableRule, EnableRule, PutRule) keeps that State across a restart or a crash, as a rule
on AWS does. One row per rule, written when its State is set; the deploy of a restart puts
each rule as the template declares it, then the saved State is set again (a rule the
template no longer has is dropped). A later redeploy leaves a rule the template did not
change as it is, State included (sluice/deploy.py, as a CloudFormation update does).
"""

from __future__ import annotations

import json
from typing import Any

from moto.events.exceptions import ResourceNotFoundException
from moto.events.models import EventsBackend, events_backends

from sluice.durable.rows import Rows
from sluice.engine.observers import RULE_DISABLED, RULE_ENABLED, RULE_PUT
from sluice.template import ACCOUNT_ID, REGION
from sluice.triggers.rule_delivery import name_of_bus

KIND = "rules"


def _mark(name: str, bus: str | None, state: str) -> None:
    bus_name = name_of_bus(bus or "default")
    row = json.dumps({"name": name, "bus": bus_name, "state": state}).encode()
    ROWS.mark(f"{bus_name}/{name}", lambda: row)


def _put(_backend: EventsBackend, rule: Any, *_: Any, **__: Any) -> None:
    _mark(rule.name, rule.event_bus_name, rule.state)


def _enabled(_backend: EventsBackend, found: bool, name: str, bus: str | None = None) -> None:
    if found:
        _mark(name, bus, "ENABLED")


def _disabled(_backend: EventsBackend, found: bool, name: str, bus: str | None = None) -> None:
    if found:
        _mark(name, bus, "DISABLED")


def _restore(_key: str, value: bytes) -> bool:
    """Set a rule's saved State again through EventBridge's own calls (the triggers observe
    them); False when the rule is gone."""
    row = json.loads(value)
    backend = events_backends[ACCOUNT_ID][REGION]
    set_state = backend.enable_rule if row["state"] == "ENABLED" else backend.disable_rule
    try:
        return set_state(row["name"], row["bus"])
    except ResourceNotFoundException:  # its bus is gone with it
        return False


ROWS = Rows(
    KIND,
    {
        RULE_PUT: _put,
        RULE_ENABLED: _enabled,
        RULE_DISABLED: _disabled,
    },
    put=_restore,
)
