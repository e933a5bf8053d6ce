"""Keyring: keyed hashes, AES-GCM bound to the record id, and the development key file."""

from __future__ import annotations

import base64
import logging
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from mfa_fsm_local._keys import (
    DEV_KEY_FILE,
    DecryptError,
    Keyring,
    dev_keyring,
    new_master_key,
    write_once,
)

MASTER = bytes(range(32))
MASTER_B64 = base64.b64encode(MASTER).decode()


def counter_nonces() -> Callable[[int], bytes]:
    """A deterministic nonce source for tests (never for production)."""
    state = {"n": 0}

    def source(size: int) -> bytes:
        state["n"] += 1
        return state["n"].to_bytes(size, "big")

    return source


@pytest.fixture
def ring() -> Keyring:
    return Keyring.from_master(MASTER)


def test_digest_is_hmac_sha256_hex_and_keyed(ring: Keyring) -> None:
    d = ring.digest("123456")
    assert len(d) == 64 and all(c in "0123456789abcdef" for c in d)
    assert d == Keyring.from_config(MASTER_B64).digest("123456")
    assert d != Keyring.from_master(bytes(32)).digest("123456")
    assert d != ring.digest("123457")


def test_digest_context_separates_equal_values(ring: Keyring) -> None:
    assert ring.digest("123456", "member-a") != ring.digest("123456", "member-b")
    # length-prefixed: moving characters between context and value changes the digest
    assert ring.digest("b1", "a") != ring.digest("1", "ab")


def test_matches(ring: Keyring) -> None:
    d = ring.digest("token", "ctx")
    assert ring.matches("token", d, "ctx")
    assert not ring.matches("token", d)
    assert not ring.matches("tokem", d, "ctx")
    assert not ring.matches("token", d.upper(), "ctx")
    assert not ring.matches("token", "", "ctx")
    assert not ring.matches("token", "é" * 64, "ctx")


def test_aes_gcm_round_trip_with_fresh_nonces(ring: Keyring) -> None:
    a = ring.encrypt("JBSWY3DPEHPK3PXP", "totp-1")
    b = ring.encrypt("JBSWY3DPEHPK3PXP", "totp-1")
    assert a != b  # random nonce each time
    assert "JBSWY3DP" not in a
    assert ring.decrypt(a, "totp-1") == ring.decrypt(b, "totp-1") == "JBSWY3DPEHPK3PXP"


def test_injected_nonce_source_is_used() -> None:
    source = counter_nonces()
    ring = Keyring.from_master(MASTER, nonce_source=source)
    token = ring.encrypt("secret", "r")
    raw = base64.urlsafe_b64decode(token[3:] + "=" * (-len(token[3:]) % 4))
    assert raw[:12] == (1).to_bytes(12, "big")
    assert ring.decrypt(token, "r") == "secret"


def test_tampering_fails(ring: Keyring) -> None:
    token = ring.encrypt("secret", "totp-1")
    body = bytearray(base64.urlsafe_b64decode(token[3:] + "=" * (-len(token[3:]) % 4)))
    for i in (0, 12, len(body) - 1):  # nonce, ciphertext, tag
        forged = bytearray(body)
        forged[i] ^= 1
        bad = "v1." + base64.urlsafe_b64encode(bytes(forged)).decode().rstrip("=")
        with pytest.raises(DecryptError):
            ring.decrypt(bad, "totp-1")
    for bad in ("", "v1.", "v2." + token[3:], "v1.!!!!", token[:20]):
        with pytest.raises(DecryptError):
            ring.decrypt(bad, "totp-1")


def test_wrong_record_id_fails(ring: Keyring) -> None:
    token = ring.encrypt("secret", "totp-1")
    with pytest.raises(DecryptError):
        ring.decrypt(token, "totp-2")
    with pytest.raises(DecryptError):
        ring.decrypt(token, "")


def test_wrong_key_fails(ring: Keyring) -> None:
    token = ring.encrypt("secret", "totp-1")
    with pytest.raises(DecryptError):
        Keyring.from_master(bytes(32)).decrypt(token, "totp-1")


def test_hmac_and_aes_keys_are_separated() -> None:
    ring = Keyring.from_master(MASTER)
    assert ring._hmac_key != MASTER  # derived, not the master itself


@pytest.mark.parametrize("value", ["", "not base64!", base64.b64encode(b"short").decode()])
def test_bad_config_is_refused_without_echoing_it(value: str) -> None:
    with pytest.raises(ValueError) as info:
        Keyring.from_config(value)
    if value:
        assert value not in str(info.value)


def test_from_env() -> None:
    assert Keyring.from_env({}) is None
    assert Keyring.from_env({"MFA_FSM_KEY": "  "}) is None
    ring = Keyring.from_env({"MFA_FSM_KEY": MASTER_B64})
    assert ring is not None and ring.digest("x") == Keyring.from_master(MASTER).digest("x")
    urlsafe = base64.urlsafe_b64encode(MASTER).decode().rstrip("=")
    assert Keyring.from_env({"MFA_FSM_KEY": urlsafe}) is not None
    with pytest.raises(ValueError, match=r"\$MFA_FSM_KEY"):
        Keyring.from_env({"MFA_FSM_KEY": "nope"})


def test_repr_hides_keys(ring: Keyring) -> None:
    assert "redacted" in repr(ring)
    assert MASTER.hex() not in repr(ring)


def test_new_master_key_is_valid_config() -> None:
    assert len(base64.b64decode(new_master_key())) == 32
    Keyring.from_config(new_master_key())


def test_dev_key_created_once_0600_reused_and_logged_without_the_key(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data_dir = tmp_path / "data"
    with caplog.at_level(logging.WARNING, logger="mfa_fsm_local.keys"):
        first = dev_keyring(data_dir)
    path = data_dir / DEV_KEY_FILE
    key_text = path.read_text().strip()
    assert len(base64.b64decode(key_text)) == 32
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert "DEVELOPMENT KEY" in caplog.text and "created" in caplog.text
    token = first.encrypt("secret", "totp-1")

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="mfa_fsm_local.keys"):
        second = dev_keyring(data_dir)
    assert path.read_text().strip() == key_text  # reused, not regenerated
    assert second.decrypt(token, "totp-1") == "secret"
    assert "reused" in caplog.text
    assert not list(data_dir.glob("*.tmp"))
    for text in (caplog.text, *(r.getMessage() for r in caplog.records)):
        assert key_text not in text
        assert base64.b64decode(key_text).hex() not in text


def test_dev_key_file_corrupt_is_an_error(tmp_path: Path) -> None:
    (tmp_path / DEV_KEY_FILE).write_text("garbage")
    os.chmod(tmp_path / DEV_KEY_FILE, 0o600)
    with pytest.raises(ValueError, match="corrupt"):
        dev_keyring(tmp_path)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_write_once_warns_about_loose_permissions(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "k"
    path.write_bytes(b"x")
    os.chmod(path, 0o644)
    with caplog.at_level(logging.WARNING, logger="mfa_fsm_local.keys"):
        data, created = write_once(path, lambda: b"y")
    assert (data, created) == (b"x", False)
    assert "chmod 600" in caplog.text


def test_write_once_loses_race_gracefully(tmp_path: Path) -> None:
    path = tmp_path / "k"

    def make() -> bytes:
        path.write_bytes(b"winner")  # another process finishes first
        return b"loser"

    assert write_once(path, make) == (b"winner", False)
    assert not list(tmp_path.glob("*.tmp"))
