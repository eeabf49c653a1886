"""Schemathesis against `placard serve`, from the committed OpenAPI document: whatever it
generates, no 5xx and no answer that breaks the document."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import Case
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from placard.api.signing import signed_headers
from placard_local.cloud import local_cloud
from placard_local.serve import serving

DOCUMENT = Path(__file__).parents[2] / "docs" / "openapi.json"
SECRET = "schema-test-secret"
EXAMPLES = 30  # per operation: bounded, so `make test` stays quick


class Signed(requests.auth.AuthBase):
    """Signs the exact bytes requests is about to send, as any caller must; each with its own
    second of the window, since a signature is accepted once (and Hypothesis repeats cases)."""

    def __init__(self) -> None:
        self.sent = 0

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        body = request.body or b""
        raw = body.encode() if isinstance(body, str) else body
        path = requests.utils.urlparse(request.url).path
        self.sent += 1
        moment = time.time() - 290 + self.sent % 580
        request.headers.update(signed_headers(SECRET, str(request.method), path, raw, now=moment))
        return request


def test_generated_requests_get_no_5xx_and_answers_that_keep_to_the_document(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PLACARD_WEBHOOK_SECRET", SECRET)
    schema = schemathesis.openapi.from_path(DOCUMENT)
    session = requests.Session()
    session.auth = Signed()
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    operations = [result.ok() for result in schema.get_all_operations()]
    answered: dict[str, set[int]] = {}
    assert len(operations) == 7
    with local_cloud({"LogLevel": "ERROR"}) as cloud, serving(cloud) as url:
        for operation in operations:

            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy())
            def exercise(case: Case) -> None:
                response = case.call_and_validate(base_url=url, session=session, checks=checks)
                answered.setdefault(case.operation.label, set()).add(response.status_code)

            exercise()
    # And every operation was reached past the signature check (random copy names no real
    # template or job, so most answers are documented 400s and 404s)
    assert len(answered) == 7
    assert all(401 not in codes for codes in answered.values()), answered
    assert 200 in answered["GET /v1/templates"]
