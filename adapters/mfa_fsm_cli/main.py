"""`mfa-fsm` entry point: one sub-command per use; each lives in its own module."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mfa-fsm", description="An explicit, checked state machine for MFA flows."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    from . import check, demo, diagram, serve

    check.add_parser(sub)
    diagram.add_parser(sub)
    serve.add_parser(sub)
    demo.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
