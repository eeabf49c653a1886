"""The API's request signatures (docs/design.md §4): what callers sign and what the API accepts."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

import pytest

from placard.api.signing import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignatureError,
    signature,
    signed_headers,
    verify,
)

SECRET = "s3cret"
NOW = 1_700_000_000
PATH = "/v1/jobs"
BODY = b'{"campaign":"summer"}'


def signed(**overrides: str) -> dict[str, str]:
    headers = signed_headers(SECRET, "POST", PATH, BODY, now=NOW)
    headers.update(overrides)
    return headers


def test_a_signed_request_verifies() -> None:
    # Given a request signed with the helper callers use
    headers = signed_headers(SECRET, "POST", PATH, BODY, now=NOW)
    # When the API verifies it a little later, Then it is accepted
    verify(SECRET, headers, "POST", PATH, BODY, now=NOW + 10)
    # And the headers are the two names of docs/design.md §4
    assert set(headers) == {"X-Placard-Timestamp", "X-Placard-Signature"}
    assert headers[TIMESTAMP_HEADER] == str(NOW)


def test_signature_matches_a_known_vector() -> None:
    # Given the message of docs/design.md §4 built by hand, and its HMAC computed with hmac (and
    # openssl)
    message = b'1700000000.POST./v1/jobs.{"campaign":"summer"}'
    by_hand = hmac.new(b"s3cret", message, hashlib.sha256).hexdigest()
    by_openssl = "fd7703562ab07710469469e8dcb68a81593d284203e26e6e440f00b0386e3c30"
    # When the module signs the same request, with the method in lower case
    result = signature(SECRET, NOW, "post", PATH, BODY)
    # Then it is the same signature
    assert by_hand == by_openssl
    assert result == f"sha256={by_hand}"


def test_the_body_is_signed_as_raw_bytes() -> None:
    # Given a body that is not UTF-8 (an upload, say)
    body = b"\xff\x00\xfe"
    message = b"1700000000.PUT./v1/x." + body
    # When it is signed, Then the bytes are signed as they are
    assert signature(SECRET, NOW, "PUT", "/v1/x", body) == (
        "sha256=" + hmac.new(SECRET.encode(), message, hashlib.sha256).hexdigest()
    )


def test_header_names_are_case_insensitive() -> None:
    # Given the signed headers as a client or API Gateway may spell them
    headers = signed()
    for spell in (str.lower, str.upper):
        spelled = {spell(name): value for name, value in headers.items()}
        # When verified, Then they are accepted
        verify(SECRET, spelled, "POST", PATH, BODY, now=NOW)


def test_upper_case_hex_is_accepted() -> None:
    # Given a signature whose hex digits are upper case
    headers = signed()
    headers[SIGNATURE_HEADER] = "sha256=" + headers[SIGNATURE_HEADER][7:].upper()
    # When verified, Then it is the same signature
    verify(SECRET, headers, "POST", PATH, BODY, now=NOW)


def test_the_window_is_inclusive_at_300_seconds() -> None:
    # Given a request exactly 300 s old, and one exactly 300 s ahead
    headers = signed()
    # When verified, Then both are accepted
    verify(SECRET, headers, "POST", PATH, BODY, now=NOW + 300)
    verify(SECRET, headers, "POST", PATH, BODY, now=NOW - 300)


def flip_last_digit(value: str) -> str:
    return value[:-1] + ("0" if value[-1] != "0" else "1")


Case = Callable[[], tuple[dict[str, str], str, str, bytes, float]]
FAILURES: dict[str, Case] = {
    "bad signature": lambda: (
        signed(**{SIGNATURE_HEADER: flip_last_digit(signed()[SIGNATURE_HEADER])}),
        "POST",
        PATH,
        BODY,
        NOW,
    ),
    "another secret": lambda: (
        signed_headers("other", "POST", PATH, BODY, now=NOW),
        "POST",
        PATH,
        BODY,
        NOW,
    ),
    "missing timestamp": lambda: (
        {SIGNATURE_HEADER: signed()[SIGNATURE_HEADER]},
        "POST",
        PATH,
        BODY,
        NOW,
    ),
    "missing signature": lambda: ({TIMESTAMP_HEADER: str(NOW)}, "POST", PATH, BODY, NOW),
    "stale": lambda: (signed(), "POST", PATH, BODY, NOW + 301),
    "future": lambda: (signed(), "POST", PATH, BODY, NOW - 301),
    "timestamp not an integer": lambda: (
        signed(**{TIMESTAMP_HEADER: "1700000000.5"}),
        "POST",
        PATH,
        BODY,
        NOW,
    ),
    "timestamp with a sign": lambda: (
        signed(**{TIMESTAMP_HEADER: "+1700000000"}),
        "POST",
        PATH,
        BODY,
        NOW,
    ),
    "timestamp not a number": lambda: (
        signed(**{TIMESTAMP_HEADER: "yesterday"}),
        "POST",
        PATH,
        BODY,
        NOW,
    ),
    "no sha256= prefix": lambda: (
        signed(**{SIGNATURE_HEADER: signed()[SIGNATURE_HEADER][7:]}),
        "POST",
        PATH,
        BODY,
        NOW,
    ),
    "another algorithm": lambda: (
        signed(**{SIGNATURE_HEADER: "sha1=" + signed()[SIGNATURE_HEADER][7:]}),
        "POST",
        PATH,
        BODY,
        NOW,
    ),
    "too short": lambda: (
        signed(**{SIGNATURE_HEADER: signed()[SIGNATURE_HEADER][:-1]}),
        "POST",
        PATH,
        BODY,
        NOW,
    ),
    "not hex": lambda: (
        signed(**{SIGNATURE_HEADER: "sha256=" + "g" * 64}),
        "POST",
        PATH,
        BODY,
        NOW,
    ),
    "trailing newline": lambda: (
        signed(**{SIGNATURE_HEADER: signed()[SIGNATURE_HEADER] + "\n"}),
        "POST",
        PATH,
        BODY,
        NOW,
    ),
    "another body": lambda: (signed(), "POST", PATH, BODY + b" ", NOW),
    "another path": lambda: (signed(), "POST", "/v1/estimate", BODY, NOW),
    "another method": lambda: (signed(), "PUT", PATH, BODY, NOW),
}


# What each refusal says: each failure is caught by its own check, not by a later mismatch.
REASONS = {
    "missing timestamp": "missing X-Placard-Timestamp header",
    "missing signature": "missing X-Placard-Signature header",
    "stale": "more than 300 s off",
    "future": "more than 300 s off",
    "timestamp not an integer": "is not unix seconds",
    "timestamp with a sign": "is not unix seconds",
    "timestamp not a number": "is not unix seconds",
    "no sha256= prefix": "is not sha256= and 64 hex digits",
    "another algorithm": "is not sha256= and 64 hex digits",
    "too short": "is not sha256= and 64 hex digits",
    "not hex": "is not sha256= and 64 hex digits",
    "trailing newline": "is not sha256= and 64 hex digits",
}


@pytest.mark.parametrize(("name", "case"), FAILURES.items(), ids=FAILURES.keys())
def test_requests_not_signed_as_asked_are_refused(name: str, case: Case) -> None:
    # Given a request that is wrong in one way
    headers, method, path, body, now = case()
    # When it is verified, Then it is refused, for that reason
    with pytest.raises(SignatureError) as refused:
        verify(SECRET, headers, method, path, body, now=now)
    assert REASONS.get(name, "signature does not match") in refused.value.reason
    # And the reason never gives away the signature that was expected
    expected = signature(SECRET, NOW, method, path, body)
    assert refused.value.reason
    assert expected[7:] not in refused.value.reason
    assert expected[7:] not in str(refused.value)


def test_a_narrower_window_is_honoured() -> None:
    # Given a request 61 s old
    headers = signed()
    # When verified with a 60 s window, Then it is refused as stale
    with pytest.raises(SignatureError, match="60 s"):
        verify(SECRET, headers, "POST", PATH, BODY, now=NOW + 61, window=60)


def test_the_comparison_is_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given hmac.compare_digest watched
    calls: list[tuple[str, str]] = []
    real = hmac.compare_digest

    def watched(a: str, b: str) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", watched)
    # When a request is verified
    verify(SECRET, signed(), "POST", PATH, BODY, now=NOW)
    # Then the signatures were compared with it
    assert len(calls) == 1


def test_an_empty_secret_is_a_misconfiguration() -> None:
    # Given no secret configured, When a request is signed or verified, Then it is an error
    # rather than a signature anyone could make
    with pytest.raises(ValueError, match="empty"):
        signed_headers("", "POST", PATH, BODY, now=NOW)
    with pytest.raises(ValueError, match="empty"):
        verify("", signed(), "POST", PATH, BODY, now=NOW)
