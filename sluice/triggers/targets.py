"""Pipe targets and the AWS rules for reading a target's batch-item-failure response."""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from sluice.triggers.clients import ClientFactory

log = logging.getLogger(__name__)

# Errors AWS treats as its own (retried indefinitely, not counted against retry limits).
TRANSIENT_ERROR_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "ExecutionLimitExceeded",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalFailure",
        "InternalServerError",
        "InternalError",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)


@dataclass(frozen=True)
class Outcome:
    """Result of one target invocation.

    ``ok``: the whole batch succeeded. ``ok=False`` with ``failed_item_ids`` is a partial
    failure (only those items failed); ``ok=False`` without is a whole-batch failure.
    ``transient`` marks infrastructure errors (throttling, 5xx, connection) that AWS retries
    without counting them against MaximumRetryAttempts / record age.
    """

    ok: bool
    failed_item_ids: list[str] | None = None
    error: str | None = None
    cause: str | None = None
    execution_arn: str | None = None
    transient: bool = False

    @property
    def partial(self) -> bool:
        return not self.ok and bool(self.failed_item_ids)


class Target(Protocol):
    def invoke(self, batch: list[dict[str, Any]]) -> Outcome: ...


def item_id(record: dict[str, Any]) -> str | None:
    """The itemIdentifier AWS expects back for a record: SequenceNumber for streams,
    messageId for SQS."""
    ddb = record.get("dynamodb")
    if isinstance(ddb, dict) and isinstance(ddb.get("SequenceNumber"), str):
        return ddb["SequenceNumber"]
    mid = record.get("messageId")
    return mid if isinstance(mid, str) else None


def batch_item_failures(
    output: Any, valid_ids: Collection[str] | None
) -> tuple[list[str] | None, str | None]:
    """Interpret a successful run's output per the ReportBatchItemFailures contract.

    Returns ``(failed_ids, malformed_reason)``: ``(None, None)`` is full success,
    ``(ids, None)`` a partial failure, ``(None, reason)`` means the whole batch failed
    (empty/null/malformed identifier or one not in the batch).
    """
    if not isinstance(output, dict) or "batchItemFailures" not in output:
        return None, None
    failures = output["batchItemFailures"]
    if failures is None or failures == []:
        return None, None
    if not isinstance(failures, list):
        return None, "batchItemFailures is not a list"
    ids: list[str] = []
    for entry in failures:
        ident = entry.get("itemIdentifier") if isinstance(entry, dict) else None
        if not isinstance(ident, str) or not ident:
            return None, f"malformed batchItemFailures entry: {json.dumps(entry)[:200]}"
        if valid_ids is not None and ident not in valid_ids:
            return None, f"itemIdentifier {ident!r} is not in the batch"
        if ident not in ids:
            ids.append(ident)
    return ids, None


def check_outcome(outcome: Outcome, batch: Sequence[dict[str, Any]]) -> Outcome:
    """Re-validate a partial failure against the batch, whatever target produced it."""
    if not outcome.partial:
        return outcome
    valid = {i for r in batch if (i := item_id(r)) is not None}
    failed, reason = batch_item_failures(
        {"batchItemFailures": [{"itemIdentifier": i} for i in outcome.failed_item_ids or []]},
        valid,
    )
    if reason is not None:
        return replace(
            outcome,
            failed_item_ids=None,
            error=outcome.error or "InvalidBatchItemFailures",
            cause=reason,
        )
    return replace(outcome, failed_item_ids=failed)


def outcome_of_output(
    output: Any, batch: Sequence[dict[str, Any]], execution_arn: str | None = None
) -> Outcome:
    """A successful run's OUTPUT read per the ReportBatchItemFailures contract: success, the
    failed items, or (a malformed answer) the whole batch failed."""
    valid = {i for r in batch if (i := item_id(r)) is not None}
    failed, reason = batch_item_failures(output, valid or None)
    if reason is not None:
        return Outcome(
            ok=False, error="InvalidBatchItemFailures", cause=reason, execution_arn=execution_arn
        )
    if failed:
        return Outcome(
            ok=False,
            failed_item_ids=failed,
            error="BatchItemFailures",
            cause=f"{len(failed)} of {len(batch)} items reported failed",
            execution_arn=execution_arn,
        )
    return Outcome(ok=True, execution_arn=execution_arn)


