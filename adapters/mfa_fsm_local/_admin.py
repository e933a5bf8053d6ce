"""Organizations and members: create, get, update, delete factors. Validated on the way in."""

from __future__ import annotations

import json
import uuid
from typing import Any

from pydantic import ValidationError

from mfa_fsm import Method, MfaMethods, MfaPolicy

from ._codes import normalize_phone
from ._driver import FlowDriver, member_key
from ._ports import Clock
from ._records import Member, Organization
from ._repo import Repo
from ._store import Conflict
from ._unit import Units, in_unit
from .errors import (
    AllowedMfaMethodsRequired,
    DuplicateEmail,
    DuplicateSlug,
    InvalidArgument,
    InvalidMfaMethods,
    InvalidOrganizationMfaPolicy,
    MemberNotFound,
    OrganizationNotFound,
)

MEMBER_FIELDS = {
    "name", "mfa_phone_number", "mfa_enrolled", "default_mfa_method", "roles", "is_breakglass",
}  # fmt: skip


def _policy(settings: dict[str, Any]) -> dict[str, Any]:
    """Check the MFA settings and return them in stored form."""
    out: dict[str, Any] = {}
    if "mfa_policy" in settings:
        try:
            out["mfa_policy"] = MfaPolicy(settings["mfa_policy"])
        except ValueError:
            raise InvalidOrganizationMfaPolicy() from None
    if "mfa_methods" in settings:
        try:
            out["mfa_methods"] = MfaMethods(settings["mfa_methods"])
        except ValueError:
            raise InvalidMfaMethods() from None
    if "allowed_mfa_methods" in settings:
        raw = settings["allowed_mfa_methods"]
        try:
            out["allowed_mfa_methods"] = sorted({Method(m) for m in raw})
        except (TypeError, ValueError):
            raise InvalidMfaMethods("allowed_mfa_methods may hold only sms_otp and totp") from None
    return out


