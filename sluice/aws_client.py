"""boto3 clients for the local gateway: its region and placeholder credentials.

Apart from `sluice.deploy`, which imports the engine (moto), so that the CLI and the test
harness make clients without paying for the engine's import.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

from sluice.template import REGION

# A client is shared by a caller's threads (`sluice.client.Gateway` keeps one per service):
# room for as many connections as a burst of them keeps open.
DEFAULTS: dict[str, Any] = {"retries": {"max_attempts": 2}, "max_pool_connections": 32}


def client(endpoint: str, service: str, **config: Any) -> Any:
    return boto3.client(  # type: ignore[call-overload]
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(**{**DEFAULTS, **config}),
    )