def outcome_from_exception(exc: Exception) -> Outcome:
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code", "ClientError"))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        return Outcome(
            ok=False,
            error=code,
            cause=str(err.get("Message", exc)),
            transient=code in TRANSIENT_ERROR_CODES or status >= 500,
        )
    if isinstance(exc, BotoCoreError):
        # Connection refused / timeouts: the endpoint, not the workflow, is at fault.
        return Outcome(ok=False, error=type(exc).__name__, cause=str(exc), transient=True)
    return Outcome(ok=False, error=type(exc).__name__, cause=str(exc))


class StepFunctionsTarget:
    """Pipe target for a state machine.

    REQUEST_RESPONSE uses StartSyncExecution (Express only) and honours batchItemFailures in
    the output; FIRE_AND_FORGET uses StartExecution and succeeds once the run has started.
    """

    def __init__(
        self,
        client_factory: ClientFactory,
        state_machine_arn: str,
        invocation_type: str = "REQUEST_RESPONSE",
    ) -> None:
        if invocation_type not in ("REQUEST_RESPONSE", "FIRE_AND_FORGET"):
            raise ValueError(f"bad invocation_type {invocation_type}")
        self.state_machine_arn = state_machine_arn
        self.invocation_type = invocation_type
        self._client_factory = client_factory

    def _client(self) -> Any:
        # StartSyncExecution has a "sync-" host prefix the local gateway cannot serve.
        return self._client_factory("stepfunctions", inject_host_prefix=False)

    def invoke(self, batch: list[dict[str, Any]]) -> Outcome:
        payload = json.dumps(batch)
        try:
            if self.invocation_type == "FIRE_AND_FORGET":
                resp = self._client().start_execution(
                    stateMachineArn=self.state_machine_arn, input=payload
                )
                return Outcome(ok=True, execution_arn=resp.get("executionArn"))
            resp = self._client().start_sync_execution(
                stateMachineArn=self.state_machine_arn, input=payload
            )
        except Exception as exc:
            return outcome_from_exception(exc)

        execution_arn = resp.get("executionArn")
        status = resp.get("status")
        if status != "SUCCEEDED":
            return Outcome(
                ok=False,
                error=resp.get("error") or f"States.{status or 'Unknown'}",
                cause=resp.get("cause"),
                execution_arn=execution_arn,
            )
        try:
            output = json.loads(resp.get("output") or "null")
        except ValueError:
            output = None
        return outcome_of_output(output, batch, execution_arn)


class LambdaTarget:
    """Event source mapping target: the function gets ``{"Records": batch}``, as Lambda's
    SQS and DynamoDB Streams mappings deliver; a raised error fails the whole batch, and
    with ReportBatchItemFailures its ``batchItemFailures`` answer is honoured."""

    def __init__(
        self, client_factory: ClientFactory, function_arn: str, report_item_failures: bool
    ) -> None:
        self.function_arn = function_arn
        self.report_item_failures = report_item_failures
        self._client_factory = client_factory

    def invoke(self, batch: list[dict[str, Any]]) -> Outcome:
        try:
            resp = self._client_factory("lambda").invoke(
                FunctionName=self.function_arn, Payload=json.dumps({"Records": batch}).encode()
            )
            payload = resp["Payload"].read()
        except Exception as exc:
            return outcome_from_exception(exc)
        try:
            output = json.loads(payload or b"null")
        except ValueError:
            output = None
        if resp.get("FunctionError"):
            body = output if isinstance(output, dict) else {}
            return Outcome(
                ok=False,
                error=str(body.get("errorType", "Lambda.Unknown")),
                cause=json.dumps(output)[:4000],
            )
        if not self.report_item_failures:
            return Outcome(ok=True)
        return outcome_of_output(output, batch)
