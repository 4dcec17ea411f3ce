"""The stack's triggers: Pipes pollers and EventBridge rule delivery, rebuilt on every deploy."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sluice import sqs_atomic, wsgi_client
from sluice.dlq import DeadLetterQueues
from sluice.durable.events import PendingEvents
from sluice.engine import observers
from sluice.engine.observers import PIPE_STATE_SET, RULE_DISABLED, RULE_ENABLED, RULE_PUT
from sluice.engine.speed import PlainJsonClient
from sluice.triggers.build import build_poller
from sluice.triggers.clients import boto3_client_factory
from sluice.triggers.failure_log import FailureLog
from sluice.triggers.poller_group import PollerGroup
from sluice.triggers.queue_poller import LongPolls, QueuePoller
from sluice.triggers.rule_delivery import RuleDelivery, name_of_bus
from sluice.triggers.schedules import Scheduler
from sluice.triggers.specs import PipeSpec, RuleSpec
from sluice.triggers.stream_changes import StreamChanges
from sluice.triggers.stream_poller import StreamPoller
from sluice.triggers.stream_shards import Positions

StartResponse = Any
Poller = (StreamPoller, QueuePoller)


def _clients(endpoint: str, app: wsgi_client.App | None, unflushed: bool = False) -> Any:
    """Clients of the gateway, answered by APP in process when given; UNFLUSHED: their
    requests wait for no commit. Some of the triggers' own (unflushed) clients post their
    JSON without botocore (engine.speed.PlainJsonClient, _skips_botocore): the pollers' SQS
    receives and deletes were a tenth of a sale burst's stack CPU, half of it botocore's,
    and the rules' StartExecution 5%, two thirds of it botocore's."""

    def prepare(client: Any) -> Any:
        wsgi_client.answered_by(client, lambda: app, unflushed=unflushed)
        if unflushed and _skips_botocore(client):
            return PlainJsonClient(client, lambda: app, {wsgi_client.UNFLUSHED: True})
        return client

    return boto3_client_factory(
        prepare=prepare if app else None,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _skips_botocore(client: Any) -> bool:
    """Whether CLIENT's calls can skip botocore: SQS's, whose JSON is what the pollers send
    and read, and Step Functions' where the client makes one attempt per call (a rule's
    StartExecution, each call one attempt of the rule's RetryPolicy), since PlainJsonClient
    never retries. Its answers' dates stay epoch numbers: no trigger reads them."""
    service = client.meta.service_model.service_name
    if service == "sqs":
        return True
    return service == "stepfunctions" and client.meta.config.retries.get("total_max_attempts") == 1


