"""Every kind of event delivered three times (issue #16; docs/design.md, invariant 2): the S3
upload event to ingest, each SQS message (jobs, proofs, derivatives, reports, callbacks), the
same API call (with an Idempotency-Key, and signed anew without one) and its callback. Each
converges on what one delivery makes: the same images, the same ledger, equal to the
emulator's bill, each job ended once, one callback id, one set of reports.

The stack is template.yaml's on in-process moto; the provider is the reseller on the emulator."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from handlers import api
from placard import bootstrap
from placard.api.signing import signed_headers
from placard_emulator import ProviderEmulator
from placard_local.cloud import LocalContext, rest_api_event
from placard_local.stack import Stack
from tests.api_secrets import put_api_secrets
from tests.integration.at_least_once import (
    BUDGET,
    CAMPAIGN,
    Books,
    Deliveries,
    emulated,
    on_emulator,
    reports_written,
    sheet,
)

SECRET = "triple-delivery-secret"
COPY = {"product": "Cold brew", "headline": "Summer in a Can", "cta": "Try it"}
ROWS = [
    {"template": "social-square", **COPY, "quality": "low", "size": "1024x1024", "n": "2"},
    {"template": "social-square", **COPY, "quality": "medium", "size": "1024x1024", "n": "1"},
]
IMAGES = 3  # the sheet's rows' n
LOW, MEDIUM = Decimal("0.0072"), Decimal("0.028")  # the reseller's flat prices (SPEC §6)


@pytest.fixture
def emulator() -> Iterator[ProviderEmulator]:
    yield from emulated()


@dataclass
class Receiver:
    """A callback receiver on 127.0.0.1 that answers 200 and keeps what it was sent."""

    calls: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            state.calls.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def assert_one_of_each(stack: Stack, books: Books, emulator: ProviderEmulator) -> None:
    """What one delivery of everything makes: each object stored once, each image charged
    once at its price, the ledger equal to the bill and the budget holding it."""
    assert set(books.objects.values()) == {1}
    assert sorted(i["s3_key"] for i in books.charged) == sorted(books.originals)
    assert books.other == []
    bill = emulator.stats()
    assert bill.billed_images == len(books.charged)
    assert books.ledger_usd == bill.billed_usd
    assert books.remaining is None or BUDGET - books.remaining == bill.billed_usd


KINDS = ["S3", "JobsQueue", "ProofsQueue", "DerivativesQueue", "ReportsQueue"]
# The same, when the first image read back fails its proof: its re-roll round (attempt 2) is
# queued by every delivery of the proof request, and made by every delivery of the round.
REROLLED = [("JobsQueue", 1), ("ProofsQueue", 1)]


@pytest.mark.parametrize(
    ("kind", "blind"),
    [*((kind, 0) for kind in KINDS), *REROLLED],
    ids=[*KINDS, *(f"{kind}, re-rolled" for kind, _ in REROLLED)],
)
def test_an_uploads_events_delivered_three_times_converge(
    stack: Stack, parts: bootstrap.Parts, emulator: ProviderEmulator, kind: str, blind: int
) -> None:
    # Given an upload of two rows (three images) with a budget, whose every event of this kind
    # is delivered three times (and whose first image read back fails its proof, once)
    lambda_ = Deliveries(stack, on_emulator(parts, emulator, blind), times={kind: 3})
    # When it is ingested and the pipeline runs until the queues are empty
    ingested = lambda_.ingest(lambda_.upload("shops.csv", sheet(ROWS)))
    lambda_.drain()
    # Then each of them was delivered three times, and every delivery answered as the first
    assert lambda_.handled[kind] >= 3 and lambda_.handled[kind] % 3 == 0
    assert ingested["uploads"][0]["jobs"] == 2
    # And three images were made, stored once and charged once, as the emulator billed them
    books = Books.read(stack, "shops")
    rerolled = [i for i in books.charged if i["attempt"] > 1]
    assert len(books.charged) == IMAGES + blind and len(rerolled) == blind
    assert books.ledger_usd == 2 * LOW + MEDIUM + sum(i["cost_usd"] for i in rerolled)
    assert_one_of_each(stack, books, emulator)
    # And each job ended once, and the upload's reports say so, every time they were written
    (run,) = books.runs
    assert run["jobs_total"] == run["jobs_ended"] == books.markers == 2
    assert [r["status"] for r in books.results] == ["succeeded", "succeeded"]
    # (a message repeated after ingest repeats what it asks for next, down to the last job's
    # end: its claim on the reports holds on a redelivery (aws/progress.py), so the same rows
    # are written again, once per delivery; a re-roll round queued three times and each of
    # those delivered three times, nine times)
    written = reports_written(stack, "shops")
    assert len(written) == (1 if kind == "S3" else 3 ** (1 + blind))
    assert all(rows == written[0] for rows in written)


def post(body: dict[str, Any], parts: bootstrap.Parts, key: str | None, when: float) -> Any:
    raw = json.dumps(body).encode()
    headers = signed_headers(SECRET, "POST", "/live/v1/jobs", raw, now=when)
    if key:
        headers["Idempotency-Key"] = key
    event = rest_api_event("POST", "/v1/jobs", headers, raw)
    reply = api.process(event, LocalContext("ApiFunction", 29), parts)
    return reply["statusCode"], json.loads(reply["body"])


@pytest.mark.parametrize("keyed", [True, False], ids=["Idempotency-Key", "signed anew"])
def test_the_same_api_call_three_times_makes_one_job_and_one_callback_id(
    stack: Stack,
    parts: bootstrap.Parts,
    emulator: ProviderEmulator,
    receiver: Receiver,
    keyed: bool,
) -> None:
    # Given a job asked for three times: the same signed request under one Idempotency-Key,
    # or, without a key, signed anew each time (a client's retry)
    put_api_secrets(stack, SECRET)
    lambda_ = Deliveries(stack, on_emulator(parts, emulator), times={"CallbacksQueue": 3})
    body = {"campaign": CAMPAIGN, "template": "social-square", "variables": COPY,
            "quality": "low", "size": "1024x1024", "n": 2,
            "callback_url": receiver.url}  # fmt: skip
    now = time.time()
    key = "order-7" if keyed else None
    replies = [post(body, lambda_.parts, key, now if keyed else now + i) for i in range(3)]
    # Then every call is accepted, naming the same job
    assert [status for status, _ in replies] == [202] * 3
    assert len({reply["job_id"] for _, reply in replies}) == 1
    job_id = replies[0][1]["job_id"]
    # And a captured copy of the last call, replayed without a key, is refused
    if not keyed:
        assert post(body, lambda_.parts, None, now + 2)[0] == 401
    # When the pipeline runs, its callbacks delivered three times each
    lambda_.drain()
    # Then the job's two images were made and charged once, as the emulator billed them
    books = Books.read(stack)
    assert len(books.charged) == 2 and books.ledger_usd == 2 * LOW
    assert_one_of_each(stack, books, emulator)
    # And it ended succeeded, and every callback the receiver got is the same event under
    # one webhook id (its image links aside: each delivery presigns them anew)
    record = lambda_.parts.job_records.get(job_id)
    assert record is not None and record.ended == "succeeded"
    assert len(receiver.calls) == (3 if keyed else 9)  # each queued job's end, three times
    assert {headers["webhook-id"] for headers, _ in receiver.calls} == {f"msg_{job_id}"}
    events = [unlinked(json.loads(body)) for _, body in receiver.calls]
    assert all(event == events[0] for event in events)
    assert events[0]["data"]["job_id"] == job_id and events[0]["data"]["status"] == "succeeded"
    assert len(events[0]["data"]["images"]) == 2


def unlinked(event: dict[str, Any]) -> dict[str, Any]:
    """The callback's event with its images' presigned links cut at the query string."""
    images = [
        {**image, "url": str(image["url"]).partition("?")[0]} for image in event["data"]["images"]
    ]
    return {**event, "data": {**event["data"], "images": images}}
