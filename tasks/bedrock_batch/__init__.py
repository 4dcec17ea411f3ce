"""bedrock_batch tasks: one Standard state machine owns a Bedrock batch job's lifecycle.

- `validate_config.handler`: the execution input -> a valid config and the job id.
- `select_violations.handler`: DuckDB over `silver.violations` -> a count, the estimate and
  an S3 manifest of the selected rows (never the rows themselves in state).
- `write_input.handler`: manifest -> `bedrock-batches/input/{jobId}/input.jsonl`.
- `submit_job.handler`: CreateModelInvocationJob + the `BedrockBatchJobs` record.
- `poll_job.handler` / `stop_job.handler`: GetModelInvocationJob; StopModelInvocationJob
  when the maximum wait is exceeded.
- `plan_output.handler` / `process_chunk.handler`: the output JSONL in byte-range chunks ->
  BEDROCK_CONTENT items in `Violations`.
- `finish_job.handler` / `fail_job.handler`: the job record's final status and stats.
- `admin_api.handler`: `/admin/bedrock/batch…` routes.
"""
