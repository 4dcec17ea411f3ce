"""transcript_persistence tasks: BDA call-analytics results (S3 -> SQS -> Pipe) into CallRecordings.

The Pipes partial batch response is built by the state machine (JSONata, ReportFailures).

- `load_result.handler`: one SQS record -> the conditional DynamoDB put to make (or a skip).
- `analytics_api.handler`: `GET /analytics/{callId}` (API Gateway HTTP API, payload v2).
"""
