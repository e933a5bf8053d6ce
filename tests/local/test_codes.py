"""SMS codes, phone numbers and recovery codes: strict shapes, E.164, Stytch's code format."""

from __future__ import annotations

import re

import pytest

from mfa_fsm import InvalidPhoneNumber
from mfa_fsm_local._codes import (
    BadPhoneNumber,
    is_well_formed_code,
    new_recovery_codes,
    new_sms_code,
    normalize_phone,
    normalize_recovery_code,
)


def test_sms_code_is_six_ascii_digits_and_keeps_leading_zeros() -> None:
    assert new_sms_code(randbelow=lambda n: 42) == "000042"
    assert new_sms_code(randbelow=lambda n: n - 1) == "999999"
    for _ in range(200):
        code = new_sms_code()
        assert is_well_formed_code(code)


def test_sms_code_uses_the_whole_range() -> None:
    seen: list[int] = []

    def randbelow(n: int) -> int:
        seen.append(n)
        return 0

    assert new_sms_code(randbelow=randbelow) == "000000"
    assert seen == [1_000_000]


@pytest.mark.parametrize("code", ["123456", "000000", "999999"])
def test_well_formed_codes(code: str) -> None:
    assert is_well_formed_code(code)


@pytest.mark.parametrize(
    "code",
    [
        "",
        "12345",
        "1234567",
        " 123456",
        "123456 ",
        "123 456",
        "123456\n",
        "\uff11\uff12\uff13\uff14\uff15\uff16",  # fullwidth digits
        "١٢٣٤٥٦",  # Arabic-Indic digits
        "12345²",  # superscript two is a Unicode digit
        "+12345",
        "-12345",
        "12345a",
        "12.345",
        None,
        123456,
    ],
)
def test_malformed_codes_refused(code: object) -> None:
    assert not is_well_formed_code(code)


def test_well_formed_respects_digits() -> None:
    assert is_well_formed_code("12345678", digits=8)
    assert not is_well_formed_code("123456", digits=8)


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("+14155552671", "+14155552671"),
        ("+1 (415) 555-2671", "+14155552671"),
        ("  +44 20 7946 0958 ", "+442079460958"),
        ("+33 1.42.68.53.00", "+33142685300"),
    ],
)
def test_phone_numbers_normalised_to_e164(raw: str, e164: str) -> None:
    assert normalize_phone(raw) == e164


@pytest.mark.parametrize(
    ("raw", "hint"),
    [
        ("", "empty"),
        ("4155552671", "must start with +"),
        ("(415) 555-2671", "must start with +"),
        ("+1 800 FLOWERS", "only digits"),
        ("+1 415 555 2671 ext. 12", "only digits"),
        ("+\uff11\uff14\uff11\uff15\uff15\uff15\uff15\uff12\uff16\uff17\uff11", "only digits"),
        ("+1", "could not be parsed"),
        ("+999 1234567", "unknown country code"),
        ("+1 555 555 5555", "not a valid number"),
        ("+1415555267" + "1" * 40, "too long"),
    ],
)
def test_bad_phone_numbers_explain_themselves(raw: str, hint: str) -> None:
    with pytest.raises(BadPhoneNumber, match=re.escape(hint)) as info:
        normalize_phone(raw)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, InvalidPhoneNumber)
    assert info.value.error_type == "invalid_phone_number"


def test_recovery_codes_have_stytch_shape_and_are_distinct() -> None:
    codes = new_recovery_codes()
    assert len(codes) == 10
    assert len(set(codes)) == 10
    for code in codes:
        assert re.fullmatch(r"[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}", code)
        assert normalize_recovery_code(code) == code


def test_recovery_codes_deterministic_with_injected_choice() -> None:
    letters = iter("abcdefghijkl" + "abcdefghijkl" + "mnopqrstuvwx")
    codes = new_recovery_codes(2, choice=lambda alphabet: next(letters))
    assert codes == ["abcd-efgh-ijkl", "mnop-qrst-uvwx"]  # the duplicate was drawn again


@pytest.mark.parametrize(
    "raw",
    ["abcd-efgh-ijkl", "ABCD-EFGH-IJKL", " abcdefghijkl ", "abcd efgh ijkl", "ab-cdefgh-ijkl"],
)
def test_recovery_code_normalisation(raw: str) -> None:
    assert normalize_recovery_code(raw) == "abcd-efgh-ijkl"


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "abcd-efgh-ijk",
        "abcd-efgh-ijklm",
        "abcd_efgh_ijkl",
        "\uff41\uff42\uff43\uff44-efgh-ijkl",
        "abcd-efgh-ij\u212al",
        None,
        5,
    ],
)
def test_malformed_recovery_codes(raw: object) -> None:
    assert normalize_recovery_code(raw) is None
