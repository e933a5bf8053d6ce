"""Primary factors: passwords (migrated hashes, argon2 or bcrypt) and email magic links.

Both end in `begin_mfa`, which hands over to the engine: a session, or an IST plus
`mfa_required` exactly as Stytch returns them.
"""

from __future__ import annotations

import functools
import uuid
from typing import TYPE_CHECKING, Any

import bcrypt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from mfa_fsm import AuthenticationFactor

from ._driver import member_key, new_token
from ._ports import Message, Sender
from ._records import MagicLink, Member, Organization
from ._store import Conflict
from ._unit import Units, in_unit
from .errors import InvalidArgument, MagicLinkNotFound, UnauthorizedCredentials

if TYPE_CHECKING:
    from ._driver import Settings
    from ._keys import Keyring
    from ._ports import Clock
    from ._repo import Repo
    from .provider import AuthResult

HASH_TYPES: dict[str, tuple[str, ...]] = {
    "argon_2id": ("$argon2id$",),
    "argon_2i": ("$argon2i$",),
    "bcrypt": ("$2a$", "$2b$", "$2y$"),
}
_argon = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Made on first use (not at import: it costs a hashing) and kept."""
    return _argon.hash("not a password: equalises timing for unknown members")


class Primary:
    """Password and magic-link operations; mixed into `LocalProvider`."""

    repo: Repo
    clock: Clock
    keyring: Keyring
    email: Sender
    settings: Settings
    units: Units

    if TYPE_CHECKING:  # provided by Admin and LocalProvider

        def organizations_get(self, organization_id: str) -> Organization: ...
        def member_by_email(self, organization_id: str, email_address: str) -> Member | None: ...
        def members_create(self, organization_id: str, email_address: str, **kw: Any) -> Member: ...
        def begin_mfa(
            self,
            org: Organization,
            member: Member,
            factor: AuthenticationFactor,
            request_id: str,
            **ctx: Any,
        ) -> AuthResult: ...

    # ----------------------------------------------------------- passwords

    @in_unit
    def passwords_migrate(
        self,
        organization_id: str,
        email_address: str,
        hash: str,
        hash_type: str,
        **member_fields: Any,
    ) -> Member:
        """Import an existing hash in PHC (argon2) or modular (bcrypt) string form."""
        prefix = HASH_TYPES.get(hash_type)
        if prefix is None:
            raise InvalidArgument(f"hash_type must be one of {', '.join(sorted(HASH_TYPES))}")
        if not hash.startswith(prefix):
            raise InvalidArgument(f"hash is not a {hash_type} hash in PHC/modular string form")
        member = self.member_by_email(organization_id, email_address)
        if member is None:
            member = self.members_create(organization_id, email_address, **member_fields)
        mkey = member_key(member.organization_id, member.member_id)
        password_id = f"member-password-{uuid.uuid4()}"
        change = {"password_hash": hash, "member_password_id": password_id}
        updated = self.repo.update("members", mkey, Member, lambda m: m.model_copy(update=change))
        assert updated is not None
        return updated

    def passwords_authenticate(
        self,
        organization_id: str,
        email_address: str,
        password: str,
        session_duration_minutes: int | None = None,
        request_id: str = "",
    ) -> AuthResult:
        org = self.organizations_get(organization_id)
        member = self.member_by_email(org.organization_id, email_address)
        if member is None or not member.password_hash:
            _verify(_dummy_hash(), password)  # same cost whether or not the member exists
            raise UnauthorizedCredentials()
        if not _verify(member.password_hash, password):
            raise UnauthorizedCredentials()
        factor = AuthenticationFactor(
            type="password", delivery_method="knowledge", last_authenticated_at=self.clock.now()
        )
        return self.begin_mfa(
            org, member, factor, request_id, session_duration_minutes=session_duration_minutes
        )

    # ----------------------------------------------------------- magic links

    @in_unit
    def magic_links_email_login_or_signup(self, organization_id: str, email_address: str) -> Member:
        """Send a single-use login link; unknown addresses sign up as new members."""
        org = self.organizations_get(organization_id)
        member = self.member_by_email(org.organization_id, email_address)
        if member is None:
            member = self.members_create(org.organization_id, email_address)
        token = new_token()
        now = self.clock.now()
        link = MagicLink(
            organization_id=org.organization_id,
            member_id=member.member_id,
            expires_at=now + self.settings.magic_link_seconds,
        )
        self.repo.create("magic_links", self.keyring.digest(token, "magic"), link, link.expires_at)
        query = f"stytch_token_type=multi_tenant_magic_links&token={token}"
        body = f"Log in to {org.organization_name}: ?{query}"
        self.units.deliver(
            self.email,
            Message(kind="email", to=member.email_address, body=body, token=token, sent_at=now),
        )
        return member

    @in_unit
    def magic_links_authenticate(
        self,
        magic_links_token: str,
        session_duration_minutes: int | None = None,
        request_id: str = "",
    ) -> AuthResult:
        key = self.keyring.digest(magic_links_token, "magic")
        found = self.repo.load("magic_links", key, MagicLink)
        now = self.clock.now()
        if found is None or found[0].used or found[0].expires_at <= now:
            raise MagicLinkNotFound()
        link, version = found
        try:
            self.repo.save("magic_links", key, link.model_copy(update={"used": True}), version)
        except Conflict:
            raise MagicLinkNotFound() from None
        org = self.organizations_get(link.organization_id)
        mkey = member_key(link.organization_id, link.member_id)
        member = self.repo.update(
            "members", mkey, Member, lambda m: m.model_copy(update={"email_address_verified": True})
        )
        if member is None:
            raise MagicLinkNotFound()
        factor = AuthenticationFactor(
            type="magic_link", delivery_method="email", last_authenticated_at=now
        )
        return self.begin_mfa(
            org, member, factor, request_id, session_duration_minutes=session_duration_minutes
        )


def _verify(stored: str, password: str) -> bool:
    if stored.startswith("$argon2"):
        try:
            return _argon.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
    try:
        return bcrypt.checkpw(password.encode(), stored.encode())
    except ValueError:
        return False


__all__ = ["HASH_TYPES", "Primary"]
