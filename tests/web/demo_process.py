"""`mfa-fsm demo` as a real child process on a free loopback port, always killed after."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def demo_command() -> list[str]:
    script = Path(sys.executable).with_name("mfa-fsm")
    if script.exists():
        return [str(script), "demo"]
    return [sys.executable, "-m", "mfa_fsm_cli.main", "demo"]


@dataclass
class Demo:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for_output(self, text: str, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out = self.output()
            if text in out:
                return out
            time.sleep(0.05)
        raise AssertionError(f"{text!r} never appeared in the demo's output:\n{self.output()}")


@contextmanager
def running_demo(data_dir: Path, log: Path, *extra: str) -> Iterator[Demo]:
    """Start the demo, wait until it answers, yield it; terminate (then kill) it at the end."""
    port = free_port()
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [*demo_command(), "--port", str(port), "--data-dir", str(data_dir), *extra],
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    demo = Demo(f"http://127.0.0.1:{port}", process, log)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise AssertionError(f"the demo exited with {process.returncode}:\n{demo.output()}")
            try:
                if httpx.get(demo.url + "/", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"the demo did not answer in 30 s:\n{demo.output()}")
            time.sleep(0.1)
        yield demo
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
