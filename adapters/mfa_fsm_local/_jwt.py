"""Session JWTs shaped exactly as Stytch B2B issues them, and the JWKS that verifies them.

The official SDK's `sessions.authenticate_jwt_local` accepts these unchanged: RS256 with a
`kid` found in the JWKS; `aud` = project id; `iss` = "stytch.com/{project_id}" (or the API
base URL); `sub` = member id; `iat`/`nbf`/`exp`; a "https://stytch.com/session" claim (id,
RFC 3339 timestamps, `authentication_factors`, `roles`) and a "https://stytch.com/organization"
claim (organization_id, slug). A JWT lives 5 minutes and never outlives its session.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from mfa_fsm import AuthenticationFactor

from ._keys import write_once

__all__ = [
    "DEV_SIGNING_KEY_FILE",
    "JWT_LIFETIME_SECONDS",
    "SESSION_CLAIM",
    "ORGANIZATION_CLAIM",
    "SessionSigner",
    "dev_signer",
    "factor_json",
    "rfc3339",
]

log = logging.getLogger("mfa_fsm_local.jwt")

SESSION_CLAIM = "https://stytch.com/session"
ORGANIZATION_CLAIM = "https://stytch.com/organization"
JWT_LIFETIME_SECONDS = 300
DEV_SIGNING_KEY_FILE = "dev-session-signing-key.pem"
_RESERVED = frozenset({"aud", "exp", "iat", "iss", "jti", "nbf", "sub"})


def rfc3339(ts: float) -> str:
    """Unix time as Stytch writes timestamps: RFC 3339, UTC, whole seconds, "Z"."""
    return _rfc3339(int(ts))


@functools.lru_cache(maxsize=4096)
def _rfc3339(seconds: int) -> str:
    # Cached: a response repeats the same few instants (created, updated, last seen), and
    # strftime was a measurable share of an HTTP `sessions.authenticate`.
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def factor_json(factor: AuthenticationFactor, **details: Mapping[str, str]) -> dict[str, Any]:
    """One `authentication_factors` entry in Stytch's JSON shape.

    `details` adds the per-type object, e.g. `phone_number_factor={"phone_id": ...,
    "phone_number": ...}`, `authenticator_app_factor={"totp_id": ...}`,
    `recovery_code_factor={"totp_recovery_code_id": ...}`, `email_factor={...}`.
    """
    at = rfc3339(factor.last_authenticated_at)
    out: dict[str, Any] = {
        "type": factor.type,
        "delivery_method": factor.delivery_method,
        "last_authenticated_at": at,
        "created_at": at,
        "updated_at": at,
    }
    out.update({name: dict(value) for name, value in details.items()})
    return out


def _b64url_uint(n: int) -> str:
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


class SessionSigner:
    """An RSA-2048 signing key with its `kid`; signs session JWTs, publishes the JWKS."""

    def __init__(self, private_key: rsa.RSAPrivateKey, kid: str | None = None) -> None:
        if private_key.key_size < 2048:
            raise ValueError("RSA signing keys must be at least 2048 bits")
        self._key = private_key
        numbers = private_key.public_key().public_numbers()
        self._jwk = {"e": _b64url_uint(numbers.e), "kty": "RSA", "n": _b64url_uint(numbers.n)}
        self.kid = kid or self.thumbprint()

    def __repr__(self) -> str:
        return f"SessionSigner(kid={self.kid!r})"

    @classmethod
    def generate(cls, kid: str | None = None) -> SessionSigner:
        """A fresh key (public exponent 65537)."""
        return cls(rsa.generate_private_key(public_exponent=65537, key_size=2048), kid)

    @classmethod
    def from_pem(
        cls, pem: bytes, password: bytes | None = None, kid: str | None = None
    ) -> SessionSigner:
        """Load a PKCS#8 or PKCS#1 PEM private key."""
        key = serialization.load_pem_private_key(pem, password=password)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("session signing key must be an RSA private key")
        return cls(key, kid)

    def to_pem(self, password: bytes | None = None) -> bytes:
        """PKCS#8 PEM, encrypted when a password is given, to persist the key."""
        enc: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(password)
            if password
            else serialization.NoEncryption()
        )
        return self._key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc
        )

    def thumbprint(self) -> str:
        """RFC 7638 JWK thumbprint (SHA-256), a stable default `kid` for this key."""
        canonical = json.dumps(self._jwk, separators=(",", ":"), sort_keys=True)
        digest = hashlib.sha256(canonical.encode("ascii")).digest()
        return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")

    def public_jwk(self) -> dict[str, str]:
        """This key's public JWK, as Stytch's JWKS lists it."""
        return {**self._jwk, "use": "sig", "alg": "RS256", "kid": self.kid}

    def jwks(self, *also: SessionSigner) -> dict[str, list[dict[str, str]]]:
        """The JWKS document; pass retired signers in `also` while their JWTs may live."""
        return {"keys": [s.public_jwk() for s in (self, *also)]}

    def sign_session(
        self,
        *,
        project_id: str,
        member_id: str,
        organization_id: str,
        organization_slug: str,
        session_id: str,
        started_at: float,
        last_accessed_at: float,
        session_expires_at: float,
        authentication_factors: Sequence[Mapping[str, Any]],
        roles: Sequence[str],
        now: float,
        issuer: str | None = None,
        lifetime: int = JWT_LIFETIME_SECONDS,
        custom_claims: Mapping[str, Any] | None = None,
    ) -> str:
        """An RS256 session JWT, valid from `now` for `lifetime` seconds or until the
        session expires, whichever is sooner. `authentication_factors` are Stytch-shaped
        (see `factor_json`); `issuer` defaults to "stytch.com/{project_id}".
        """
        iat = int(now)
        exp = min(iat + lifetime, int(session_expires_at))
        if exp <= iat:
            raise ValueError("the session has expired; refusing to sign a JWT for it")
        extra = dict(custom_claims or {})
        clash = (_RESERVED | {SESSION_CLAIM, ORGANIZATION_CLAIM}) & set(extra)
        if clash:
            raise ValueError(f"custom claims may not set {sorted(clash)}")
        payload: dict[str, Any] = {
            **extra,
            "aud": [project_id],
            "iss": issuer or f"stytch.com/{project_id}",
            "sub": member_id,
            "iat": iat,
            "nbf": iat,
            "exp": exp,
            SESSION_CLAIM: {
                "id": session_id,
                "started_at": rfc3339(started_at),
                "last_accessed_at": rfc3339(last_accessed_at),
                "expires_at": rfc3339(session_expires_at),
                "attributes": {"ip_address": "", "user_agent": ""},
                "authentication_factors": [dict(f) for f in authentication_factors],
                "roles": list(roles),
            },
            ORGANIZATION_CLAIM: {"organization_id": organization_id, "slug": organization_slug},
        }
        return jwt.encode(
            payload, self._key, algorithm="RS256", headers={"kid": self.kid, "typ": "JWT"}
        )


def dev_signer(data_dir: str | os.PathLike[str]) -> SessionSigner:
    """A signer from a development PEM in `data_dir`, made once (0600), reused after.

    Warns loudly: production should load its key from a secret store with `from_pem`.
    """
    path = Path(data_dir) / DEV_SIGNING_KEY_FILE
    pem, created = write_once(path, lambda: SessionSigner.generate().to_pem())
    log.warning(
        "USING A DEVELOPMENT SESSION SIGNING KEY (%s %s); load a managed key for production.",
        "created" if created else "reused",
        path,
    )
    return SessionSigner.from_pem(pem)
