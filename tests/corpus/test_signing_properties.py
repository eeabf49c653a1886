"""Properties of request signatures (docs/design.md §4, #12): whatever the request, a signed one
within the window passes, any change to what was signed fails, and no header garbage raises anything
but SignatureError."""

from __future__ import annotations

import contextlib

from hypothesis import given, settings
from hypothesis import strategies as st

from placard.api.signing import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WINDOW_SECONDS,
    SignatureError,
    signed_headers,
    verify,
)

NOW = 1_700_000_000
FAST = settings(max_examples=60, deadline=None)

secrets = st.text(min_size=1, max_size=40)
methods = st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE"])
paths = st.text(max_size=60).map(lambda tail: "/" + tail)
bodies = st.binary(max_size=200)
skews = st.integers(min_value=-WINDOW_SECONDS, max_value=WINDOW_SECONDS)


@FAST
@given(secret=secrets, method=methods, path=paths, body=bodies, skew=skews)
def test_any_request_signed_within_the_window_passes(
    secret: str, method: str, path: str, body: bytes, skew: int
) -> None:
    # Given any request, signed by a client whose clock is up to the window off
    headers = signed_headers(secret, method, path, body, now=NOW + skew)
    # When the API verifies it, Then it passes (verify raises otherwise)
    verify(secret, headers, method, path, body, now=NOW)


@st.composite
def tampered(draw: st.DrawFn) -> tuple[str, str, str, bytes, dict[str, str], str]:
    """A signed request, then one part of it changed after signing."""
    secret, method, path, body = draw(secrets), draw(methods), draw(paths), draw(bodies)
    headers = signed_headers(secret, method, path, body, now=NOW)
    part = draw(st.sampled_from(["body", "path", "method", "timestamp"]))
    if part == "body":
        body = draw(bodies.filter(lambda other: other != body))
    elif part == "path":
        path = draw(paths.filter(lambda other: other != path))
    elif part == "method":
        method = draw(methods.filter(lambda other: other != method))
    else:
        stamp = draw(skews.filter(lambda s: s != 0))
        headers = {**headers, TIMESTAMP_HEADER: str(NOW + stamp)}
    return secret, method, path, body, headers, part


@FAST
@given(request=tampered())
def test_any_tampering_fails(request: tuple[str, str, str, bytes, dict[str, str], str]) -> None:
    # Given a signed request whose body, path, method or timestamp was changed after signing
    secret, method, path, body, headers, part = request
    # When the API verifies it, Then the signature does not match
    try:
        verify(secret, headers, method, path, body, now=NOW)
    except SignatureError as exc:
        assert exc.reason == "signature does not match", part
    else:
        raise AssertionError(f"a request with its {part} changed passed")


header_values = st.one_of(
    st.text(max_size=80),
    st.integers().map(str),
    st.just("sha256=" + "g" * 64),
    st.text(alphabet="0123456789abcdefABCDEF", min_size=60, max_size=70).map("sha256=".__add__),
)
header_names = st.one_of(
    st.sampled_from([TIMESTAMP_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER.upper(), "x"]),
    st.text(max_size=20),
)


@FAST
@given(headers=st.dictionaries(header_names, header_values, max_size=6), body=bodies)
def test_header_garbage_raises_nothing_but_signature_error(
    headers: dict[str, str], body: bytes
) -> None:
    # Given headers of any names and values, When they are verified
    # Then the only failure is a SignatureError with a reason to show the caller
    with contextlib.suppress(SignatureError):
        verify("s3cret", headers, "POST", "/v1/jobs", body, now=NOW)
        raise AssertionError("garbage passed as a signature")
