"""The API function on in-process moto, called with the events API Gateway sends; the shared
secrets read from Secrets Manager, as on Lambda."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import boto3
import pytest

from handlers import api, worker
from placard import bootstrap
from placard.api.signing import signed_headers
from placard.aws.budgets import DynamoBudgets
from placard_local.cloud import LocalContext, rest_api_event, sqs_event
from placard_local.stack import Stack
from tests.api_secrets import put_api_secrets
from tests.integration.derivatives import make_derivatives, read_back

SECRET = "api-test-secret"
POSTER = {
    "campaign": "spring",
    "template": "social-square",
    "variables": {"product": "Cold brew", "headline": "Summer in a Can", "cta": "Try it"},
    "quality": "low",
    "size": "1024x1024",
}


@pytest.fixture
def cloud(stack: Stack) -> Iterator[Stack]:
    """The stack, with the secret template.yaml names holding the API's shared secrets."""
    yield put_api_secrets(stack, SECRET)


def call(
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    secret: str = SECRET,
    skew: float = 0,
    parts: bootstrap.Parts | None = None,
) -> tuple[int, dict[str, Any]]:
    """Sign as a caller would (the path with the stage, as called), with a clock `skew`
    seconds off; send (to the function on `parts` when given); read the answer."""
    raw = json.dumps(body).encode() if body is not None else b""
    signed = signed_headers(secret, method, f"/live{path}", raw, now=time.time() + skew)
    event = rest_api_event(method, path, {**signed, **(headers or {})}, raw)
    context = LocalContext("ApiFunction", 29)
    reply = api.handler(event, context) if parts is None else api.process(event, context, parts)
    return reply["statusCode"], json.loads(reply["body"]) if reply.get("body") else {}


def run_queued_jobs(stack: Stack) -> None:
    sqs = boto3.client("sqs")
    while messages := sqs.receive_message(
        QueueUrl=stack.physical["JobsQueue"], MessageSystemAttributeNames=["All"]
    ).get("Messages", []):
        event = sqs_event(messages, stack.arn("JobsQueue"), stack.region)
        worker.handler(event, LocalContext("WorkerFunction", 600))
    read_back(stack)
    make_derivatives(stack)


def test_a_job_is_accepted_then_runs_and_its_status_shows_images_and_cost(cloud: Stack) -> None:
    # When a signed job is posted
    status, accepted = call("POST", "/v1/jobs", POSTER)
    # Then it is accepted at once, queued, with its estimate
    assert status == 202
    assert accepted["status"] == "queued"
    assert accepted["status_url"] == f"/v1/jobs/{accepted['job_id']}"
    assert accepted["estimated_cost_usd"] == "0.000000"  # the stack's provider is draft
    assert call("GET", accepted["status_url"])[1]["status"] == "queued"
    # When the worker has run it
    run_queued_jobs(cloud)
    # Then its status shows the image, with a presigned link, its sha256 and its cost
    status, job = call("GET", accepted["status_url"])
    assert status == 200
    assert job["status"] == "succeeded"
    (image,) = job["images"]
    assert image["s3_uri"].startswith("s3://") and "X-Amz-Signature=" in image["url"]
    assert len(image["sha256"]) == 64


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"secret": "another-secret"}, "does not match"),
        ({"headers": {"X-Placard-Signature": "sha256=" + "0" * 64}}, "does not match"),
        ({"headers": {"X-Placard-Signature": "md5=abc"}}, "not sha256="),
        ({"skew": -305}, "300 s off"),  # a few seconds past: signing and checking take time
        ({"skew": 305}, "300 s off"),
    ],
)
def test_bad_stale_and_forged_signatures_are_refused(
    cloud: Stack, change: dict[str, Any], reason: str
) -> None:
    status, body = call("POST", "/v1/jobs", POSTER, **change)
    assert status == 401
    assert body["error"]["code"] == "bad_signature"
    assert reason in body["error"]["message"]


