"""The corpus of broken and hostile inputs (issue #6) against the deployed shape (issue #16).

Sheets: each corpus sheet is put in the uploads bucket (moto) under campaigns/, and the
ingest handler gets the ObjectCreated record S3 sends for it, through its Lambda entry point
(Powertools' decorators and all). The answer must be the one the reader gives the CLI: the
sheet refused naming the file in errors.csv, or each bad row there with its row and column
while the good rows are queued. Only the keys template.yaml's S3 filters deliver are sent: S3
never invokes ingest for the others.

API requests: each corpus request is sent as API Gateway's REST API sends it to the API
handler: header names as an HTTP/2 client writes them (lower case), the proxy headers
CloudFront and API Gateway add, the route's resource and path parameters, the stage in the
request context's path. The answer must be the same 4xx error as the corpus names, never a
5xx, never a stack trace in a body or a log.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

from handlers import api, ingest
from placard import bootstrap
from placard.api.signing import signed_headers
from placard.reporting.csv_reports import read_errors
from placard.sheets.reader import CSV_SUFFIXES, XLSX_SUFFIXES
from placard_local.cloud import LOCAL_ENV, LocalContext, provision, s3_put_event
from placard_local.stack import Stack, s3_filter_matches
from tests.api_secrets import put_api_secrets
from tests.conftest import ROOT
from tests.corpus.test_api import API_CASES, SECRET, Case
from tests.corpus.test_sheets import CASES as SHEET_CASES
from tests.corpus.test_sheets import Answer, judge

CAMPAIGN = "corpus"


@pytest.fixture(scope="module")
def deployed() -> Iterator[Stack]:
    """The stack on in-process moto (as tests/conftest.py's `stack`), made once for the
    module: each case uses keys of its own, so ~120 cases need not provision it ~120 times."""
    with pytest.MonkeyPatch.context() as env:
        env.delenv("AWS_ENDPOINT_URL", raising=False)
        for name, value in LOCAL_ENV.items():
            env.setenv(name, value)
        with mock_aws():
            stack = Stack.load(ROOT / "template.yaml")
            for name, value in provision(stack, ROOT).items():
                env.setenv(name, value)
            bootstrap.forget()
            yield put_api_secrets(stack, SECRET)
        bootstrap.forget()
        parameters.clear_caches()  # type: ignore[no-untyped-call]


def delivered(key: str) -> bool:
    """Whether template.yaml's S3 event sources invoke ingest for an object at `key`."""
    function = Stack.load(ROOT / "template.yaml").functions()["IngestFunction"]
    return any(s.kind == "S3" and s3_filter_matches(s, key) for s in function.events)


def no_trace(text: str) -> None:
    assert "Traceback" not in text and 'File "' not in text, text


# Sheets, as S3 invokes ingest

SHEETS = [
    pytest.param(data, name, answer, case, id=case)
    for case, data, name, answer in SHEET_CASES
    if delivered(f"campaigns/{CAMPAIGN}/{name}")
]


def queued_rows(stack: Stack, campaign: str) -> list[int]:
    """The sheet rows of the campaign's jobs in the jobs queue, taken off it."""
    sqs, url, rows = boto3.client("sqs"), stack.physical["JobsQueue"], []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            job = json.loads(message["Body"])
            rows += [job["origin"]["row"]] if job["campaign"] == campaign else []
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return sorted(rows)


@pytest.mark.parametrize(("data", "name", "answer", "campaign"), SHEETS)
def test_a_corpus_sheet_uploaded_to_s3_gets_its_answer_from_the_ingest_function(
    deployed: Stack,
    data: bytes,
    name: str,
    answer: Answer,
    campaign: str,
    capfd: pytest.CaptureFixture[str],
) -> None:
    # Given the sheet in the uploads bucket, as a person uploads it (a campaign per case)
    stack = deployed
    bucket, key = stack.physical["UploadsBucket"], f"campaigns/{campaign}/{name}"
    boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=data)
    # When S3 invokes the ingest function with its ObjectCreated record
    event = s3_put_event(bucket, key, len(data), stack.region)
    reply = ingest.handler(event, LocalContext("IngestFunction", 900))
    # Then errors.csv holds the answer the reader gives the CLI, and the good rows are queued
    (upload,) = reply["uploads"]
    errors_csv = boto3.client("s3").get_object(
        Bucket=stack.physical["AssetsBucket"], Key=upload["errors_key"]
    )["Body"]
    errors = [e for row in read_errors(errors_csv.read()).values() for e in row]
    refusals = [e for e in errors if not e.warning]
    if answer.sheet or (not answer.jobs and not answer.errors):
        # the whole sheet refused (or it had no rows), naming the file, as the CLI says it
        (refusal,) = [e for e in refusals if e.row == 0]  # after any rows read before it
        assert refusal.value == name, refusal
        assert re.search(answer.sheet or "has a header but no rows", refusal.reason), refusal
        assert upload["jobs"] == 0 and queued_rows(stack, campaign) == []
    else:
        # each distinct job once (a repeated row is the same job), the bad rows named
        jobs, _, _ = judge(data, name)
        first_rows = {j.job_id: j.origin["row"] for j in reversed(jobs)}
        assert queued_rows(stack, campaign) == sorted(first_rows.values()) and upload[
            "jobs"
        ] == len(first_rows)
        assert sorted({j.origin["row"] for j in jobs}) == list(answer.jobs)
        assert [(e.row, e.column) for e in refusals] == [(r, c) for r, c, _ in answer.errors]
        for error, (_, _, words) in zip(refusals, answer.errors, strict=True):
            assert re.search(words, error.reason), error.reason
    assert [w.column for w in errors if w.warning] == [c for c, _ in answer.warnings]
    assert upload["errors"] == len({e.row for e in refusals}) > 0 or not refusals
    captured = capfd.readouterr()
    no_trace(captured.out + captured.err)


