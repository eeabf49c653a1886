"""The API when a data store keeps refusing past the clients' retries (issue #16): a throttle
or an AWS server error is the caller's to retry (503, Retry-After), anything else is ours (500),
and neither leaks AWS's words."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from handlers import api
from placard import bootstrap
from placard.api.signing import signed_headers
from placard.settings import Settings
from placard_local.cloud import LocalContext, rest_api_event
from placard_local.faults import KINDS, Fault, FaultLayer
from placard_local.stack import Stack
from tests.api_secrets import put_api_secrets
from tests.integration.test_aws_faults import quick_backoff  # noqa: F401  (a fixture)

SECRET = "api-faults-secret"
JOB = {
    "campaign": "spring",
    "template": "social-square",
    "variables": {"product": "Tea", "headline": "Matcha", "cta": "Taste it"},
    "quality": "low",
}
THROTTLE = Fault("ProvisionedThroughputExceededException", 400, "The level of configured ...")
SERVER_ERROR = Fault("InternalServerError", 500, "Internal server error")
SQS_THROTTLE = KINDS["sqs"][0]
OUR_BUG = Fault("ValidationException", 400, "One or more parameter values were invalid")


def parts_with(service: str, fault: Fault) -> bootstrap.Parts:
    """The API's parts, the service answering `fault` to every attempt of every call."""
    clients = bootstrap.Clients.from_env()
    layer = FaultLayer.first(99, services=frozenset({service}), kinds={service: (fault,)})
    layer.attach(clients.s3, clients.dynamodb, clients.sqs)
    return bootstrap.build(Settings.from_env(), clients)


def header(reply: dict[str, Any], name: str) -> str | None:
    """A header of the answer, single-valued or as the REST resolver gives them (multi)."""
    multi = reply.get("multiValueHeaders") or {}
    return (reply.get("headers") or {}).get(name) or next(iter(multi.get(name, [])), None)


def post_job(parts: bootstrap.Parts) -> dict[str, Any]:
    raw = json.dumps(JOB).encode()
    headers = signed_headers(SECRET, "POST", "/live/v1/jobs", raw, now=time.time())
    event = rest_api_event("POST", "/v1/jobs", headers, raw)
    return api.process(event, LocalContext("ApiFunction", 29), parts)


@pytest.mark.usefixtures("quick_backoff")
@pytest.mark.parametrize(
    ("service", "fault"),
    [
        # the replay guard's write, before the resolver
        pytest.param("dynamodb", THROTTLE, id="dynamodb-throttled"),
        pytest.param("dynamodb", SERVER_ERROR, id="dynamodb-server-error"),
        # the job's message, inside the route
        pytest.param("sqs", SQS_THROTTLE, id="sqs-throttled"),
    ],
)
def test_a_store_still_refusing_after_the_retries_is_a_503_to_retry(
    stack: Stack, service: str, fault: Fault
) -> None:
    # Given one of the API's stores answering every attempt with a throttle or a server error
    put_api_secrets(stack, SECRET)
    parts = parts_with(service, fault)
    # When a signed job is posted
    reply = post_job(parts)
    # Then the caller is told to come back, in our words, not AWS's
    body = json.loads(reply["body"])
    assert reply["statusCode"] == 503, body
    assert header(reply, "Retry-After") == str(api.RETRY_AFTER_SECONDS)
    assert body["error"]["code"] == "unavailable"
    assert fault.code not in reply["body"]


@pytest.mark.usefixtures("quick_backoff")
def test_a_store_refusing_the_request_itself_is_a_500(stack: Stack) -> None:
    # Given the API's DynamoDB refusing what it is sent (a fault of ours, not of load)
    put_api_secrets(stack, SECRET)
    parts = parts_with("dynamodb", OUR_BUG)
    # When a signed job is posted
    reply = post_job(parts)
    # Then it is an internal error, without AWS's message or a retry hint
    assert reply["statusCode"] == 500
    assert header(reply, "Retry-After") is None
    assert json.loads(reply["body"])["error"]["code"] == "internal"
    assert OUR_BUG.message not in reply["body"]
