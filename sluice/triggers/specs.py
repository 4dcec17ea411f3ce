"""Declarative descriptions of pipes (ESM-like pollers) and EventBridge rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

# Plain str fields (validated below) so specs can be built straight from template values.
STARTING_POSITIONS = ("TRIM_HORIZON", "LATEST")
INVOCATION_TYPES = ("REQUEST_RESPONSE", "FIRE_AND_FORGET")


@dataclass(frozen=True)
class PipeSpec:
    """An EventBridge Pipe / event source mapping: source stream or queue -> state machine.

    Defaults follow AWS where AWS has one. ``starting_position`` is required by AWS for
    stream sources; TRIM_HORIZON is the default here so nothing written before the poller
    starts is skipped locally.
    """

    name: str
    source_arn: str
    target_arn: str
    batch_size: int = 10
    batching_window_s: float = 0
    filters: list[dict[str, Any]] = field(default_factory=list)
    starting_position: str = "TRIM_HORIZON"
    max_retry_attempts: int = -1
    max_record_age_s: int = -1
    bisect_on_error: bool = False
    dlq_arn: str | None = None
    invocation_type: str = "REQUEST_RESPONSE"
    # Event source mappings to functions: FunctionResponseTypes [ReportBatchItemFailures].
    report_item_failures: bool = False
    # Stream sources: batches in flight per shard, one per lane of partition keys (1-10).
    parallelization_factor: int = 1

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"pipe {self.name}: batch_size must be >= 1")
        if self.batching_window_s < 0:
            raise ValueError(f"pipe {self.name}: batching_window_s must be >= 0")
        if not 1 <= self.parallelization_factor <= 10:
            raise ValueError(f"pipe {self.name}: ParallelizationFactor must be 1 to 10")
        if self.starting_position not in STARTING_POSITIONS:
            raise ValueError(f"pipe {self.name}: bad starting_position {self.starting_position}")
        if self.invocation_type not in INVOCATION_TYPES:
            raise ValueError(f"pipe {self.name}: bad invocation_type {self.invocation_type}")
        if len(self.filters) > 5:
            raise ValueError(f"pipe {self.name}: at most 5 filter patterns")

    @property
    def source_kind(self) -> Literal["dynamodb", "sqs"]:
        service = self.source_arn.split(":")[2] if self.source_arn.count(":") >= 5 else ""
        if service == "dynamodb" and "/stream/" in self.source_arn:
            return "dynamodb"
        if service == "sqs":
            return "sqs"
        raise ValueError(f"pipe {self.name}: unsupported source {self.source_arn}")

    def aws_range_warnings(self) -> list[str]:
        """Values AWS would reject. Not enforced, so tests can use tiny ages and windows."""
        out: list[str] = []
        if not 1 <= self.batch_size <= 10_000:
            out.append("BatchSize must be 1-10000")
        if self.batching_window_s > 300:
            out.append("MaximumBatchingWindowInSeconds must be 0-300")
        if not -1 <= self.max_retry_attempts <= 10_000:
            out.append("MaximumRetryAttempts must be -1..10000")
        if self.max_record_age_s != -1 and not 60 <= self.max_record_age_s <= 604_800:
            out.append("MaximumRecordAgeInSeconds must be -1 or 60..604800")
        if self.source_kind == "sqs" and (
            self.dlq_arn or self.bisect_on_error or self.max_retry_attempts != -1
        ):
            out.append("SQS sources take no DLQ/bisect/retry settings; use the queue's redrive")
        if ":states:" in self.target_arn and self.invocation_type == "REQUEST_RESPONSE":
            out.append("REQUEST_RESPONSE (StartSyncExecution) works for Express workflows only")
        return out


@dataclass(frozen=True)
class RuleTargetSpec:
    """One target of a rule, with its RetryPolicy and DeadLetterConfig."""

    id: str
    arn: str
    input_path: str | None = None
    input: str | None = None
    max_retry_attempts: int = 185
    max_event_age_s: int = 86_400
    dlq_arn: str | None = None


@dataclass(frozen=True)
class RuleSpec:
    name: str
    bus_name: str
    pattern: dict[str, Any]
    targets: list[RuleTargetSpec] = field(default_factory=list)
    schedule: str | None = None  # a ScheduleExpression: rate(...) or cron(...)
    enabled: bool = True  # State: DISABLED matches and fires nothing (the rule still exists)
