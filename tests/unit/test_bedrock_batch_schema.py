"""bedrock_batch config, cost model, selection and model-output validation (no AWS)."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from devkit.violations_sync import seed_violations
from schemas.bedrock_batch import (
    BATCH_DISCOUNT,
    ON_DEMAND_USD_PER_1K_TOKENS,
    TOKENS_PER_VIOLATION,
    BatchConfig,
    ExecutionInput,
    affordable,
    estimate,
    parse_generated,
)
from schemas.validation import describe_validation_error
from tasks.bedrock_batch.errors import InvalidBatchConfigError
from tasks.bedrock_batch.select_violations import select
from tasks.bedrock_batch.validate_config import validate
from tasks.common.lake import catalog_from_env

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    lake = tmp_path_factory.mktemp("lake")
    cat = catalog_from_env({"LAKE_WAREHOUSE": str(lake), "LAKE_CATALOG_URI": ""})
    seed_violations(cat, 2000, months=12)
    return cat


def config(**values: object) -> BatchConfig:
    return BatchConfig.model_validate(values)


# -- config ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"config": {"limits": {"priority": "urgent"}}}, "config.limits.priority"),
        ({"config": {"filters": {"minFineAmount": -5}}}, "config.filters.minFineAmount"),
        ({"config": {"limits": {"maxViolations": 0}}}, "config.limits.maxViolations"),
        ({"config": {"modelId": "gpt-4"}}, "config.modelId"),
        ({"config": {"pollIntervalSeconds": -1}}, "config.pollIntervalSeconds"),
        ({"config": {"filters": {"dateRange": {"start": "2025-02-01", "end": "2025-01-01"}}}},
         "config.filters.dateRange"),
        ({"config": {"filters": {"agences": ["OSHA"]}}}, "config.filters.agences"),
        ({"config": {"filters": {"minFineAmount": 10, "maxFineAmount": 5}}}, "config.filters"),
        ({"jobId": "not a job id"}, "jobId"),
    ],
)  # fmt: skip
def test_invalid_config_names_the_field(payload: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidBatchConfigError) as err:
        validate(payload, "arn:aws:states:us-east-1:1:execution:sm:x")
    assert str(err.value).startswith(f"{field}:") or f"; {field}:" in str(err.value)


def test_valid_config_fills_defaults_and_derives_a_stable_job_id() -> None:
    arn = "arn:aws:states:us-east-1:1:execution:sm:run-1"
    first = validate({"config": {"filters": {"agencies": ["osha", "EPA"]}}}, arn)
    assert first == validate({"config": {"filters": {"agencies": ["osha", "EPA"]}}}, arn)
    assert first["config"]["filters"]["agencies"] == ["EPA", "OSHA"]
    assert first["config"]["pollIntervalSeconds"] == 300
    assert first["jobId"].startswith("batch-")
    assert validate({"jobId": "batch-20260101-abcdef"}, arn)["jobId"] == "batch-20260101-abcdef"


def test_execution_input_is_the_console_form() -> None:
    schema = ExecutionInput.model_json_schema()
    assert "config" in schema["properties"]
    with pytest.raises(ValidationError) as err:
        ExecutionInput.model_validate({"config": {"dryRun": "perhaps"}})
    assert describe_validation_error(err.value).startswith("config.dryRun:")


# -- cost model -------------------------------------------------------------------------------


def test_estimate_is_the_cost_model() -> None:
    e = estimate(1000, HAIKU)
    per_token = ON_DEMAND_USD_PER_1K_TOKENS[HAIKU] / 1000
    assert e.totalTokens == 1000 * TOKENS_PER_VIOLATION == 300_000
    assert e.costUSD == pytest.approx(300_000 * per_token * BATCH_DISCOUNT) == pytest.approx(0.3)
    assert e.onDemandCostUSD == pytest.approx(0.6)
    assert e.costPerViolation == pytest.approx(0.0003)


def test_spend_caps_the_count() -> None:
    assert affordable(config(limits={"maxViolations": 5000, "maxSpendUSD": 0.3})) == 1000
    assert affordable(config(limits={"maxViolations": 50, "maxSpendUSD": 0.3})) == 50
    sonnet = "anthropic.claude-3-5-sonnet-20240620-v1:0"
    assert affordable(config(modelId=sonnet, limits={"maxSpendUSD": 0.27})) == 200


# -- selection (DuckDB over a seeded lake) -------------------------------------------------------


def ids(catalog, cfg: BatchConfig) -> list[str]:  # type: ignore[no-untyped-def]
    return [v.violation_id for v in select(cfg, catalog)]


def test_selection_skips_content_and_the_estimate_matches(catalog) -> None:  # type: ignore[no-untyped-def]
    rows = select(config(), catalog)
    assert 1500 < len(rows) < 2000  # ~10% of the seeded rows already have content
    from tasks.common.lake_sql import duckdb_connection

    with_content = {
        r[0]
        for r in duckdb_connection(catalog)
        .sql("SELECT violation_id FROM silver.violations WHERE bedrock_title IS NOT NULL")
        .fetchall()
    }
    assert not with_content & {r.violation_id for r in rows}
    e = estimate(len(rows), HAIKU)
    assert e.costUSD == pytest.approx(len(rows) * 0.0003)


def test_each_filter_and_limit_changes_the_selection(catalog) -> None:  # type: ignore[no-untyped-def]
    everything = select(config(), catalog)
    base = {v.violation_id for v in everything}
    by = {v.violation_id: v for v in everything}

    def check(cfg: BatchConfig, keep: object) -> list[str]:
        got = ids(catalog, cfg)
        assert got and set(got) < base
        assert all(keep(by[i]) for i in got)  # type: ignore[operator]
        return got

    check(config(filters={"agencies": ["epa"]}), lambda v: v.agency == "EPA")
    check(config(filters={"minFineAmount": 10000}), lambda v: v.fine_amount >= 10000)
    check(config(filters={"maxFineAmount": 1000}), lambda v: v.fine_amount <= 1000)
    check(config(filters={"violationTypes": ["Willful"]}), lambda v: v.violation_type == "Willful")
    check(
        config(filters={"dateRange": {"start": "2024-03-01", "end": "2024-03-31"}}),
        lambda v: str(v.violation_date).startswith("2024-03"),
    )
    high = check(config(limits={"priority": "high"}), lambda v: v.tier == 3)
    medium = check(config(limits={"priority": "medium"}), lambda v: v.tier >= 2)
    assert len(high) < len(medium)
    assert len(ids(catalog, config(limits={"maxViolations": 25}))) == 25
    assert len(ids(catalog, config(limits={"maxSpendUSD": 0.003}))) == 10


def test_the_cap_keeps_the_highest_priority(catalog) -> None:  # type: ignore[no-untyped-def]
    rows = select(config(limits={"maxViolations": 40}), catalog)
    keys = [(-r.tier, -(r.fine_amount or 0)) for r in rows]
    assert keys == sorted(keys)
    assert rows[0].tier == 3


# -- model output -----------------------------------------------------------------------------


def anthropic(text: str) -> dict[str, object]:
    return {"content": [{"type": "text", "text": text}], "role": "assistant"}


def test_good_output_parses() -> None:
    good = {"title": "T", "description": "D", "tags": ["a", "b"]}
    assert parse_generated(anthropic(json.dumps(good))).tags == ["a", "b"]
    assert parse_generated(anthropic("```json\n" + json.dumps(good) + "\n```")).title == "T"


@pytest.mark.parametrize(
    "output",
    [
        anthropic("Sure! Here is a summary."),
        anthropic(json.dumps({"title": "T", "description": "D"})),
        anthropic(json.dumps({"title": "", "description": "D", "tags": ["x"]})),
        anthropic(json.dumps({"title": "T", "description": "D", "tags": []})),
        {"content": []},
        "not an object",
    ],
)
def test_malformed_output_is_rejected(output: object) -> None:
    with pytest.raises(ValueError):
        parse_generated(output)
