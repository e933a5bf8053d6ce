"""`mfa-fsm diagram`, and THE staleness test: the committed diagrams are the table's own."""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest

from mfa_fsm import diagrams
from mfa_fsm_cli import diagram

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "diagrams"
STALE = "diagrams/ is stale: run `mfa-fsm diagram` (from the repository root) and commit it"
TEXT_SUFFIXES = (".mmd", ".dot")


def cli(argv: Sequence[str]) -> int:
    """Run the sub-command through its own parser, as `mfa-fsm` does."""
    parser = argparse.ArgumentParser(prog="mfa-fsm")
    diagram.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    code: int = args.run(args)
    return code


def require_dot() -> str:
    """Graphviz, or a skip; under CI=true a missing `dot` is a failure, never a skip."""
    dot = shutil.which("dot")
    if dot is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("Graphviz `dot` must be installed under CI=true (apt-get install graphviz)")
        pytest.skip("Graphviz `dot` is not installed")
    return dot


def files(folder: Path, suffixes: Sequence[str]) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.suffix in suffixes}


def svg_texts(svg: str) -> list[str]:
    """What an SVG says, without where Graphviz put it: titles and text runs, sorted."""
    return sorted(re.findall(r"<(?:title|text)\b[^>]*>([^<]*)</(?:title|text)>", svg))


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A full regeneration with the defaults, as `mfa-fsm diagram` makes it."""
    out = tmp_path_factory.mktemp("diagrams")
    assert cli(["diagram", "--out", str(out)]) == 0
    return out


# ---------------------------------------------------------------- staleness


def test_committed_diagrams_are_fresh(fresh: Path) -> None:
    """THE staleness test: Mermaid and DOT, byte for byte, and no file missing or extra."""
    assert COMMITTED.is_dir(), f"{STALE} (no diagrams/ folder)"
    want, have = files(fresh, TEXT_SUFFIXES), files(COMMITTED, TEXT_SUFFIXES)
    missing = sorted(set(want) - set(have))
    extra = sorted(set(have) - set(want))
    changed = sorted(name for name in set(want) & set(have) if want[name] != have[name])
    assert not (missing or extra or changed), (
        f"{STALE}; missing: {missing}, not generated any more: {extra}, changed: {changed}"
    )


def test_committed_svgs_were_drawn_from_the_committed_dot() -> None:
    """Needs no Graphviz: every SVG carries the hash of the DOT it was drawn from."""
    dots = files(COMMITTED, (".dot",))
    svgs = files(COMMITTED, (".svg",))
    assert sorted(Path(n).stem for n in svgs) == sorted(Path(n).stem for n in dots), STALE
    for name, data in svgs.items():
        stamp = diagram.svg_stamp(data.decode())
        assert stamp is not None, f"{name} has no mfa-fsm stamp; {STALE}"
        source, sha = stamp
        assert source == Path(name).stem + ".dot"
        assert sha == hashlib.sha256(dots[source]).hexdigest(), f"{name}: {STALE}"


def test_committed_svgs_are_what_graphviz_draws_now(fresh: Path) -> None:
    """Byte for byte with the Graphviz that drew them; by content with any other version."""
    require_dot()
    want, have = files(fresh, (".svg",)), files(COMMITTED, (".svg",))
    assert sorted(want) == sorted(have), STALE
    for name in want:
        new, old = want[name].decode(), have[name].decode()
        if diagram.graphviz_version(new) == diagram.graphviz_version(old):
            assert new == old, f"{name}: {STALE}"
        else:
            assert svg_texts(new) == svg_texts(old), f"{name}: {STALE}"


# ---------------------------------------------------------------- the command


def test_default_run_writes_every_view_in_every_format(fresh: Path) -> None:
    names = {p.name for p in fresh.iterdir()}
    stems = {"flow", "flow-summary", "trace-example"} | {f"policy-{p}" for p in diagrams.POLICIES}
    suffixes = ["mmd", "dot"] + (["svg"] if shutil.which("dot") else [])
    assert names == {f"{s}.{x}" for s in stems for x in suffixes}
    flow = (fresh / "flow.mmd").read_text()
    assert flow.splitlines()[3] == "stateDiagram-v2"
    assert "    [*] --> start" in flow
    assert "class authenticated here" in (fresh / "trace-example.mmd").read_text()
    assert "REQUIRED_FOR_ALL, totp" in (fresh / "policy-required-totp-only.mmd").read_text()


def test_regeneration_is_byte_identical_and_rewrites_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["diagram", "--policy", "required-totp-only", "--depth", "2", "--format", "dot"]
    a, b = tmp_path / "a", tmp_path / "b"
    assert cli([*argv, "--format", "mermaid", "--out", str(a)]) == 0
    assert cli([*argv, "--format", "mermaid", "--out", str(b)]) == 0
    assert files(a, TEXT_SUFFIXES) == files(b, TEXT_SUFFIXES)
    capsys.readouterr()
    assert cli([*argv, "--format", "mermaid", "--out", str(a)]) == 0
    assert "0 changed" in capsys.readouterr().out


def test_policy_option_limits_the_views(tmp_path: Path) -> None:
    argv = ["diagram", "--policy", "optional", "--depth", "1", "--format", "mermaid"]
    assert cli([*argv, "--out", str(tmp_path)]) == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["flow-summary.mmd", "flow.mmd", "policy-optional.mmd", "trace-example.mmd"]


def test_unknown_policy_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli(["diagram", "--policy", "nonsense"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_svg_without_graphviz_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(diagram, "find_dot", lambda: None)
    assert cli(["diagram", "--format", "svg", "--out", str(tmp_path / "x")]) == 2
    assert "Graphviz `dot`" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_default_without_graphviz_skips_svg_with_a_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(diagram, "find_dot", lambda: None)
    assert cli(["diagram", "--policy", "optional", "--depth", "1", "--out", str(tmp_path)]) == 0
    assert not list(tmp_path.glob("*.svg"))
    assert list(tmp_path.glob("*.dot"))
    assert "SVG skipped" in capsys.readouterr().err


def test_svg_is_deterministic_and_stamped_with_its_source() -> None:
    dot = require_dot()
    source = diagrams.to_dot(diagrams.extract(), "challenged")
    first, second = diagram.svg(source, "flow.dot", dot), diagram.svg(source, "flow.dot", dot)
    assert first == second
    assert "Generated by graphviz" not in first
    assert diagram.svg_stamp(first) == ("flow.dot", hashlib.sha256(source.encode()).hexdigest())
    assert diagram.graphviz_version(first)
    assert "challenged" in svg_texts(first)


def test_main_has_the_diagram_command(capsys: pytest.CaptureFixture[str]) -> None:
    from mfa_fsm_cli.main import main

    with pytest.raises(SystemExit) as exc:
        main(["diagram", "--help"])
    assert exc.value.code == 0
    assert "--policy" in capsys.readouterr().out


def test_readme_mermaid_block_matches_the_summary_when_marked() -> None:
    """Opt-in: a README block right after `<!-- diagram: NAME.mmd -->` must be that file."""
    readme = ROOT / "README.md"
    text = readme.read_text() if readme.exists() else ""
    blocks = re.findall(r"<!-- diagram: (\S+\.mmd) -->\s*```mermaid\n(.*?)```", text, re.S)
    if not blocks:
        pytest.skip("README.md embeds no marked diagram")
    for name, block in blocks:
        assert block == (COMMITTED / name).read_text(), f"README.md's {name}: {STALE}"
