"""What the routes need of a provider: the Stytch B2B operations they call, nothing more.

`LocalProvider` satisfies it; a driver for the hosted Stytch API with the same methods can
be passed to `create_app` instead, chosen by configuration.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol

from mfa_fsm import Engine, Flow
from mfa_fsm_local._ports import Clock
from mfa_fsm_local._records import Member, Organization, Session
from mfa_fsm_local.provider import AuthResult

Enrollment = Literal["enroll", "unenroll"] | None


class FlowReader(Protocol):
    """Reads a stored flow by id, to show the member where the engine has them."""

    def load(self, flow_id: str) -> Flow | None: ...


class MfaProvider(Protocol):
    """The provider operations the pages drive, named and shaped as in Stytch's B2B API."""

    clock: Clock
    engine: Engine

    @property
    def driver(self) -> FlowReader: ...

    def organizations_get(self, organization_id: str) -> Organization: ...

    def members_get(self, organization_id: str, member_id: str) -> Member: ...

    def members_update(self, organization_id: str, member_id: str, **fields: Any) -> Member: ...

    def members_delete_mfa_phone_number(self, organization_id: str, member_id: str) -> Member: ...

    def members_delete_totp(self, organization_id: str, member_id: str) -> Member: ...

    def passwords_authenticate(
        self,
        organization_id: str,
        email_address: str,
        password: str,
        session_duration_minutes: int | None = None,
        request_id: str = "",
    ) -> AuthResult: ...

    def magic_links_email_login_or_signup(
        self, organization_id: str, email_address: str
    ) -> Member: ...

    def magic_links_authenticate(
        self,
        magic_links_token: str,
        session_duration_minutes: int | None = None,
        request_id: str = "",
    ) -> AuthResult: ...

    def otps_sms_send(
        self,
        organization_id: str,
        member_id: str,
        mfa_phone_number: str | None = None,
        intermediate_session_token: str | None = None,
        session_token: str | None = None,
        session_jwt: str | None = None,
        request_id: str = "",
    ) -> AuthResult: ...

    def otps_sms_authenticate(
        self,
        organization_id: str,
        member_id: str,
        code: str,
        intermediate_session_token: str | None = None,
        session_token: str | None = None,
        session_jwt: str | None = None,
        set_mfa_enrollment: Enrollment = None,
        set_default_mfa: bool = False,
        session_duration_minutes: int | None = None,
        request_id: str = "",
    ) -> AuthResult: ...

    def totps_create(
        self,
        organization_id: str,
        member_id: str,
        expiration_minutes: int = 60,
        intermediate_session_token: str | None = None,
        session_token: str | None = None,
        session_jwt: str | None = None,
        request_id: str = "",
    ) -> AuthResult: ...

    def totps_authenticate(
        self,
        organization_id: str,
        member_id: str,
        code: str,
        intermediate_session_token: str | None = None,
        session_token: str | None = None,
        session_jwt: str | None = None,
        set_mfa_enrollment: Enrollment = None,
        set_default_mfa: bool = False,
        session_duration_minutes: int | None = None,
        request_id: str = "",
    ) -> AuthResult: ...

    def recovery_codes_recover(
        self,
        organization_id: str,
        member_id: str,
        recovery_code: str,
        intermediate_session_token: str | None = None,
        session_token: str | None = None,
        session_jwt: str | None = None,
        session_duration_minutes: int | None = None,
        request_id: str = "",
    ) -> tuple[AuthResult, int]: ...

    def recovery_codes_get(self, organization_id: str, member_id: str) -> int: ...

    def recovery_codes_rotate(self, organization_id: str, member_id: str) -> list[str]: ...

    def sessions_authenticate(
        self, session_token: str | None = None, session_jwt: str | None = None
    ) -> tuple[Session, str]: ...

    def sessions_revoke(self, member_session_id: str) -> None: ...


__all__ = ["Enrollment", "FlowReader", "MfaProvider"]
