"""The mounting snippet in docs/web.md runs as written (on a temporary data directory)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from starlette.testclient import TestClient

DOC = Path(__file__).resolve().parents[2] / "docs" / "web.md"


def test_the_mount_snippet_serves_the_pages_under_its_prefix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) == 1
    monkeypatch.chdir(tmp_path)
    scope: dict[str, object] = {}
    exec(compile(blocks[0], str(DOC), "exec"), scope)
    with TestClient(scope["app"]) as client:  # type: ignore[arg-type]
        page = client.get("/auth/")
        assert page.status_code == 200 and 'action="/auth/login"' in page.text
    scope["provider"].repo.store.close()  # type: ignore[attr-defined]
    assert (tmp_path / "var" / "mfa" / "mfa.db").exists()
