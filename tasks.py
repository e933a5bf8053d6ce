"""The project's two commands, needing only Python 3.11+ and pip.

    python3 tasks.py start   # install into .venv, then run the demo (Ctrl+C stops it)
    python3 tasks.py test    # install into .venv, then lint, type-check and run every test

Dependencies come pinned from requirements.lock, so every install is the same.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"


def run(*cmd: str | Path) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    code = subprocess.call([str(c) for c in cmd], cwd=ROOT)
    if code:
        sys.exit(code)


def install() -> None:
    if not PY.exists():
        venv.EnvBuilder(with_pip=True).create(VENV)
    run(PY, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
        "-c", "requirements.lock", "-e", ".[dev]")


def start() -> None:
    """The main job: the demo pages on 127.0.0.1:8000, on the embedded SQLite default."""
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl+C is how the demo ends
        run(BIN / "mfa-fsm", "demo", *sys.argv[2:])


def test() -> None:
    run(BIN / "ruff", "check", "mfa_fsm", "adapters", "tests", "benchmarks", "tasks.py")
    run(BIN / "ruff", "format", "--check", "mfa_fsm", "adapters", "tests", "benchmarks")
    run(BIN / "mypy")
    run(PY, "-m", "pytest", "-p", "no:cacheprovider", "-n", "2", *sys.argv[2:])


def main() -> None:
    commands = {"start": start, "test": test}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        sys.exit(f"usage: python3 {Path(__file__).name} {{{'|'.join(commands)}}}")
    install()
    commands[sys.argv[1]]()


if __name__ == "__main__":
    main()