def test_a_captured_request_sent_again_is_refused(cloud: Stack) -> None:
    # Given a signed POST that was accepted
    raw = json.dumps(POSTER).encode()
    event = rest_api_event(
        "POST", "/v1/jobs", signed_headers(SECRET, "POST", "/live/v1/jobs", raw), raw
    )
    assert api.handler(event, LocalContext("ApiFunction", 29))["statusCode"] == 202
    # When the very same bytes arrive again within the window, Then they are refused
    replay = api.handler(event, LocalContext("ApiFunction", 29))
    assert replay["statusCode"] == 401
    assert "used before" in json.loads(replay["body"])["error"]["message"]


def captured(body: dict[str, Any], key: str | None) -> dict[str, Any]:
    """A signed POST /v1/jobs event, as a caller (or whoever captured it) would send it."""
    raw = json.dumps(body).encode()
    headers = signed_headers(SECRET, "POST", "/live/v1/jobs", raw)
    if key is not None:
        headers["Idempotency-Key"] = key
    return rest_api_event("POST", "/v1/jobs", headers, raw)


def answer(event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    reply = api.handler(event, LocalContext("ApiFunction", 29))
    return reply["statusCode"], json.loads(reply["body"])


def test_a_keyed_retry_signed_within_the_same_second_gets_the_same_job(cloud: Stack) -> None:
    # Given a job posted with an Idempotency-Key
    event = captured(POSTER, "order-77")
    first = answer(event)
    assert first[0] == 202
    # When the client retries within the same second: same body, same key, same signature
    # Then it gets the same job back, not a 401
    assert answer(event) == first


@pytest.mark.parametrize(
    ("first_key", "replay_key"),
    [(None, "attacker-key"), ("order-78", "attacker-key"), ("order-79", None)],
    ids=["unkeyed-then-key-added", "keyed-then-key-changed", "keyed-then-key-dropped"],
)
def test_a_captured_request_under_another_key_is_still_a_replay(
    cloud: Stack, first_key: str | None, replay_key: str | None
) -> None:
    # Given a signed POST that was accepted
    event = captured(POSTER, first_key)
    assert answer(event)[0] == 202
    # When a captured copy is sent again with its Idempotency-Key added, changed or removed
    replay = dict(event)
    headers = {k: v for k, v in event["headers"].items() if k != "Idempotency-Key"}
    replay["headers"] = headers | ({"Idempotency-Key": replay_key} if replay_key else {})
    status, body = answer(replay)
    # Then it is refused as a replay
    assert status == 401
    assert "used before" in body["error"]["message"]


def test_an_unsigned_call_is_refused(cloud: Stack) -> None:
    event = rest_api_event("GET", "/v1/templates", {}, b"")
    reply = api.handler(event, LocalContext("ApiFunction", 29))
    assert reply["statusCode"] == 401


def test_a_replayed_request_with_its_key_returns_the_same_job_and_another_body_is_a_409(
    cloud: Stack,
) -> None:
    key = {"Idempotency-Key": "order-1234"}
    # Given a job posted with an Idempotency-Key
    first = call("POST", "/v1/jobs", POSTER, headers=key)
    # When the caller sends the same request again (signed anew), Then it names the same job
    assert call("POST", "/v1/jobs", POSTER, headers=key, skew=-5) == first
    assert first[0] == 202
    # When the key comes with another body, Then it is a conflict and nothing is queued
    other = {**POSTER, "quality": "high"}
    status, body = call("POST", "/v1/jobs", other, headers=key, skew=-10)
    assert status == 409
    assert body["error"]["code"] == "idempotency_key_reused"


def test_invalid_requests_name_each_field(cloud: Stack) -> None:
    bad = {**POSTER, "size": "1000x1000", "variables": {"product": "x" * 500}}
    status, body = call("POST", "/v1/jobs", bad)
    assert status == 400
    fields = {d["field"] for d in body["error"]["details"]}
    assert {"size", "headline", "product"} <= fields
    status, body = call("POST", "/v1/jobs", {**POSTER, "n": 11, "colour": "red"})
    assert status == 400
    assert {d["field"] for d in body["error"]["details"]} == {"n", "colour"}


def test_a_job_past_the_budget_is_refused_with_402(cloud: Stack, parts: bootstrap.Parts) -> None:
    # Given a paid provider and a campaign with 0.01 USD left
    paid = dataclasses.replace(parts.settings, provider="prospolabs")
    parts = dataclasses.replace(parts, settings=paid)
    DynamoBudgets(boto3.client("dynamodb"), cloud.physical["LedgerTable"]).set_limit(
        "spring", limit=Decimal("0.01"), spent=Decimal(0)
    )
    # When a job estimated at 0.0144 is posted, Then it is refused before it is queued
    status, body = call("POST", "/v1/jobs", {**POSTER, "n": 2}, parts=parts)
    assert status == 402 and body["error"]["code"] == "budget_exceeded"
    # And one that fits is accepted
    assert call("POST", "/v1/jobs", POSTER, parts=parts)[0] == 202


def test_unknown_jobs_routes_and_campaigns_are_404(cloud: Stack) -> None:
    assert call("GET", "/v1/jobs/" + "0" * 32)[0] == 404
    assert call("GET", "/v1/nothing")[0] == 404
    assert call("GET", "/v1/campaigns/nobody/costs")[0] == 404


def test_a_body_over_the_cap_is_413(cloud: Stack) -> None:
    huge = {**POSTER, "variables": {f"v{i}": "x" * 2000 for i in range(40)}}
    status, body = call("POST", "/v1/jobs", huge)
    assert status == 413 and body["error"]["code"] == "too_large"


def test_a_callback_to_a_private_address_is_refused(cloud: Stack) -> None:
    for url in ("https://169.254.169.254/latest", "http://example.com/hook", "https://10.0.0.1/"):
        status, body = call("POST", "/v1/jobs", {**POSTER, "callback_url": url})
        assert status == 400
        assert body["error"]["details"][0]["field"] == "callback_url"


def test_costs_come_by_quality_provider_and_day(cloud: Stack) -> None:
    # Given two jobs of the campaign run
    call("POST", "/v1/jobs", POSTER)
    call("POST", "/v1/jobs", {**POSTER, "quality": "medium"})
    run_queued_jobs(cloud)
    # When its costs are asked for
    status, costs = call("GET", "/v1/campaigns/spring/costs")
    # Then the totals are split by quality, provider and day
    assert status == 200
    assert costs["total"]["images_charged"] == 2
    assert set(costs["by_quality"]) == {"low", "medium"}
    assert set(costs["by_provider"]) == {"draft"}
    assert len(costs["by_day"]) == 1
    # And beside the cost, the estimate and the drift (draft keeps no estimate: it is free)
    total = costs["total"]
    assert (total["estimate_usd"], total["drift_usd"], total["images_estimated"]) == ("0", "0", 0)


def test_estimate_and_templates(cloud: Stack) -> None:
    status, estimate = call("POST", "/v1/estimate", {**POSTER, "n": 3})
    assert status == 200 and estimate["images"] == 3 and estimate["size"] == "1024x1024"
    status, templates = call("GET", "/v1/templates")
    assert status == 200
    assert {"social-square", "price-tag-edit"} <= {t["name"] for t in templates}


def test_an_unexpected_error_is_a_500_without_a_trace(cloud: Stack, parts: bootstrap.Parts) -> None:
    class Broken(dict[str, Any]):
        def values(self) -> Any:
            raise RuntimeError("secret internals")

    # Given a function whose template catalogue breaks when read
    broken = dataclasses.replace(parts, catalogue=Broken())
    # When the templates are asked for, Then the answer is a 500 that tells nothing inside
    status, body = call("GET", "/v1/templates", parts=broken)
    assert status == 500
    assert "internals" not in json.dumps(body) and "Traceback" not in json.dumps(body)


def queued_origins(stack: Stack) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    messages = sqs.receive_message(
        QueueUrl=stack.physical["JobsQueue"], MaxNumberOfMessages=10, VisibilityTimeout=0
    ).get("Messages", [])
    return [json.loads(m["Body"])["origin"] for m in messages]


def test_rerolls_go_with_the_job_and_past_the_limit_are_refused(cloud: Stack) -> None:
    # When a job asks for no re-rolls, Then its queued job carries the policy
    assert call("POST", "/v1/jobs", {**POSTER, "rerolls": 0})[0] == 202
    assert [o.get("rerolls") for o in queued_origins(cloud)] == [0]
    # When one asks for more than five, or not a whole number, Then 400 names rerolls
    for bad in (6, -1, "2", 1.5):
        status, body = call("POST", "/v1/jobs", {**POSTER, "rerolls": bad})
        assert status == 400 and [d["field"] for d in body["error"]["details"]] == ["rerolls"]


def test_a_review_is_recorded_and_a_reroll_makes_one_more_attempt(cloud: Stack) -> None:
    # Given a job of two images, accepted but not run yet
    _, accepted = call("POST", "/v1/jobs", {**POSTER, "n": 2})
    review = f"{accepted['status_url']}/review"
    # When it is reviewed before it ran, Then 409: nothing is delivered yet
    status, body = call("POST", review, {"decision": "approved"})
    assert status == 409 and body["error"]["code"] == "not_delivered"
    run_queued_jobs(cloud)
    # When image 0 is approved, Then 200 says it was recorded, and the status carries it
    status, reply = call("POST", review, {"decision": "approved", "image": 0})
    assert status == 200
    assert reply["images"] == [
        {"index": 0, "attempt": 1, "review": "approved", "outcome": "recorded",
         "message": "approved: recorded"}
    ]  # fmt: skip
    _, job = call("GET", accepted["status_url"])
    assert [(i["review"], i["attempt"], i["attempts"]) for i in job["images"]] == [
        ("approved", 1, 1),
        ("pending", 1, 1),
    ]
    assert {i["proof"] for i in job["images"]} <= {"pass", "fail", "unchecked"}
    # When image 1 is re-rolled, twice, Then one more attempt is made, and it is delivered
    reroll = {"decision": "reroll", "image": 1}
    first = call("POST", review, reroll)[1]
    again = call("POST", review, reroll, skew=1)[1]  # signed anew: not a replay
    assert [i["outcome"] for i in first["images"] + again["images"]] == ["rerolled", "unchanged"]
    run_queued_jobs(cloud)
    _, job = call("GET", accepted["status_url"])
    second = job["images"][1]
    assert (second["attempt"], second["attempts"], second["review"]) == (2, 2, "pending")
    assert Decimal(job["cost_usd"]) == sum(Decimal(i["cost_usd"]) for i in job["images"])


def test_reviews_that_cannot_apply_are_refused_naming_the_field(cloud: Stack) -> None:
    _, accepted = call("POST", "/v1/jobs", POSTER)
    run_queued_jobs(cloud)
    review = f"{accepted['status_url']}/review"
    for body, field in (
        ({"decision": "maybe"}, "decision"),
        ({"decision": "rejected"}, "note"),
        ({"decision": "approved", "image": 3}, "image"),
        ({"decision": "approved", "extra": 1}, "extra"),
    ):
        status, answer = call("POST", review, body)
        assert status == 400, body
        assert [d["field"] for d in answer["error"]["details"]] == [field]
    assert call("POST", f"/v1/jobs/{'0' * 32}/review", {"decision": "approved"})[0] == 404
    status, answer = call("POST", review, {"decision": "rejected", "note": "wrong date"})
    assert status == 200 and answer["images"][0]["review"] == "rejected"
