"""Corpus: broken and hostile requests to the HTTP API (#12), each with the answer it must get.

Two kinds. API requests go to the API function as API Gateway would send them, on in-process
moto. Raw HTTP goes over a socket to `placard serve` on the local cloud, as a careless or hostile
client would write it. Every answer is JSON in the error shape of docs/design.md §4, comes in
bounded time (the sockets time out), and leaves no traceback behind.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest

from handlers import api
from placard import bootstrap
from placard.api.callbacks import new_secret
from placard.api.signing import signed_headers
from placard_local.cloud import LocalContext, local_cloud, rest_api_event
from placard_local.serve import serving
from placard_local.stack import Stack
from tests.api_secrets import put_api_secrets

SECRET = "corpus-secret"
COPY = {"product": "Tea", "headline": "New: Matcha", "cta": "Taste it"}
POSTER = {"campaign": "corpus", "template": "social-square", "variables": COPY, "size": "1024x1024"}


def poster(**changes: Any) -> bytes:
    return json.dumps({**POSTER, **changes}).encode()


def with_variables(**changes: Any) -> bytes:
    return poster(variables={**COPY, **changes})


@dataclass(frozen=True)
class Case:
    body: bytes
    status: int
    code: str
    words: tuple[str, ...]  # each must appear in the error message
    headers: dict[str, str] = field(default_factory=dict)
    path: str = "/v1/jobs"


def case(body: bytes, status: int, code: str, *words: str, **headers: str) -> Case:
    return Case(body, status, code, words, {k.replace("_", "-"): v for k, v in headers.items()})


API_CASES = {
    # Types: JSON's true is not a number, nor a number a string.
    "n-true-400": case(poster(n=True), 400, "invalid_request", "n", "integer"),
    "n-as-string-400": case(poster(n="2"), 400, "invalid_request", "n", "integer"),
    "n-fraction-400": case(poster(n=1.5), 400, "invalid_request", "n", "integer"),
    "n-eleven-400": case(poster(n=11), 400, "invalid_request", "n", "10"),
    "quality-number-400": case(poster(quality=1), 400, "invalid_request", "quality"),
    "quality-unknown-400": case(poster(quality="ultra"), 400, "invalid_request", "quality", "low"),
    "size-number-400": case(poster(size=1024), 400, "invalid_request", "size", "string"),
    "size-false-400": case(poster(size=False), 400, "invalid_request", "size", "string"),
    "variable-number-400": case(
        with_variables(headline=42), 400, "invalid_request", "headline", "string"
    ),
    "variables-a-list-400": case(poster(variables=["Tea"]), 400, "invalid_request", "variables"),
    # Variables the template does not declare are named, with the ones it has.
    "unknown-variable-400": case(
        with_variables(colour="red"),
        400,
        "invalid_request",
        "colour",
        "not a variable of social-square",
        "product, headline, cta, offer",
    ),
    "job-field-as-variable-400": case(
        with_variables(quality="high"), 400, "invalid_request", "quality", "not a variable"
    ),
    "unknown-top-level-field-400": case(poster(colour="red"), 400, "invalid_request", "colour"),
    # Copy that is empty once normalised is empty.
    "blank-required-copy-400": case(
        with_variables(headline="   "), 400, "invalid_request", "headline", "required"
    ),
    "tab-and-newline-copy-400": case(
        with_variables(cta="\t\n "), 400, "invalid_request", "cta", "required"
    ),
    "only-control-characters-copy-400": case(
        with_variables(headline="\x00\x07\x1b\u200b\u202e"),
        400,
        "invalid_request",
        "headline",
        "required",
    ),
    # Bodies that are not one plain JSON object.
    "empty-body-400": case(b"", 400, "invalid_request", "body", "required"),
    "null-body-400": case(b"null", 400, "invalid_json", "JSON object", "null"),
    "array-body-400": case(b"[]", 400, "invalid_json", "JSON object", "an array"),
    "string-body-400": case(b'"hello"', 400, "invalid_json", "JSON object", "a string"),
    "number-body-400": case(b"7", 400, "invalid_json", "JSON object", "a number"),
    "not-json-400": case(b"{campaign: 1}", 400, "invalid_json", "not JSON", "line 1 column 2"),
    "duplicate-keys-400": case(
        b'{"campaign": "a", "campaign": "b"}', 400, "invalid_json", "'campaign'", "twice"
    ),
    "nan-400": case(poster().replace(b'"size"', b'"n": NaN, "size"'), 400, "invalid_json", "NaN"),
    "infinity-400": case(b'{"n": -Infinity}', 400, "invalid_json", "-Infinity", "not a JSON"),
    "5000-digit-number-400": case(b'{"n": ' + b"9" * 5000 + b"}", 400, "invalid_json", "digits"),
    "nested-10000-deep-400": case(
        b"[" * 10_000 + b"]" * 10_000, 400, "invalid_json", "10000 deep", "at most 10"
    ),
    "nested-in-a-variable-400": case(
        with_variables(headline=[[[[[[[[[["x"]]]]]]]]]]),
        400,
        "invalid_json",
        "12 deep",
        "at most 10",
    ),
    "brackets-inside-strings-are-not-nesting-400": case(
        json.dumps({**POSTER, "n": 11, "variables": {"headline": "[{" * 12}}).encode(),
        400,
        "invalid_request",
        "n",  # answered for n, not for depth
        "less than or equal to 10",
    ),
    "non-utf8-body-400": case(b'{"campaign": "caf\xe9"}', 400, "invalid_json", "UTF-8"),
    # Sizes with their limits in the message.
    "1mb-string-in-a-variable-413": case(
        with_variables(headline="x" * 1_000_000), 413, "too_large", "1000", "65536"
    ),
    "body-just-over-64k-413": case(
        b" " * (64 * 1024 + 1), 413, "too_large", "65537 bytes", "65536"
    ),
    # Names that must not reach a path or a template lookup.
    "campaign-with-dot-dot-400": case(
        poster(campaign="../etc"), 400, "invalid_request", "campaign"
    ),
    "template-path-400": case(
        poster(template="../../etc/passwd"), 400, "invalid_request", "no template named"
    ),
    "callback-javascript-400": case(
        poster(callback_url="javascript:alert(1)"), 400, "invalid_request", "callback_url"
    ),
    "idempotency-key-too-long-400": case(
        poster(), 400, "invalid_request", "idempotency-key", "255", Idempotency_Key="k" * 300
    ),
    "form-encoded-body-415": case(
        b"campaign=corpus&template=social-square",
        415,
        "unsupported_media_type",
        "application/json",
        "application/x-www-form-urlencoded",
        Content_Type="application/x-www-form-urlencoded",
    ),
    "text-plain-body-415": case(
        poster(), 415, "unsupported_media_type", "text/plain", Content_Type="text/plain"
    ),
}


@pytest.fixture
def cloud(stack: Stack) -> Iterator[Stack]:
    """The stack, its secret holding this corpus's signing secret."""
    yield put_api_secrets(stack, SECRET)


