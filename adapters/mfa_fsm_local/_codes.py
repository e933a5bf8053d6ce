"""SMS one-time codes, phone numbers and recovery codes: generation, shape checks, normalising.

Everything random comes from `secrets` (injectable for tests). Shape checks are strict and
ASCII-only on purpose: NFKC turns fullwidth digits (U+FF11...) into "123456", and pyotp's
comparison normalises NFKC, so a code is checked for shape before it is ever compared.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Callable

import phonenumbers

from mfa_fsm import InvalidPhoneNumber

__all__ = [
    "RECOVERY_CODE_COUNT",
    "SMS_CODE_DIGITS",
    "BadPhoneNumber",
    "is_well_formed_code",
    "new_recovery_codes",
    "new_sms_code",
    "normalize_phone",
    "normalize_recovery_code",
]

SMS_CODE_DIGITS = 6
RECOVERY_CODE_COUNT = 10
_ASCII_DIGITS = frozenset(string.digits)
_RECOVERY_ALPHABET = string.ascii_lowercase + string.digits
_RECOVERY_GROUPS = 3
_RECOVERY_GROUP_LEN = 4
_PHONE_CHARS = frozenset(string.digits + " -.()")
_PHONE_MAX_LEN = 32


class BadPhoneNumber(InvalidPhoneNumber, ValueError):
    """The phone number is not a valid international (E.164) number."""


def new_sms_code(
    digits: int = SMS_CODE_DIGITS, *, randbelow: Callable[[int], int] = secrets.randbelow
) -> str:
    """A uniformly random code of `digits` ASCII digits (leading zeros kept)."""
    if not 4 <= digits <= 10:
        raise ValueError("digits must be between 4 and 10")
    return str(randbelow(10**digits)).zfill(digits)


def is_well_formed_code(code: object, digits: int = SMS_CODE_DIGITS) -> bool:
    """Exactly `digits` ASCII digits 0-9: no spaces, signs, or other Unicode digits."""
    return isinstance(code, str) and len(code) == digits and all(c in _ASCII_DIGITS for c in code)


def normalize_phone(raw: str) -> str:
    """The number in E.164 ("+14155550123"), or `BadPhoneNumber` saying what is wrong.

    No default region is assumed: the number must start with "+" and its country code.
    Only ASCII digits and the separators space, "-", ".", "(", ")" are allowed, so letters
    (vanity numbers) and extensions are refused rather than silently rewritten or dropped.
    """
    if not isinstance(raw, str):
        raise BadPhoneNumber("phone number must be a string")
    text = raw.strip()
    if not text:
        raise BadPhoneNumber("phone number is empty")
    if len(text) > _PHONE_MAX_LEN:
        raise BadPhoneNumber("phone number is too long")
    if not text.startswith("+"):
        raise BadPhoneNumber(
            "phone number must start with + and the country code, e.g. +14155550123"
        )
    if not all(c in _PHONE_CHARS for c in text[1:]):
        raise BadPhoneNumber(
            "phone number may contain only digits after the +, optionally separated by "
            "spaces, dashes, dots or parentheses"
        )
    try:
        parsed = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException as exc:
        raise BadPhoneNumber(f"phone number could not be parsed: {_parse_reason(exc)}") from None
    if parsed.extension:
        raise BadPhoneNumber("phone number must not have an extension")
    if not phonenumbers.is_valid_number(parsed):
        raise BadPhoneNumber(
            "phone number is not a valid number for country code "
            f"+{parsed.country_code}; check the digits"
        )
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _parse_reason(exc: phonenumbers.NumberParseException) -> str:
    reasons = {
        phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: "unknown country code",
        phonenumbers.NumberParseException.NOT_A_NUMBER: "not a phone number",
        phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "too short",
        phonenumbers.NumberParseException.TOO_SHORT_NSN: "too short",
        phonenumbers.NumberParseException.TOO_LONG: "too long",
    }
    return reasons.get(exc.error_type, "not a phone number")


def new_recovery_codes(
    n: int = RECOVERY_CODE_COUNT, *, choice: Callable[[str], str] = secrets.choice
) -> list[str]:
    """`n` distinct codes shaped like Stytch's, "xxxx-xxxx-xxxx" in [a-z0-9] (~62 bits each)."""
    if not 1 <= n <= 100:
        raise ValueError("n must be between 1 and 100")
    codes: list[str] = []
    while len(codes) < n:
        groups = (
            "".join(choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_GROUP_LEN))
            for _ in range(_RECOVERY_GROUPS)
        )
        code = "-".join(groups)
        if code not in codes:
            codes.append(code)
    return codes


def normalize_recovery_code(raw: object) -> str | None:
    """The canonical "xxxx-xxxx-xxxx" form to hash and compare, or None if malformed.

    Case, surrounding whitespace and the position of dashes or spaces do not matter,
    so "ABCD EFGH IJKL" and "abcdefghijkl" both match "abcd-efgh-ijkl".
    """
    if not isinstance(raw, str) or len(raw) > 64 or not raw.isascii():
        return None  # ASCII first: "\u212a".lower() is "k", and we want no such surprises
    compact = "".join(c for c in raw.strip().lower() if c not in "- ")
    size = _RECOVERY_GROUPS * _RECOVERY_GROUP_LEN
    if len(compact) != size or not all(c in _RECOVERY_ALPHABET for c in compact):
        return None
    step = _RECOVERY_GROUP_LEN
    return "-".join(compact[i : i + step] for i in range(0, size, step))
