"""`sluice up` with the console mounted, for the console tests.

``setdefault`` keeps the stack's own console when ``LocalStack`` mounts one.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sluice.console import console_app
from sluice.stack import LocalStack


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--template", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    args = parser.parse_args()
    stack = LocalStack(args.template, port=args.port, data_dir=args.data_dir)
    stack.gateway.extra.setdefault("/console", console_app(stack))
    stack.start()
    print(f"console at {stack.endpoint}/console", flush=True)
    stack.serve_until_stopped()


if __name__ == "__main__":
    main()
