"""HTTP Basic auth with the project id and secret, as the Stytch SDKs send them."""

from __future__ import annotations

import base64
import binascii
import hmac


class ProjectCredentials:
    """Checks an `Authorization` header in constant time (no early exit on a wrong id)."""

    def __init__(self, project_id: str, secret: str) -> None:
        if not project_id or not secret:
            raise ValueError("a project id and a secret are required")
        self._project_id = project_id.encode()
        self._secret = secret.encode()

    def check(self, header: bytes | None) -> bool:
        if header is None:
            return False
        scheme, _, encoded = header.partition(b" ")
        if scheme.lower() != b"basic":
            return False
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        user, sep, password = decoded.partition(b":")
        same_id = hmac.compare_digest(user, self._project_id)
        same_secret = hmac.compare_digest(password, self._secret)
        return bool(sep) and same_id and same_secret