class Triggers:
    def __init__(
        self,
        endpoint: str,
        data_dir: Path,
        retry_delay_s: float = 1.0,
        app: wsgi_client.App | None = None,
    ) -> None:
        # With the gateway's APP, the pollers' and rules' requests are answered in process
        # (sluice/wsgi_client.py), on their own threads, so an SQS poller's long poll waits
        # on its own thread too, where its stop can end it (sluice/sqs_atomic.py).
        self.long_polls: LongPolls | None = sqs_atomic if app else None
        # The streams are this process's too: idle stream pollers wait for their next record.
        self.stream_changes = StreamChanges() if app else None
        # An operator's DLQ listing or redrive answers once its moves are on disk.
        self.clients = _clients(endpoint, app)
        # Deliveries wait for no commit of the durable state: what ends one (an event's end,
        # a message's delete, a stream position) is written after what it did, never
        # before it (sluice/durable/events.py, docs/RUNTIME.md "Durable state").
        self.trigger_clients = _clients(endpoint, app, unflushed=True)
        self.failure_log = FailureLog(data_dir / "delivery-failures.jsonl")
        self.retry_delay_s = retry_delay_s
        self.group = PollerGroup()
        self.rules = RuleDelivery([], self.trigger_clients, retry_delay_s=retry_delay_s)
        self.schedules = Scheduler(self.rules.fire_schedule)
        self.dlqs = DeadLetterQueues(self.clients, self.failure_log)
        self.pipes: list[PipeSpec] = []
        # A durable stack's stream positions and undelivered events (None: in memory only).
        self.positions: Positions | None = None
        self.pending: PendingEvents | None = None
        # Pipes whose DesiredState is STOPPED (template or StopPipe): their pollers are paused.
        self.stopped: set[str] = set()
        # The deployed rules, and each one's State as EventBridge's API last set it: PutRule
        # (a deploy puts the template's), EnableRule, DisableRule, or a restored stack's.
        self._rules: list[RuleSpec] = []
        self._rule_states: dict[tuple[str, str], bool] = {}
        self._lock = threading.Lock()
        for point in PIPE_STATE_SET:
            observers.subscribe(point, self._pipe_state_set)
        observers.subscribe(RULE_PUT, self._rule_put)
        observers.subscribe(RULE_ENABLED, self._rule_enabled)
        observers.subscribe(RULE_DISABLED, self._rule_disabled)

    def _pipe_state_set(self, _backend: Any, pipe: Any, *_: Any, **__: Any) -> None:
        """A pipe's DesiredState was set: its poller stops after the batch it is delivering,
        or starts again where it stopped (a stream pipe at its position, as on AWS). Under
        the lock: a change during a deploy's `apply` reaches the group that `apply` starts."""
        with self._lock:
            if pipe.desired_state == "STOPPED":
                self.stopped.add(pipe.name)
                self.group.pause(pipe.name)
            else:
                self.stopped.discard(pipe.name)
                self.group.unpause(pipe.name)

    def apply(
        self, pipes: list[PipeSpec], rules: list[RuleSpec], resources: dict[str, dict[str, Any]]
    ) -> None:
        """Replace the running pollers and the rule set with the deployed ones.

        A pipe whose definition did not change keeps its poller, and with it its stream
        position, as an updated stack keeps its pipes on AWS. New stream pollers take their
        starting position now, so a LATEST pipe sees every change made after the deploy.
        """
        with self._lock:
            self.group.stop()
            running = {p.spec.name: p for p in self.group.pollers if isinstance(p, Poller)}
            kept = {name: p for name, p in running.items() if p.spec in pipes}
            pollers = [
                kept.get(spec.name)
                or build_poller(
                    spec,
                    self.trigger_clients,
                    failure_log=self.failure_log,
                    retry_delay_s=self.retry_delay_s,
                    positions=self.positions,
                    long_polls=self.long_polls,
                    changes=self.stream_changes,
                )
                for spec in pipes
            ]
            for poller in pollers:
                if isinstance(poller, StreamPoller) and poller.spec.name not in kept:
                    if poller.spec.name in self.stopped:
                        poller.take_positions()
                    else:
                        poller.poll_once()
            self.group = PollerGroup(pollers)
            for name in self.stopped:
                self.group.pause(name)
            self.group.start()
            self.pipes = pipes
            self._rules = rules
            self._apply_rule_states()
            self.dlqs.set_queues(resources, pipes, rules)

    def _rule_put(self, _backend: Any, rule: Any, *_: Any, **__: Any) -> None:
        self._rule_state_set(True, rule.name, rule.event_bus_name, enabled=rule.state == "ENABLED")

    def _rule_enabled(self, _backend: Any, found: bool, name: str, bus: str | None = None) -> None:
        self._rule_state_set(found, name, bus, enabled=True)

    def _rule_disabled(self, _backend: Any, found: bool, name: str, bus: str | None = None) -> None:
        self._rule_state_set(found, name, bus, enabled=False)

    def _rule_state_set(self, found: bool, name: str, bus: str | None, *, enabled: bool) -> None:
        """A rule's State set: from now on it matches and fires, or exists and does nothing
        (events already matched are still delivered, as on AWS)."""
        key = (name_of_bus(bus or "default"), name)
        with self._lock:
            if not found or self._rule_states.get(key) == enabled:
                return
            self._rule_states[key] = enabled
            if any((name_of_bus(r.bus_name), r.name) == key for r in self._rules):
                self._apply_rule_states()  # else the deploy under way applies it

    def _apply_rule_states(self) -> None:
        enabled = [
            rule
            for rule in self._rules
            if self._rule_states.get((name_of_bus(rule.bus_name), rule.name), rule.enabled)
        ]
        self.rules.set_rules(enabled)
        self.schedules.set_rules(enabled)

    def put_events(self, events: Iterable[dict[str, Any]]) -> None:
        routed = [(event, event.pop("_bus", "default")) for event in events]
        if self.pending is not None:  # saved before PutEvents answers
            self.pending.add(routed)
        for event, bus in routed:
            self.rules.deliver(event, bus_name=bus)

    def resume(self) -> int:
        """Deliver the events a previous run of the stack accepted and did not finish
        delivering; answers how many."""
        saved = self.pending.saved() if self.pending is not None else []
        for event, bus in saved:
            self.rules.deliver(event, bus_name=bus)
        return len(saved)

    def stats(self) -> dict[str, Any]:
        return {
            "pipes": self.group.stats(),
            "stopped_pipes": sorted(self.group.stopped),
            "rules": {**self.rules.counters.snapshot(), "pending": self.rules.pending},
        }

    def pipes_overview(self) -> list[dict[str, Any]]:
        """Each pipe and event source mapping: its source, target, state (STOPPING until a
        stopped one has ended its batch in flight) and counters."""
        counters, paused, stopped = self.group.stats(), self.group.paused, self.group.stopped
        return [
            {
                "name": spec.name,
                "kind": "pipe" if ":states:" in spec.target_arn else "event source mapping",
                "source": spec.source_arn,
                "target": spec.target_arn,
                "state": (
                    "STOPPED"
                    if spec.name in stopped
                    else "STOPPING"
                    if spec.name in paused
                    else "RUNNING"
                ),
                **counters.get(spec.name, {}),
            }
            for spec in self.pipes
        ]

    def pipes_endpoint(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(self.pipes_overview()).encode()]

    def stats_endpoint(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(self.stats()).encode()]

    def dlq_endpoint(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        """GET /_sluice/dlq[/NAME]: messages with their failure reason; POST .../NAME/redrive."""
        parts = [p for p in environ["PATH_INFO"].split("/") if p][2:]
        method = environ["REQUEST_METHOD"]
        try:
            if not parts:
                body: Any = self.dlqs.overview()
            elif len(parts) == 1 and method == "GET":
                body = self.dlqs.messages(parts[0])
            elif len(parts) == 2 and parts[1] == "redrive" and method == "POST":
                body = self.dlqs.redrive(parts[0])
            else:
                raise KeyError("/".join(parts))
            status = "200 OK"
        except KeyError as exc:
            body, status = {"error": f"no such dead-letter queue: {exc.args[0]}"}, "404 Not Found"
        data = json.dumps(body, default=str).encode()
        start_response(status, [("Content-Type", "application/json")])
        return [data]

    def stop(self) -> None:
        for point in PIPE_STATE_SET:
            observers.unsubscribe(point, self._pipe_state_set)
        observers.unsubscribe(RULE_PUT, self._rule_put)
        observers.unsubscribe(RULE_ENABLED, self._rule_enabled)
        observers.unsubscribe(RULE_DISABLED, self._rule_disabled)
        self.group.stop()
        if self.stream_changes is not None:
            self.stream_changes.close()
        self.schedules.stop()
        self.rules.stop()
