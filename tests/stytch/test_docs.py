"""The Python blocks of docs/stytch.md run as written (```py blocks are illustrations)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "stytch.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


def test_doc_has_a_runnable_example() -> None:
    assert BLOCKS


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_doc_snippet_runs(index: int, capsys: pytest.CaptureFixture[str]) -> None:
    exec(compile(BLOCKS[index], f"docs/stytch.md[python block {index}]", "exec"), {})
    expected = [line[2:] for line in BLOCKS[index].splitlines() if line.startswith("# ")]
    assert capsys.readouterr().out.splitlines() == expected
