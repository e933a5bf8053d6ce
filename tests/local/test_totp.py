"""TOTP: the RFC test vectors, the otpauth URI, QR, ±1 step, replay refusal, strict shapes."""

from __future__ import annotations

import base64
import hashlib

import pyotp
import pytest

from mfa_fsm_local._totp import Digest, TotpComponent, hotp, totp_at

# RFC 4226 Appendix D: secret "12345678901234567890", counters 0..9, 6 digits.
RFC4226_SECRET = b"12345678901234567890"
RFC4226_HOTP = [
    "755224",
    "287082",
    "359152",
    "969429",
    "338314",
    "254676",
    "287922",
    "162583",
    "399871",
    "520489",
]

# RFC 6238 Appendix B: each hash has its OWN seed (20, 32 and 64 bytes), 8 digits, 30 s.
RFC6238_SEEDS: dict[Digest, bytes] = {
    "sha1": b"12345678901234567890",
    "sha256": b"12345678901234567890123456789012",
    "sha512": b"1234567890123456789012345678901234567890123456789012345678901234",
}
RFC6238_VECTORS: list[tuple[int, Digest, str]] = [
    (59, "sha1", "94287082"),
    (59, "sha256", "46119246"),
    (59, "sha512", "90693936"),
    (1111111109, "sha1", "07081804"),
    (1111111109, "sha256", "68084774"),
    (1111111109, "sha512", "25091201"),
    (1111111111, "sha1", "14050471"),
    (1111111111, "sha256", "67062674"),
    (1111111111, "sha512", "99943326"),
    (1234567890, "sha1", "89005924"),
    (1234567890, "sha256", "91819424"),
    (1234567890, "sha512", "93441116"),
    (2000000000, "sha1", "69279037"),
    (2000000000, "sha256", "90698825"),
    (2000000000, "sha512", "38618901"),
    (20000000000, "sha1", "65353130"),
    (20000000000, "sha256", "77737706"),
    (20000000000, "sha512", "47863826"),
]

SECRET = base64.b32encode(RFC4226_SECRET).decode()  # "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
NOW = 1_700_000_015.0
totp = TotpComponent()
STEP = totp.step(NOW)


@pytest.mark.parametrize(("counter", "expected"), list(enumerate(RFC4226_HOTP)))
def test_rfc4226_hotp_vectors(counter: int, expected: str) -> None:
    assert hotp(RFC4226_SECRET, counter) == expected


@pytest.mark.parametrize(("t", "digest", "expected"), RFC6238_VECTORS)
def test_rfc6238_totp_vectors_with_per_hash_seeds(t: int, digest: Digest, expected: str) -> None:
    seed = RFC6238_SEEDS[digest]
    assert len(seed) == {"sha1": 20, "sha256": 32, "sha512": 64}[digest]
    assert totp_at(seed, t, digits=8, digest=digest) == expected


def test_reusing_the_sha1_seed_for_sha256_does_not_match_the_rfc() -> None:
    """The classic bug: the 20-byte seed for every hash. Our vectors would catch it."""
    assert totp_at(RFC6238_SEEDS["sha1"], 59, digits=8, digest="sha256") != "46119246"


@pytest.mark.parametrize(("t", "expected"), [(t, e) for t, d, e in RFC6238_VECTORS if d == "sha1"])
def test_component_agrees_with_rfc_sha1(t: int, expected: str) -> None:
    """The component (SHA1, as Stytch's TOTP) reproduces the RFC when asked for 8 digits."""
    eight = TotpComponent(digits=8)
    secret = base64.b32encode(RFC6238_SEEDS["sha1"]).decode()
    assert eight.code_at(secret, t) == expected
    assert eight.verify(secret, expected, t, None) == t // 30


def test_component_matches_pyotp_defaults() -> None:
    assert totp.code_at(SECRET, NOW) == pyotp.TOTP(SECRET).at(NOW)


def test_new_secret_is_160_bits_of_base32() -> None:
    secret = totp.new_secret()
    assert len(secret) == 32 and secret == secret.upper()
    assert len(base64.b32decode(secret)) == 20
    assert totp.new_secret() != secret
    fixed = TotpComponent(token_bytes=lambda n: b"\x00" * n)
    assert fixed.new_secret() == "A" * 32


