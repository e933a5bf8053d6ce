"""TOTP for authenticator apps, over pyotp: SHA1, 6 digits, 30 s, ±1 step, each step once.

Time is always a parameter (`now`), as in pyotp's `for_time`, so tests need no clock.
`verify` returns the matched time step; the caller stores it and passes it back as
`last_step`, and any code for that step or an earlier one is refused: a code observed over
a shoulder or replayed by a proxy cannot be used again. `hotp` / `totp_at` are the raw
RFC 4226 / RFC 6238 computations, used for the RFCs' test vectors.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable
from typing import Literal

import pyotp
import segno

from ._codes import is_well_formed_code

__all__ = ["Digest", "TotpComponent", "hotp", "totp_at"]

Digest = Literal["sha1", "sha256", "sha512"]
_DIGESTS: dict[str, Callable[..., hashlib._Hash]] = {
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
    "sha512": hashlib.sha512,
}
SECRET_BYTES = 20  # 160 bits, RFC 4226's recommended HMAC-SHA1 key length


def _b32(secret_bytes: bytes) -> str:
    return base64.b32encode(secret_bytes).decode("ascii").rstrip("=")


def hotp(secret_bytes: bytes, counter: int, digits: int = 6, digest: Digest = "sha1") -> str:
    """RFC 4226 HOTP value for `counter` (the same pyotp path TOTP verification uses)."""
    otp = pyotp.HOTP(_b32(secret_bytes), digits=digits, digest=_DIGESTS[digest])
    return otp.at(counter)


def totp_at(
    secret_bytes: bytes,
    for_time: float,
    digits: int = 6,
    digest: Digest = "sha1",
    period: int = 30,
) -> str:
    """RFC 6238 TOTP value at unix time `for_time`."""
    return hotp(secret_bytes, int(for_time // period), digits, digest)


class TotpComponent:
    """TOTP secrets, provisioning URIs, QR codes and replay-proof verification."""

    def __init__(
        self,
        *,
        digits: int = 6,
        period: int = 30,
        window: int = 1,
        token_bytes: Callable[[int], bytes] = secrets.token_bytes,
    ) -> None:
        if not 0 <= window <= 2:
            raise ValueError("window must be 0, 1 or 2 steps")
        self.digits = digits
        self.period = period
        self.window = window
        self._token_bytes = token_bytes

    def _otp(self, secret: str) -> pyotp.TOTP:
        return pyotp.TOTP(secret, digits=self.digits, digest=hashlib.sha1, interval=self.period)

    def new_secret(self) -> str:
        """A fresh base32 secret of 160 random bits (32 characters, no padding)."""
        return _b32(self._token_bytes(SECRET_BYTES))

    def provisioning_uri(self, secret: str, account_name: str, issuer: str) -> str:
        """The otpauth:// URI an authenticator app scans (label "issuer:account")."""
        return self._otp(secret).provisioning_uri(name=account_name, issuer_name=issuer)

    @staticmethod
    def qr_png_base64(uri: str) -> str:
        """The URI as a QR code PNG in a data URI, the shape of Stytch's `qr_code`."""
        return segno.make(uri, error="m", micro=False).png_data_uri(scale=5, border=4)

    def step(self, now: float) -> int:
        """The time step (counter) at unix time `now`."""
        return int(now // self.period)

    def code_at(self, secret: str, now: float) -> str:
        """The current code: for tests, demos and the dev console, never for logs."""
        return self._otp(secret).at(now)

    def is_replay(self, secret: str, code: str, now: float, last_step: int | None) -> bool:
        """Whether `code` is the one already accepted at `last_step` (still in the window):
        a double submission of a right code, which callers refuse without counting."""
        if last_step is None or not is_well_formed_code(code, self.digits):
            return False
        if abs(self.step(now) - last_step) > self.window:
            return False
        expected = self._otp(secret).generate_otp(last_step).encode("ascii")
        return hmac.compare_digest(expected, code.encode("ascii"))

    def verify(self, secret: str, code: str, now: float, last_step: int | None) -> int | None:
        """The matched time step if `code` is valid within ±window steps and newer than
        `last_step`, else None. Store the result as the next `last_step`.

        Every step in the window is compared (constant-time per comparison) so the time
        taken does not depend on which step, if any, matched.
        """
        if not is_well_formed_code(code, self.digits):
            return None
        otp = self._otp(secret)
        current = self.step(now)
        given = code.encode("ascii")
        accepted: int | None = None
        for step in range(current - self.window, current + self.window + 1):
            if step < 0:
                continue
            same = hmac.compare_digest(otp.generate_otp(step).encode("ascii"), given)
            fresh = last_step is None or step > last_step
            if same and fresh and accepted is None:
                accepted = step
        return accepted
