"""Stacks with the console mounted, and headless Chromium driven by Playwright."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from console_support import CHROMIUM, CHROMIUM_ARGS, DRILL_INPUT, FIXTURE, ROOT, ConsoleStack

from devkit.transcript_persistence import write_job_output


@pytest.fixture(scope="session")
def console_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleStack]:
    """tests/console/fixture: the drill machine and a queue whose messages always fail.

    The failing drill run and the dead-lettered message are set going at once, so they are
    done by the time the tests look at them.
    """
    stack = ConsoleStack(FIXTURE / "template.yaml", tmp_path_factory.mktemp("console-stack"))
    stack.drill_arn = stack.start("drill", DRILL_INPUT)
    sqs = stack.client("sqs")
    sqs.send_message(QueueUrl=stack.resource("WorkQueue")["url"], MessageBody='{"order": 7}')
    yield stack
    stack.stop()


@pytest.fixture(scope="session")
def real_console_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleStack]:
    """infra/template.yaml, for flows whose input has a schema."""
    stack = ConsoleStack(ROOT / "infra" / "template.yaml", tmp_path_factory.mktemp("console-real"))
    # A run through the real trigger (S3 -> SQS -> Pipe), whose input is what Pipes send.
    resources = stack.gateway.stack()["resources"]
    write_job_output(stack.client("s3"), resources["TranscriptBucket"]["name"], "console-1")
    # Done before any test looks: a test may count what is still running.
    stack.wait_executions("transcript_persistence", 1, timeout=120)
    yield stack
    stack.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the console's browser tests need headless Chromium; "
            "run scripts/install-browser.sh",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()
