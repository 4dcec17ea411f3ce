"""transcript_persistence tasks: BDA call-analytics results (S3 -> SQS -> Pipe) into CallRecordings.

- `load_result.handler`: one SQS record -> the conditional DynamoDB put to make (or a skip).
- `report_failures.handler`: the Map's per-message outcomes -> Pipes' `batchItemFailures`.
- `analytics_api.handler`: `GET /analytics/{callId}` (API Gateway HTTP API, payload v2).
"""
