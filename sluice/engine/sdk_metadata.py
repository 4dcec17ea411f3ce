"""`SdkHttpMetadata` and `SdkResponseMetadata` in the results of optimised integrations.

AWS's Step Functions runs its integrations with the AWS SDK for Java, whose results carry
the HTTP status, headers and request id of the service's answer under these two keys
(what states read as `$.SdkHttpMetadata.HttpStatusCode`, ...). moto's integrations drop
botocore's `ResponseMetadata`; the engine's clients remember it per thread as each call
answers, and the integration adds it to the result in AWS's shape.
"""

from __future__ import annotations

import contextvars
import uuid
from typing import Any

_answered: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "sluice_sdk_response_metadata", default=None
)


def remember(metadata: dict[str, Any] | None) -> None:
    """The ResponseMetadata of the call this thread's integration just made."""
    _answered.set(metadata)


def remember_after_call(parsed: Any = None, **_: Any) -> None:
    """botocore's `after-call` event handler."""
    if isinstance(parsed, dict):
        remember(parsed.get("ResponseMetadata"))


def forget() -> None:
    _answered.set(None)


def added_to(result: Any) -> Any:
    """RESULT with the metadata of the last call answered (a fresh request id when the call
    left none, as a client without the handler does)."""
    if not isinstance(result, dict):
        return result
    metadata = _answered.get() or {}
    headers = {str(k): str(v) for k, v in (metadata.get("HTTPHeaders") or {}).items()}
    request_id = metadata.get("RequestId") or headers.get("x-amzn-requestid") or str(uuid.uuid4())
    return {
        **result,
        "SdkHttpMetadata": {
            "AllHttpHeaders": {k: [v] for k, v in headers.items()},
            "HttpHeaders": headers,
            "HttpStatusCode": int(metadata.get("HTTPStatusCode") or 200),
        },
        "SdkResponseMetadata": {"RequestId": request_id},
    }
