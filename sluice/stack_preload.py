"""What every stack otherwise loads for itself on its first requests, loaded once by the
stack zygote (`sluice.stack_zygote`) before it forks: each forked stack starts with it.

A test stack's start is mostly this (sampled over forked project stacks): botocore reading
the same service models three times over (moto's request parsing, moto's backends' region
lists, the stack's own boto3 clients), about a quarter of its CPU, and ANTLR learning the
ASL grammar's decisions on its first parses, about a sixth. None of it depends on the
stack's template or environment, and none of it starts a thread, so forking after it is safe.
"""

from __future__ import annotations

import json

from moto.core import utils as moto_utils
from moto.core.base_backend import AccountSpecificBackend

from sluice import aws_client
from sluice.engine import programs

# The services a stack's gateway serves and its deploy, pipes and rules call.
SERVICES = ("dynamodb", "dynamodbstreams", "events", "pipes", "s3", "sqs", "stepfunctions")

# One machine of each state type, in both query languages and with the fields the grammar
# branches on (Retry/Catch, Choice rules, Map and Parallel, intrinsic functions, JSONata).
_GRAMMAR_TOUR = {
    "StartAt": "Task",
    "States": {
        "Task": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": "f", "Payload.$": "States.JsonMerge($, $.a, false)"},
            "ResultSelector": {"body.$": "$.Payload"},
            "ResultPath": "$.result",
            "OutputPath": "$",
            "Retry": [
                {
                    "ErrorEquals": ["States.TaskFailed"],
                    "IntervalSeconds": 1,
                    "MaxAttempts": 2,
                    "BackoffRate": 2.0,
                    "JitterStrategy": "FULL",
                }
            ],
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Fail"}],
            "Next": "Choice",
        },
        "Choice": {
            "Type": "Choice",
            "Choices": [
                {
                    "And": [
                        {"Variable": "$.n", "NumericGreaterThan": 1},
                        {"Variable": "$.s", "StringEquals": "x"},
                        {"Not": {"Variable": "$.b", "IsPresent": True}},
                    ],
                    "Next": "Map",
                }
            ],
            "Default": "Parallel",
        },
        "Map": {
            "Type": "Map",
            "ItemsPath": "$.items",
            "MaxConcurrency": 4,
            "ItemSelector": {"item.$": "$$.Map.Item.Value"},
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "INLINE"},
                "StartAt": "Inner",
                "States": {"Inner": {"Type": "Pass", "Result": {"ok": True}, "End": True}},
            },
            "Next": "Wait",
        },
        "Parallel": {
            "Type": "Parallel",
            "Branches": [
                {
                    "StartAt": "Put",
                    "States": {
                        "Put": {
                            "Type": "Task",
                            "Resource": "arn:aws:states:::dynamodb:putItem",
                            "Parameters": {"TableName": "t", "Item": {"id": {"S.$": "$.id"}}},
                            "End": True,
                        }
                    },
                }
            ],
            "Next": "Wait",
        },
        "Wait": {"Type": "Wait", "Seconds": 1, "Next": "Jsonata"},
        "Jsonata": {
            "Type": "Task",
            "QueryLanguage": "JSONata",
            "Resource": "arn:aws:states:::sqs:sendMessage",
            "Arguments": {"QueueUrl": "q", "MessageBody": "{% $string($states.input) %}"},
            "Assign": {"count": "{% $count($states.input.items) %}"},
            "Output": "{% $states.result %}",
            "Next": "Done",
        },
        "Done": {"Type": "Succeed"},
        "Fail": {"Type": "Fail", "Error": "Failed", "Cause": "failed"},
    },
}


def preload() -> None:
    for service in SERVICES:
        moto_utils.get_service_model(service)
        AccountSpecificBackend.get_session().get_available_regions(service)
        aws_client.client("http://127.0.0.1:9", service)
    programs.parse_uncached(json.dumps(_GRAMMAR_TOUR))