def no_trace(text: str) -> None:
    assert "Traceback" not in text and 'File "' not in text, text


@pytest.mark.parametrize("given", API_CASES.values(), ids=API_CASES.keys())
def test_api_request(cloud: Stack, given: Case, capfd: pytest.CaptureFixture[str]) -> None:
    # Given a signed request with a broken or hostile body
    headers = {**signed_headers(SECRET, "POST", f"/live{given.path}", given.body), **given.headers}
    # When the API function answers it
    event = rest_api_event("POST", given.path, headers, given.body)
    reply = api.handler(event, LocalContext("ApiFunction", 29))
    # Then it is the expected error, in the error shape of docs/design.md §4, naming what is wrong
    error = json.loads(reply["body"])["error"]
    assert (reply["statusCode"], error["code"]) == (given.status, given.code), error
    for word in given.words:
        assert word in error["message"], error
    captured = capfd.readouterr()
    no_trace(reply["body"] + captured.out + captured.err)


def test_control_characters_in_copy_never_reach_the_queued_job(cloud: Stack) -> None:
    # Given copy with a NUL, an escape sequence, a bidi override and a zero-width space
    body = with_variables(headline="Sale\x00 \x1b[31mnow\u202e\u200b!")
    headers = signed_headers(SECRET, "POST", "/live/v1/jobs", body)
    # When it is posted
    reply = api.handler(rest_api_event("POST", "/v1/jobs", headers, body), LocalContext("A", 29))
    assert reply["statusCode"] == 202, reply["body"]
    # Then the job queued for the worker (and so its prompt) carries none of them
    queue = cloud.physical["JobsQueue"]
    (message,) = boto3.client("sqs").receive_message(QueueUrl=queue)["Messages"]
    headline = json.loads(message["Body"])["variables"]["headline"]
    assert headline.startswith("Sale") and headline.endswith("!")
    assert all(ch.isprintable() and ch not in "\u202e\u200b" for ch in headline), headline


# Raw HTTP, over a socket to `placard serve`.

READ_TIMEOUT = 1.0  # the server's; kept short so the truncated-body case ends quickly


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    saved = dict(os.environ)
    os.environ.update({"PLACARD_WEBHOOK_SECRET": SECRET, "PLACARD_CALLBACK_SECRET": new_secret()})
    try:
        with (
            local_cloud({"Provider": "draft", "LogLevel": "WARNING"}) as running,
            serving(running, read_timeout=READ_TIMEOUT) as url,
        ):
            yield url.removeprefix("http://")
    finally:
        os.environ.clear()
        os.environ.update(saved)
        bootstrap.forget()


def exchange(address: str, request: bytes) -> tuple[int, dict[str, Any]]:
    """Send raw bytes, read the answer until the server closes or its body is complete."""
    host, port = address.split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(request)
        received = b""
        while True:
            head, sep, rest = received.partition(b"\r\n\r\n")
            if sep:
                lengths = [
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                ]
                if lengths and len(rest) >= lengths[0]:
                    break
            chunk = conn.recv(65536)
            if not chunk:
                break
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    return status, json.loads(body)


