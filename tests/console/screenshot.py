"""Regenerate docs/console-failed-execution.png: the console's page of a failed execution.

.venv/bin/python tests/console/screenshot.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from console_support import CHROMIUM, CHROMIUM_ARGS, DRILL_INPUT, FIXTURE, ROOT, ConsoleStack
from playwright.sync_api import sync_playwright

from sluice.console.pages import execution_url

OUT = ROOT / "docs" / "console-failed-execution.png"


def main() -> None:
    if not CHROMIUM.exists():
        sys.exit(f"{CHROMIUM} is missing: run scripts/install-browser.sh")
    with tempfile.TemporaryDirectory() as data_dir:
        stack = ConsoleStack(FIXTURE / "template.yaml", Path(data_dir))
        try:
            arn = stack.start("drill", DRILL_INPUT, name="order-7")
            stack.execution(arn)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
                )
                page = browser.new_page(viewport={"width": 1360, "height": 900})
                page.goto(stack.gateway.url + execution_url(arn))
                page.wait_for_selector("#run-title")
                page.screenshot(path=str(OUT))
                browser.close()
        finally:
            stack.stop()
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