def test_provisioning_uri_parses_back() -> None:
    uri = totp.provisioning_uri(SECRET, "ada@example.com", "Acme Corp")
    assert uri.startswith("otpauth://totp/Acme%20Corp:ada%40example.com?")
    parsed = pyotp.parse_uri(uri)
    assert isinstance(parsed, pyotp.TOTP)
    assert parsed.secret == SECRET
    assert parsed.issuer == "Acme Corp"
    assert parsed.name == "ada@example.com"
    assert parsed.digits == 6
    assert parsed.interval == 30
    assert parsed.digest().name == hashlib.sha1().name
    assert parsed.at(NOW) == totp.code_at(SECRET, NOW)


def test_qr_code_is_a_png_data_uri() -> None:
    qr = totp.qr_png_base64(totp.provisioning_uri(SECRET, "ada@example.com", "Acme"))
    prefix = "data:image/png;base64,"
    assert qr.startswith(prefix)
    assert base64.b64decode(qr[len(prefix) :], validate=True).startswith(b"\x89PNG\r\n\x1a\n")


@pytest.mark.parametrize("offset", [-1, 0, 1])
def test_adjacent_steps_accepted_and_step_returned(offset: int) -> None:
    code = totp.code_at(SECRET, NOW + 30 * offset)
    assert totp.verify(SECRET, code, NOW, None) == STEP + offset


@pytest.mark.parametrize("offset", [-3, -2, 2, 3])
def test_steps_two_away_refused(offset: int) -> None:
    code = totp.code_at(SECRET, NOW + 30 * offset)
    window = {totp.code_at(SECRET, NOW + 30 * k) for k in (-1, 0, 1)}
    if code in window:  # a 1-in-a-million collision would make this test meaningless
        pytest.skip("collision")
    assert totp.verify(SECRET, code, NOW, None) is None


def test_wrong_code_refused() -> None:
    good = totp.code_at(SECRET, NOW)
    wrong = f"{(int(good) + 1) % 1_000_000:06d}"
    assert totp.verify(SECRET, wrong, NOW, None) is None


def test_same_code_twice_refused() -> None:
    code = totp.code_at(SECRET, NOW)
    step = totp.verify(SECRET, code, NOW, None)
    assert step == STEP
    assert totp.verify(SECRET, code, NOW, step) is None
    assert totp.verify(SECRET, code, NOW + 20, step) is None  # still inside the window


def test_earlier_step_after_later_refused() -> None:
    later = totp.verify(SECRET, totp.code_at(SECRET, NOW + 30), NOW, None)
    assert later == STEP + 1
    assert totp.verify(SECRET, totp.code_at(SECRET, NOW), NOW, later) is None
    assert totp.verify(SECRET, totp.code_at(SECRET, NOW - 30), NOW, later) is None


def test_later_step_after_earlier_accepted() -> None:
    earlier = totp.verify(SECRET, totp.code_at(SECRET, NOW - 30), NOW, None)
    assert earlier == STEP - 1
    assert totp.verify(SECRET, totp.code_at(SECRET, NOW), NOW, earlier) == STEP
    assert totp.verify(SECRET, totp.code_at(SECRET, NOW + 30), NOW, STEP) == STEP + 1


def _fullwidth(code: str) -> str:
    return "".join(chr(ord(c) - ord("0") + ord("\uff10")) for c in code)


def test_malformed_codes_refused_even_when_they_normalise_to_the_right_code() -> None:
    good = totp.code_at(SECRET, NOW)
    malformed = [
        "",
        " " + good,
        good + " ",
        good[:3] + " " + good[3:],
        _fullwidth(good),  # pyotp's NFKC comparison alone would accept this
        good + "0",  # 7 digits
        good[:5],
        "12345a",
        "+" + good[1:],
    ]
    assert pyotp.TOTP(SECRET).verify(_fullwidth(good), for_time=NOW)  # the trap we avoid
    for code in malformed:
        assert totp.verify(SECRET, code, NOW, None) is None, repr(code)


def test_window_zero_accepts_only_the_current_step() -> None:
    strict = TotpComponent(window=0)
    assert strict.verify(SECRET, strict.code_at(SECRET, NOW), NOW, None) == STEP
    assert strict.verify(SECRET, strict.code_at(SECRET, NOW - 30), NOW, None) is None


def test_near_epoch_has_no_negative_steps() -> None:
    assert totp.verify(SECRET, totp.code_at(SECRET, 0), 0, None) == 0
