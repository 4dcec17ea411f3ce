"""Trigger engine: turns DynamoDB streams, SQS queues and EventBridge events into
state machine invocations with AWS's delivery semantics. Talks to AWS only through an
injected boto3 client factory, so it runs against AWS, the local gateway or moto."""

from sluice.triggers.build import build_poller, build_target
from sluice.triggers.clients import ClientFactory, boto3_client_factory
from sluice.triggers.counters import Counters
from sluice.triggers.failure_log import FailureLog, FailureRecord
from sluice.triggers.filters import RecordFilter, matches
from sluice.triggers.poller_group import Poller, PollerGroup
from sluice.triggers.queue_poller import QueuePoller
from sluice.triggers.rule_delivery import RuleDelivery
from sluice.triggers.specs import PipeSpec, RuleSpec, RuleTargetSpec
from sluice.triggers.stream_poller import StreamPoller
from sluice.triggers.targets import Outcome, StepFunctionsTarget, Target

__all__ = [
    "ClientFactory",
    "Counters",
    "FailureLog",
    "FailureRecord",
    "Outcome",
    "PipeSpec",
    "Poller",
    "PollerGroup",
    "QueuePoller",
    "RecordFilter",
    "RuleDelivery",
    "RuleSpec",
    "RuleTargetSpec",
    "StepFunctionsTarget",
    "StreamPoller",
    "Target",
    "boto3_client_factory",
    "build_poller",
    "build_target",
    "matches",
]