class Admin:
    """Admin operations over organizations and members."""

    repo: Repo
    clock: Clock
    driver: FlowDriver
    units: Units

    # ----------------------------------------------------------- organizations

    @in_unit
    def organizations_create(
        self, organization_name: str, organization_slug: str, **settings: Any
    ) -> Organization:
        now = self.clock.now()
        fields = _policy(settings)
        try:
            org = Organization(
                organization_id=f"organization-{uuid.uuid4()}",
                organization_name=organization_name,
                organization_slug=organization_slug,
                created_at=now,
                updated_at=now,
                **fields,
            )
        except ValidationError as exc:
            raise InvalidArgument(_first(exc)) from None
        _check_restricted(org)
        try:
            self.repo.store.put(
                "org_slugs", org.organization_slug, json.dumps(org.organization_id), 0
            )
        except Conflict:
            raise DuplicateSlug() from None
        self.repo.create("organizations", org.organization_id, org)
        return org

    def organizations_get(self, organization_id: str) -> Organization:
        org = self.repo.get("organizations", organization_id, Organization)
        if org is None:
            slug = self.repo.store.get("org_slugs", organization_id)
            if slug is not None:
                org = self.repo.get("organizations", json.loads(slug.data), Organization)
        if org is None:
            raise OrganizationNotFound()
        return org

    @in_unit
    def organizations_update(self, organization_id: str, **settings: Any) -> Organization:
        org = self.organizations_get(organization_id)
        fields = _policy(settings)
        if "organization_name" in settings:
            fields["organization_name"] = settings["organization_name"]
        now = self.clock.now()

        def change(o: Organization) -> Organization:
            try:
                new = Organization.model_validate(o.model_dump() | fields | {"updated_at": now})
            except ValidationError as exc:
                raise InvalidArgument(_first(exc)) from None
            _check_restricted(new)
            return new

        updated = self.repo.update("organizations", org.organization_id, Organization, change)
        assert updated is not None
        return updated

    # ----------------------------------------------------------- members

    @in_unit
    def members_create(self, organization_id: str, email_address: str, **fields: Any) -> Member:
        org = self.organizations_get(organization_id)
        unknown = set(fields) - MEMBER_FIELDS
        if unknown:
            raise InvalidArgument(f"unknown member fields: {', '.join(sorted(unknown))}")
        now = self.clock.now()
        email = email_address.strip().lower()
        fields = _member_fields(fields)
        try:
            member = Member(
                organization_id=org.organization_id,
                member_id=f"member-{uuid.uuid4()}",
                email_address=email,
                created_at=now,
                updated_at=now,
                **fields,
            )
        except ValidationError as exc:
            raise InvalidArgument(_first(exc)) from None
        index = f"{org.organization_id}/{email}"
        try:
            self.repo.store.put("member_emails", index, json.dumps(member.member_id), 0)
        except Conflict:
            raise DuplicateEmail() from None
        self.repo.create("members", member_key(org.organization_id, member.member_id), member)
        return member

    def members_get(self, organization_id: str, member_id: str) -> Member:
        org = self.organizations_get(organization_id)
        member = self.repo.get("members", member_key(org.organization_id, member_id), Member)
        if member is None:
            raise MemberNotFound()
        return member

    def member_by_email(self, organization_id: str, email_address: str) -> Member | None:
        org = self.organizations_get(organization_id)
        doc = self.repo.store.get(
            "member_emails", f"{org.organization_id}/{email_address.strip().lower()}"
        )
        if doc is None:
            return None
        return self.repo.get(
            "members", member_key(org.organization_id, json.loads(doc.data)), Member
        )

    @in_unit
    def members_update(self, organization_id: str, member_id: str, **fields: Any) -> Member:
        member = self.members_get(organization_id, member_id)
        unknown = set(fields) - MEMBER_FIELDS
        if unknown:
            raise InvalidArgument(f"unknown member fields: {', '.join(sorted(unknown))}")
        changes = _member_fields(fields)
        now = self.clock.now()

        def change(m: Member) -> Member:
            try:
                return Member.model_validate(m.model_dump() | changes | {"updated_at": now})
            except ValidationError as exc:
                raise InvalidArgument(_first(exc)) from None

        mkey = member_key(member.organization_id, member.member_id)
        updated = self.repo.update("members", mkey, Member, change)
        assert updated is not None
        self.driver.audit_factor(mkey, "member updated: " + ",".join(sorted(changes)), now)
        return updated

    @in_unit
    def members_delete_mfa_phone_number(self, organization_id: str, member_id: str) -> Member:
        member = self.members_get(organization_id, member_id)
        mkey = member_key(member.organization_id, member.member_id)
        updated = self.driver.remove_factor(mkey, Method.SMS_OTP, self.clock.now())
        assert updated is not None
        return updated

    @in_unit
    def members_delete_totp(self, organization_id: str, member_id: str) -> Member:
        member = self.members_get(organization_id, member_id)
        mkey = member_key(member.organization_id, member.member_id)
        updated = self.driver.remove_factor(mkey, Method.TOTP, self.clock.now())
        assert updated is not None
        return updated


def _member_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """Normalise what an admin may set; a phone set by an admin counts as not yet verified."""
    out = dict(fields)
    phone = out.get("mfa_phone_number")
    if phone:
        out["mfa_phone_number"] = normalize_phone(str(phone))
        out["mfa_phone_number_verified"] = False
    if out.get("default_mfa_method") not in (None, "", "sms_otp", "totp"):
        raise InvalidArgument("default_mfa_method must be sms_otp or totp")
    if "roles" in out:
        out["roles"] = [str(r) for r in out["roles"]]
    return out


def _check_restricted(org: Organization) -> None:
    if org.mfa_methods is MfaMethods.RESTRICTED and not org.allowed_mfa_methods:
        raise AllowedMfaMethodsRequired()


def _first(exc: ValidationError) -> str:
    err = exc.errors()[0]
    return f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
