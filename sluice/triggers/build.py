"""Wiring a PipeSpec to the right poller and target."""

from __future__ import annotations

import os

from sluice.triggers.clients import ClientFactory
from sluice.triggers.failure_log import FailureLog
from sluice.triggers.queue_poller import LongPolls, QueuePoller
from sluice.triggers.specs import PipeSpec
from sluice.triggers.stream_poller import Changes, StreamPoller
from sluice.triggers.stream_shards import Positions
from sluice.triggers.targets import LambdaTarget, StepFunctionsTarget, Target

# Batches in flight per SQS pipe: Lambda's SQS pollers start at five concurrent batches
# (and scale far higher on AWS); each message is owned by one of them through its
# visibility timeout, so each is delivered once unless its batch fails or outlives it.
SQS_CONCURRENCY = 5
# A stack's own choice (`SLUICE_SQS_POLLERS`): one poller makes every batch deterministic,
# for a test that needs messages queued together to arrive as one batch.
POLLERS_ENV = "SLUICE_SQS_POLLERS"


def build_target(spec: PipeSpec, client_factory: ClientFactory) -> Target:
    if ":lambda:" in spec.target_arn:
        return LambdaTarget(client_factory, spec.target_arn, spec.report_item_failures)
    if ":states:" not in spec.target_arn:
        raise ValueError(f"pipe {spec.name}: targets must be state machines or functions")
    return StepFunctionsTarget(client_factory, spec.target_arn, spec.invocation_type)


def build_poller(
    spec: PipeSpec,
    client_factory: ClientFactory,
    *,
    target: Target | None = None,
    failure_log: FailureLog | None = None,
    retry_delay_s: float = 1.0,
    positions: Positions | None = None,
    long_polls: LongPolls | None = None,
    changes: Changes | None = None,
) -> StreamPoller | QueuePoller:
    target = target if target is not None else build_target(spec, client_factory)
    if spec.source_kind == "dynamodb":
        return StreamPoller(
            spec,
            target,
            client_factory,
            retry_delay_s=retry_delay_s,
            positions=positions,
            changes=changes,
        )
    return QueuePoller(
        spec,
        target,
        client_factory,
        failure_log=failure_log,
        concurrency=int(os.environ.get(POLLERS_ENV, SQS_CONCURRENCY)),
        long_polls=long_polls,
    )