def test_the_corpus_sheets_s3_never_delivers_are_the_ones_of_types_placard_does_not_read() -> None:
    # Given the corpus's sheets, then S3 invokes ingest for every one of a type it reads
    names = {name for _, _, name, _ in SHEET_CASES}
    assert {n for n in names if delivered(f"campaigns/{CAMPAIGN}/{n}")} == {
        n for n in names if n.endswith(CSV_SUFFIXES + XLSX_SUFFIXES)
    }


# API requests, as API Gateway invokes the API function


def gateway_event(
    method: str,
    resource: str,
    path: str,
    headers: dict[str, str],
    body: bytes,
    parameters: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The REST API proxy event API Gateway sends for a call at /live`path`."""
    sent = {
        "host": "abc123.execute-api.us-east-1.amazonaws.com",
        "user-agent": "corpus/1.0",
        "via": "2.0 3f2c.cloudfront.net (CloudFront)",
        "x-amz-cf-id": "aBcD==",
        "x-amzn-trace-id": "Root=1-6750f3a2-0123456789abcdef01234567",
        "x-forwarded-for": "203.0.113.9, 130.176.0.1",
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
        "cloudfront-viewer-country": "DE",
        **{k.lower(): v for k, v in headers.items()},  # HTTP/2: names in lower case
    }
    now = time.time()
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": sent,
        "multiValueHeaders": {k: [v] for k, v in sent.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": parameters,
        "stageVariables": None,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": sent["host"],
            "domainPrefix": "abc123",
            "extendedRequestId": "Ab1=",
            "httpMethod": method,
            "identity": {"sourceIp": "203.0.113.9", "userAgent": sent["user-agent"]},
            "path": f"/live{path}",
            "protocol": "HTTP/2.0",
            "requestId": str(uuid.uuid4()),
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "requestTimeEpoch": int(now * 1000),
            "resourceId": "r3s0u7",
            "resourcePath": resource,
            "stage": "live",
        },
        "body": body.decode("utf-8", "replace") if body else None,
        "isBase64Encoded": False,
    }


def answered(reply: dict[str, Any], status: int, code: str, words: tuple[str, ...]) -> None:
    """The reply is the corpus's error in the error shape, a client's error, no trace."""
    assert 400 <= reply["statusCode"] < 500, reply
    headers = reply.get("headers") or {k: v[0] for k, v in reply["multiValueHeaders"].items()}
    assert headers["Content-Type"].startswith("application/json"), reply
    error = json.loads(reply["body"])["error"]
    assert (reply["statusCode"], error["code"]) == (status, code), error
    for word in words:
        assert word in error["message"], error
    no_trace(reply["body"])


# Bodies API Gateway can carry: it passes text through as received, so the non-UTF-8 body is
# the one case whose bytes differ (it arrives with U+FFFD where the bad byte was).
POSTS = {name: case for name, case in API_CASES.items() if name != "non-utf8-body-400"}


_SIGNED: list[int] = []


def own_second() -> int:
    """A signing time no other case here used, inside the signature window."""
    floor = int(time.time()) - 60
    second = max(floor, _SIGNED[-1] + 1) if _SIGNED else floor
    _SIGNED.append(second)
    return second


@pytest.mark.parametrize("given", POSTS.values(), ids=POSTS.keys())
def test_a_corpus_request_through_api_gateway_gets_the_corpus_answer(
    deployed: Stack, given: Case, capfd: pytest.CaptureFixture[str]
) -> None:
    # Given a signed corpus request, as API Gateway's REST API hands it to the function (a
    # second of its own: two cases share a body, and the stack's replay guard is shared too)
    signed = signed_headers(SECRET, "POST", f"/live{given.path}", given.body, now=own_second())
    headers = {**signed, **given.headers}
    event = gateway_event("POST", given.path, given.path, headers, given.body)
    # When the API function answers it through its Lambda entry point
    reply = api.handler(event, LocalContext("ApiFunction", 29))
    # Then it is the corpus's answer: a 4xx in the error shape naming what is wrong, no trace
    answered(reply, given.status, given.code, given.words)
    captured = capfd.readouterr()
    no_trace(captured.out + captured.err)


# Path parameters API Gateway matches ({job_id}, {campaign}: any one segment) that the routes'
# own patterns refuse; API Gateway decodes them, and keeps the path as the caller sent it.
PATHS = {
    "job-id-not-hex-400": (
        "/v1/jobs/{job_id}", "/v1/jobs/..%2F..%2Fsecrets", {"job_id": "../../secrets"},
        400, "invalid_request", ("job_id",),
    ),
    "job-id-too-long-400": (
        "/v1/jobs/{job_id}", "/v1/jobs/" + "a" * 300, {"job_id": "a" * 300},
        400, "invalid_request", ("job_id",),
    ),
    "unknown-job-404": (
        "/v1/jobs/{job_id}", "/v1/jobs/" + "0" * 32, {"job_id": "0" * 32},
        404, "not_found", ("0" * 32,),
    ),
    "campaign-with-nul-400": (
        "/v1/campaigns/{campaign}/costs", "/v1/campaigns/a%00b/costs", {"campaign": "a\0b"},
        400, "invalid_request", ("campaign",),
    ),
    "campaign-dot-dot-400": (
        "/v1/campaigns/{campaign}/costs", "/v1/campaigns/../costs", {"campaign": ".."},
        400, "invalid_request", ("campaign",),
    ),
}  # fmt: skip


@pytest.mark.parametrize(
    ("resource", "path", "parameters", "status", "code", "words"),
    PATHS.values(),
    ids=PATHS.keys(),
)
def test_a_hostile_path_through_api_gateway_is_a_clear_4xx(
    deployed: Stack,
    resource: str,
    path: str,
    parameters: dict[str, str],
    status: int,
    code: str,
    words: tuple[str, ...],
) -> None:
    # Given a signed GET whose path parameter is hostile, as API Gateway matched it
    headers = signed_headers(SECRET, "GET", f"/live{path}", b"")
    event = gateway_event("GET", resource, path, headers, b"", parameters)
    # When the API function answers, then it names the parameter, as a client's error
    answered(api.handler(event, LocalContext("ApiFunction", 29)), status, code, words)
