"""Server-side keys: an HMAC key for hashing codes and tokens, an AES-GCM key for TOTP secrets.

Codes and tokens are stored only as keyed hashes, so a stolen database does not let anyone
brute-force a 6-digit code offline. TOTP secrets must be recoverable (the server recomputes
codes), so they are encrypted at rest, bound to their record id by the associated data:
a ciphertext copied onto another record does not decrypt.

Both keys are derived with HKDF from one 32-byte master key (configuration: base64 in
`MFA_FSM_KEY`), or from a development key file made once in the data directory.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import stat
from collections.abc import Callable, Mapping
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = [
    "DEV_KEY_FILE",
    "ENV_VAR",
    "DecryptError",
    "Keyring",
    "dev_keyring",
    "new_master_key",
    "write_once",
]

log = logging.getLogger("mfa_fsm_local.keys")

ENV_VAR = "MFA_FSM_KEY"
DEV_KEY_FILE = "dev-master.key"
KEY_BYTES = 32
NONCE_BYTES = 12  # 96-bit nonce, as GCM recommends
_TAG_BYTES = 16
_PREFIX = "v1."  # ciphertext format version, so keys or formats can rotate later
_AAD_LABEL = b"mfa-fsm/v1/record\x00"


class DecryptError(Exception):
    """The ciphertext is malformed, tampered with, or belongs to another record or key."""


def new_master_key() -> str:
    """A fresh master key in the base64 form `MFA_FSM_KEY` expects."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode("ascii")


def _decode_key(text: str) -> bytes:
    """Standard or URL-safe base64 of exactly 32 bytes; the message never echoes the value."""
    cleaned = text.strip().replace("-", "+").replace("_", "/")
    cleaned += "=" * (-len(cleaned) % 4)
    try:
        raw = base64.b64decode(cleaned, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("key is not valid base64") from None
    if len(raw) != KEY_BYTES:
        raise ValueError(f"key must decode to {KEY_BYTES} bytes, got {len(raw)}")
    return raw


def _derive(master: bytes, purpose: bytes) -> bytes:
    """Separate keys per purpose, so the HMAC key is never also an AES key."""
    return HKDF(
        algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=b"mfa-fsm/v1/" + purpose
    ).derive(master)


class Keyring:
    """The provider's secret keys. Its repr never shows them."""

    __slots__ = ("_aead", "_hmac_key", "_nonce")

    def __init__(
        self,
        hmac_key: bytes,
        aead_key: bytes,
        *,
        nonce_source: Callable[[int], bytes] = os.urandom,
    ) -> None:
        if len(hmac_key) != KEY_BYTES or len(aead_key) != KEY_BYTES:
            raise ValueError(f"keys must be {KEY_BYTES} bytes")
        self._hmac_key = hmac_key
        self._aead = AESGCM(aead_key)
        self._nonce = nonce_source

    def __repr__(self) -> str:
        return "Keyring(<redacted>)"

    @classmethod
    def from_master(
        cls, master: bytes, *, nonce_source: Callable[[int], bytes] = os.urandom
    ) -> Keyring:
        """Derive both keys from one 32-byte master key."""
        if len(master) != KEY_BYTES:
            raise ValueError(f"master key must be {KEY_BYTES} bytes")
        return cls(
            _derive(master, b"hmac-sha256"),
            _derive(master, b"aes-256-gcm"),
            nonce_source=nonce_source,
        )

    @classmethod
    def from_config(cls, value: str) -> Keyring:
        """From the configured base64 master key (e.g. the `MFA_FSM_KEY` value)."""
        return cls.from_master(_decode_key(value))

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, name: str = ENV_VAR
    ) -> Keyring | None:
        """From `$MFA_FSM_KEY` when it is set and non-empty, else None."""
        value = (os.environ if environ is None else environ).get(name, "")
        if not value.strip():
            return None
        try:
            return cls.from_config(value)
        except ValueError as exc:
            raise ValueError(f"${name}: {exc}") from None

    # -- keyed hashing -------------------------------------------------------------------

    def digest(self, value: str, context: str = "") -> str:
        """HMAC-SHA256 hex of `value`; `context` (e.g. a member id) separates equal values."""
        ctx = context.encode("utf-8")
        msg = len(ctx).to_bytes(4, "big") + ctx + value.encode("utf-8")
        return hmac.new(self._hmac_key, msg, hashlib.sha256).hexdigest()

    def matches(self, value: str, digest: str, context: str = "") -> bool:
        """Whether `value` hashes to `digest`, compared in constant time."""
        expected = self.digest(value, context).encode("ascii")
        return hmac.compare_digest(expected, digest.encode("utf-8", "replace"))

    # -- encryption at rest --------------------------------------------------------------

    def encrypt(self, plaintext: str, record_id: str) -> str:
        """AES-256-GCM under a fresh random nonce; only `record_id` can decrypt it."""
        nonce = self._nonce(NONCE_BYTES)
        if len(nonce) != NONCE_BYTES:
            raise ValueError("nonce source returned the wrong length")
        sealed = self._aead.encrypt(nonce, plaintext.encode("utf-8"), _aad(record_id))
        return _PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii").rstrip("=")

    def decrypt(self, token: str, record_id: str) -> str:
        """The plaintext, or `DecryptError` for tampering, another record id or another key."""
        if not token.startswith(_PREFIX):
            raise DecryptError("unknown ciphertext format")
        body = token[len(_PREFIX) :]
        try:
            blob = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except (binascii.Error, ValueError):
            raise DecryptError("ciphertext is not base64") from None
        if len(blob) < NONCE_BYTES + _TAG_BYTES:
            raise DecryptError("ciphertext is too short")
        nonce, sealed = blob[:NONCE_BYTES], blob[NONCE_BYTES:]
        try:
            plain = self._aead.decrypt(nonce, sealed, _aad(record_id))
        except InvalidTag:
            raise DecryptError("ciphertext failed authentication") from None
        return plain.decode("utf-8")


def _aad(record_id: str) -> bytes:
    return _AAD_LABEL + record_id.encode("utf-8")


# -- the development key file ----------------------------------------------------------------


def write_once(path: Path, make: Callable[[], bytes]) -> tuple[bytes, bool]:
    """The file's bytes, creating it (mode 0600) with `make()` only if it does not exist.

    Written to a private temporary file and hard-linked into place, so concurrent callers
    agree on one content and nobody ever reads a half-written file. Returns (data, created).
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(make())
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(tmp, path)
                return path.read_bytes(), True
            except FileExistsError:
                pass  # another process won the race; use its file
        finally:
            tmp.unlink(missing_ok=True)
    mode = stat.S_IMODE(path.stat().st_mode)
    if os.name == "posix" and mode & 0o077:
        log.warning("key file %s is readable by others (mode %o); chmod 600 it", path, mode)
    return path.read_bytes(), False


def dev_keyring(data_dir: str | os.PathLike[str]) -> Keyring:
    """A keyring from a development key file in `data_dir`, made on first use, then reused.

    Logs a loud warning every time: anyone who can read the data directory can decrypt
    the TOTP secrets. Production sets `MFA_FSM_KEY` instead.
    """
    path = Path(data_dir) / DEV_KEY_FILE
    data, created = write_once(path, lambda: (new_master_key() + "\n").encode("ascii"))
    log.warning(
        "USING A DEVELOPMENT KEY (%s %s): TOTP secrets and code hashes are only as safe as "
        "that file. Set $%s to a base64 32-byte key for production.",
        "created" if created else "reused",
        path,
        ENV_VAR,
    )
    try:
        return Keyring.from_config(data.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise ValueError(f"development key file {path} is corrupt; delete it") from None
