"""CreateStateMachine judges each definition on its own: a rejected definition, or one being
parsed on another thread at the same moment, never changes how the next one is read.

What AWS accepts and rejects ("QueryLanguage" in the Amazon States Language reference,
https://docs.aws.amazon.com/step-functions/latest/dg/statemachine-structure.html, and
"Transforming data with JSONata",
https://docs.aws.amazon.com/step-functions/latest/dg/transforming-data.html):

- JSONPath is the default. A JSONPath machine may set `"QueryLanguage": "JSONata"` on a
  state; a JSONata machine may not set a state back to JSONPath.
- JSONata states have no `Parameters` (they use `Arguments`/`Output`); JSONPath states have
  no `{% %}` expressions.
- Either mistake is `InvalidDefinition` from CreateStateMachine.
- A JSONata expression that fails while the state runs fails it with
  `States.QueryEvaluationError`.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from sluice.testing import StackProcess, module_stack

HERE = Path(__file__).resolve().parent
ROLE = "arn:aws:iam::123456789012:role/sluice-definition-parsing"

parsing_stack = module_stack(HERE / "parsing" / "template.yaml")


def test_an_unreadable_definition_is_rejected_as_invalid_definition(
    parsing_stack: StackProcess,
) -> None:
    sfn = parsing_stack.client("stepfunctions")
    unknown_type = {"StartAt": "A", "States": {"A": {"Type": "Teleport", "End": True}}}
    with pytest.raises(ClientError) as rejected:
        sfn.create_state_machine(
            name=f"unreadable-{uuid.uuid4().hex[:8]}",
            definition=json.dumps(unknown_type),
            roleArn=ROLE,
        )
    assert rejected.value.response["Error"]["Code"] == "InvalidDefinition"
    assert rejected.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