def signed_raw(method: str, path: str, body: bytes, extra: str = "") -> Callable[[], bytes]:
    """Signed when the test sends it, not when tests are collected (the window is 300 s)."""

    def sign() -> bytes:
        headers = signed_headers(SECRET, method, path, body)
        lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        start = f"{method} {path} HTTP/1.1\r\nHost: x\r\n{lines}Content-Length: {len(body)}\r\n"
        return (start + extra + "\r\n").encode() + body

    return sign


def raw(start: str, *headers: str, body: bytes = b"") -> bytes:
    return (start + "\r\n" + "".join(h + "\r\n" for h in headers) + "\r\n").encode() + body


POST = "POST /v1/jobs HTTP/1.1"
RAW_CASES = {
    "content-length-minus-one-400": (
        raw(POST, "Content-Length: -1", body=b"{}"),
        400,
        "bad_request",
        ("Content-Length", "'-1'"),
    ),
    "content-length-abc-400": (
        raw(POST, "Content-Length: abc", body=b"{}"),
        400,
        "bad_request",
        ("number of bytes", "'abc'"),
    ),
    "content-length-twice-in-one-400": (
        raw(POST, "Content-Length: 2, 2", body=b"{}"),
        400,
        "bad_request",
        ("'2, 2'",),
    ),
    "content-length-11mb-413": (
        raw(POST, "Content-Length: 11000000"),
        413,
        "too_large",
        ("11000000 bytes", "10485760"),
    ),
    "post-without-content-length-411": (
        raw(POST, body=b'{"campaign": "x"}'),
        411,
        "length_required",
        ("POST needs Content-Length",),
    ),
    "chunked-transfer-encoding-411": (
        raw(POST, "Transfer-Encoding: chunked", body=b"2\r\n{}\r\n0\r\n\r\n"),
        411,
        "length_required",
        ("Transfer-Encoding", "Content-Length"),
    ),
    "body-shorter-than-content-length-408": (
        raw(POST, "Content-Length: 100", body=b'{"campaign"'),
        408,
        "timeout",
        ("100 bytes", f"{READ_TIMEOUT} s"),
    ),
    "header-line-of-70kb-431": (
        raw("GET /v1/templates HTTP/1.1", "X-Big: " + "a" * 70_000),
        431,
        "request_header_fields_too_large",
        ("65536",),
    ),
    "101-headers-431": (
        raw("GET /v1/templates HTTP/1.1", *(f"X-H{i}: v" for i in range(101))),
        431,
        "request_header_fields_too_large",
        ("100",),
    ),
    "request-line-of-70kb-414": (
        raw("GET /" + "a" * 70_000 + " HTTP/1.1"),
        414,
        "request_uri_too_long",
        ("65536",),
    ),
    "garbage-request-line-400": (raw("HELLO"), 400, "bad_request", ("HELLO",)),
    "unknown-method-501": (
        raw("BREW /v1/jobs HTTP/1.1"),
        501,
        "not_implemented",
        ("BREW",),
    ),
    "unsigned-get-401": (
        raw("GET /v1/templates HTTP/1.1"),
        401,
        "bad_signature",
        ("missing", "X-Placard-Timestamp"),
    ),
    "non-utf8-body-signed-400": (
        signed_raw("POST", "/v1/jobs", b'{"campaign": "\xff\xfe"}'),
        400,
        "invalid_json",
        ("UTF-8",),
    ),
    "path-with-nul-signed-404": (
        signed_raw("GET", "/v1/jobs%00/x", b""),
        404,
        "not_found",
        ("no route", "%00"),
    ),
    "path-with-dot-dot-signed-404": (
        signed_raw("GET", "/v1/../../etc/passwd", b""),
        404,
        "not_found",
        ("no route",),
    ),
    "job-id-not-hex-signed-400": (
        signed_raw("GET", "/v1/jobs/..%2F..%2Fsecrets", b""),
        400,
        "invalid_request",
        ("job_id",),
    ),
}


@pytest.mark.parametrize(
    ("request_bytes", "status", "code", "words"), RAW_CASES.values(), ids=RAW_CASES.keys()
)
def test_raw_http(
    served: str,
    request_bytes: bytes | Callable[[], bytes],
    status: int,
    code: str,
    words: tuple[str, ...],
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given a request as a careless or hostile client writes it
    # When it is sent to `placard serve`
    sent = request_bytes() if callable(request_bytes) else request_bytes
    answered, body = exchange(served, sent)
    # Then it gets the expected JSON error, naming what is wrong
    error = body["error"]
    assert (answered, error["code"]) == (status, code), error
    for word in words:
        assert word in error["message"], error
    # And nothing left a traceback on the console or in the log
    time.sleep(0.05)  # the server thread may still be closing the connection
    captured = capfd.readouterr()
    no_trace(captured.out + captured.err)
    assert not [r for r in caplog.records if r.exc_info], caplog.text
