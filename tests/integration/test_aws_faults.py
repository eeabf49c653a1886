"""S3, DynamoDB and SQS errors and throttling injected (issue #16): retried or surfaced with a
clear reason, nothing lost, nothing charged twice, the ledger equal to the emulator's bill.

The faults are answered on the wire of the handlers' own clients (placard_local.faults, a
botocore `before-send` hook ahead of moto), so botocore's retries run under bootstrap's
Config as they would on Lambda. The backoff is scaled down a hundredfold: the schedule of
retries is the same, the test just does not sleep through it."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.data_classes import S3Event
from botocore.exceptions import ClientError
from botocore.retries import standard

from handlers import derivatives, ingest, proof, report, worker
from placard import bootstrap
from placard.domain.ledger_items import Status
from placard.domain.proofs import ReadLine
from placard.reporting.csv_reports import read_errors
from placard.settings import Settings
from placard_emulator import EmulatorConfig, ProviderEmulator
from placard_local.cloud import LocalContext, s3_put_event, sqs_event
from placard_local.faults import KINDS, POLLER_OPERATIONS, Fault, FaultLayer, from_spec
from placard_local.stack import Stack
from tests.conftest import ROOT

KEY = "sk-faults-0123456789"
CAMPAIGN = "faults"
HEADER = ["template", "product", "headline", "cta", "quality", "size"]
GOOD = [["social-square", "Tea", f"Matcha no. {i}", "Taste it", "low", "1024x1024"]
        for i in range(1, 4)]  # fmt: skip
BAD = ["social-square", "Tea", "", "Taste it", "low", "1024x1024"]  # headline is required
CONSUMERS: dict[str, tuple[str, Callable[..., Any], int]] = {
    "JobsQueue": ("WorkerFunction", worker.process, 600),
    "ProofsQueue": ("ProofFunction", proof.process, 120),
    "DerivativesQueue": ("DerivativesFunction", derivatives.process, 120),
    "ReportsQueue": ("ReportFunction", report.process, 900),
}
BUDGET = Decimal("1.00")
MAX_INVOCATIONS = 200  # far more than a four-row sheet needs, even redelivered


@pytest.fixture
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    real = standard.ExponentialBackoff.delay_amount

    def scaled(self: standard.ExponentialBackoff, context: Any) -> float:
        return float(real(self, context)) / 100

    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", scaled)


class Unreadable:
    """A proof reader that reads no script: every image `unchecked`, none re-rolled (the
    OCR engine is another test's; here it would only cost time)."""

    def read(self, image: bytes) -> list[ReadLine]:
        return []

    def reads(self, text: str) -> bool:
        return False


@pytest.fixture
def emulator(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[ProviderEmulator]:
    """OpenAI's API, billing by tokens, as the functions' provider."""
    with ProviderEmulator(EmulatorConfig(api_key=KEY)) as running:
        monkeypatch.setenv("PLACARD_PROVIDER", "openai")
        monkeypatch.setenv("OPENAI_BASE_URL", f"{running.url}/v1")
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        monkeypatch.setenv("PLACARD_SECRET_NAME", "")  # the key from the environment
        yield running


def faulted_parts(layer: FaultLayer) -> bootstrap.Parts:
    """The parts a function builds, on clients (bootstrap's own Config) the layer faults."""
    clients = bootstrap.Clients.from_env()
    layer.attach(clients.s3, clients.dynamodb, clients.sqs)
    parts = bootstrap.build(Settings.from_env(), clients)
    return dataclasses.replace(parts, make_reader=Unreadable)


# The retry configuration


def test_the_clients_retries_end_within_the_shortest_function_timeout() -> None:
    # Given the functions of template.yaml and the clients' Config
    functions = Stack.load(ROOT / "template.yaml").functions().values()
    timeouts = {f.logical_id: f.timeout for f in functions}
    config: Any = bootstrap.CLIENT_CONFIG  # botocore's Config sets its options dynamically
    retries = config.retries
    attempts = retries["total_max_attempts"]
    # When every attempt of a call takes as long as it may, with the longest throttle backoffs
    per_attempt = config.connect_timeout + config.read_timeout
    backoffs = sum(min(2**i, 20) for i in range(attempts - 1))  # botocore's standard mode
    worst = attempts * per_attempt + backoffs
    # Then the call is over within the shortest timeout (the API's), in standard mode, and
    # the S3 client retries the same way
    assert retries["mode"] == "standard" and attempts >= 3
    assert worst < min(timeouts.values()) == timeouts["ApiFunction"], (worst, timeouts)
    s3_config: Any = bootstrap.S3_CONFIG
    assert s3_config.retries == retries


# One call at a time: each fault of each service


KIND_CASES = [
    pytest.param(service, fault, id=f"{service}-{fault.code}")
    for service, faults in KINDS.items()
    for fault in faults
]


def call(parts: bootstrap.Parts, service: str) -> None:
    """One call of the service, through the adapter the pipeline makes it with."""
    if service == "s3":
        parts.assets.put_report("reports/faults/x/results.csv", b"row\n", "text/csv")
    elif service == "dynamodb":
        parts.budgets.give_back(CAMPAIGN, Decimal("0.01"))  # one UpdateItem
    else:
        parts.callback_requests.send("0" * 32, "https://example.com/hook")


@pytest.mark.parametrize(("service", "fault"), KIND_CASES)
def test_a_fault_within_the_retries_is_retried_and_the_call_succeeds(
    stack: Stack, quick_backoff: None, service: str, fault: Fault
) -> None:
    # Given the service answering this fault to the first two attempts of every operation
    layer = FaultLayer.first(2, services=frozenset({service}), kinds={service: (fault,)})
    parts = faulted_parts(layer)
    # When the adapter makes its call(s), then each succeeds on its third attempt
    call(parts, service)
    assert set(layer.attempts.values()) == {3}
    assert layer.injected == {f"{service} {fault.code}": 2 * len(layer.attempts)}


@pytest.mark.parametrize(("service", "fault"), KIND_CASES)
def test_a_fault_outlasting_the_retries_surfaces_naming_its_code(
    stack: Stack, quick_backoff: None, service: str, fault: Fault
) -> None:
    # Given the service answering this fault to every attempt
    layer = FaultLayer.first(99, services=frozenset({service}), kinds={service: (fault,)})
    parts = faulted_parts(layer)
    # When the adapter makes its call, then after three attempts the error surfaces, naming
    # the service's code, the operation and the retries made
    with pytest.raises(ClientError) as raised:
        call(parts, service)
    assert raised.value.response["Error"]["Code"] == fault.code
    assert "(reached max retries: 2)" in str(raised.value)
    assert list(layer.attempts.values()) == [3]  # the first call gave up; no other was made


def test_the_local_cloud_switch_reads_its_spec_and_spares_lambdas_poller() -> None:
    # Given the three forms PLACARD_AWS_FAULTS takes, then each gives its schedule
    every, first, rate = from_spec("every:3"), from_spec("first:2"), from_spec("0.5")
    assert [every.decides("s3.PutObject", n) for n in range(1, 7)] == [0, 0, 1, 0, 0, 1]
    assert [first.decides("s3.PutObject", n) for n in range(1, 5)] == [1, 1, 0, 0]
    assert 60 < sum(rate.decides("sqs.SendMessage", n) for n in range(1, 201)) < 140
    # And Lambda's poller's own calls are spared, placard's are not
    assert every.spare == POLLER_OPERATIONS and "sqs.SendMessage" not in every.spare
    # And a malformed spec is refused, saying what is allowed
    for spec in ("1.5", "every:1", "often"):
        with pytest.raises(ValueError, match=r"PLACARD_AWS_FAULTS is a share .* got"):
            from_spec(spec)


# A whole sheet, from its upload to its reports


def drain(
    stack: Stack, parts: bootstrap.Parts, faulty: dict[str, bootstrap.Parts] | None = None
) -> int:
    """Deliver what the queues hold, one message an invocation, as Lambda's pollers would: a
    message whose record failed (or whose invocation raised) comes back, its receive count
    one higher. `faulty` gives a queue's function other parts. Returns the invocations that
    failed."""
    sqs = boto3.client("sqs")
    failed = 0
    for _ in range(MAX_INVOCATIONS):
        for queue, (function, process, timeout) in CONSUMERS.items():
            url = stack.physical[queue]
            messages = sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=1, MessageSystemAttributeNames=["All"]
            ).get("Messages", [])
            if not messages:
                continue
            event = sqs_event(messages, stack.arn(queue), stack.region)
            try:
                given = (faulty or {}).get(queue, parts)
                reply = process(event, LocalContext(function, timeout), given)
                ok = reply == {"batchItemFailures": []}
            except Exception:  # a whole-batch failure: Lambda retries the message
                ok = False
            handle = messages[0]["ReceiptHandle"]
            if ok:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=handle)
            else:
                failed += 1
                sqs.change_message_visibility(
                    QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=0
                )
            break
        else:
            return failed
    raise AssertionError(f"the queues still hold messages after {MAX_INVOCATIONS} invocations")


def upload_sheet(stack: Stack, tmp_path: Path, parts: bootstrap.Parts) -> int:
    """The sheet uploaded and its S3 event delivered to ingest, as S3 invokes it: an
    invocation that raises is retried by Lambda, twice at most. Returns the failed ones."""
    path = tmp_path / "sheet.csv"
    with path.open("w", newline="", encoding="utf-8") as out:
        csv.writer(out).writerows([HEADER, *GOOD, BAD])
    bucket, key = stack.physical["UploadsBucket"], f"campaigns/{CAMPAIGN}/sheet.csv"
    budget = {"Metadata": {"budget-usd": str(BUDGET)}}  # so each job reserves from it
    boto3.client("s3").upload_file(str(path), bucket, key, ExtraArgs=budget)
    event = s3_put_event(bucket, key, path.stat().st_size, stack.region)
    for attempt in range(3):
        try:
            ingest.process(S3Event(event), LocalContext("IngestFunction", 900), parts)
        except ClientError:
            continue
        return attempt
    raise AssertionError("ingest failed three times: the sheet went to its on-failure queue")


def report_rows(stack: Stack, name: str) -> bytes:
    key = f"reports/{CAMPAIGN}/sheet/{name}"
    body = boto3.client("s3").get_object(Bucket=stack.physical["AssetsBucket"], Key=key)["Body"]
    data: bytes = body.read()
    return data


def assert_every_row_ended_and_the_ledger_is_the_bill(
    stack: Stack, parts: bootstrap.Parts, emulator: ProviderEmulator
) -> None:
    # Every row is in results.csv, each good one succeeded, the bad one failed naming its field
    text = report_rows(stack, "results.csv").decode("utf-8-sig")
    results = list(csv.DictReader(io.StringIO(text)))
    assert sorted(int(r["row"]) for r in results) == [2, 3, 4, 5]
    assert {r["row"]: r["status"] for r in results if r["row"] != "5"} == {
        str(row): "succeeded" for row in range(2, 5)
    }
    errors = read_errors(report_rows(stack, "errors.csv"))
    assert [(e.row, e.column) for e in errors[5]] == [(5, "headline")]
    # Each image charged once, and the ledger equals what the provider billed
    items = parts.ledger.campaign_items(CAMPAIGN)
    charged = [i for i in items if i.status is Status.CHARGED]
    assert len({(i.job_id, i.image_index, i.attempt) for i in charged}) == len(charged) == 3
    assert [i for i in items if i.status is not Status.CHARGED] == []
    stats = emulator.stats()
    assert stats.billed_images == 3
    spent = sum((i.cost_usd for i in charged), Decimal(0))
    assert spent == stats.billed_usd
    # And the budget holds what was spent, no more: every reservation settled or given back
    assert parts.budgets.remaining(CAMPAIGN) == BUDGET - spent


def test_every_third_attempt_failing_everywhere_is_retried_and_the_sheet_ends_whole(
    stack: Stack, emulator: ProviderEmulator, quick_backoff: None, tmp_path: Path
) -> None:
    # Given every third attempt of every S3, DynamoDB and SQS operation failing, each
    # service's throttles and internal errors in turn
    layer = FaultLayer.every(3)
    parts = faulted_parts(layer)
    # When a sheet of three good rows and a bad one is uploaded and every queue drained
    failed_ingests = upload_sheet(stack, tmp_path, parts)
    failed_invocations = drain(stack, parts)
    # Then every fault was retried: no invocation failed
    assert (failed_ingests, failed_invocations) == (0, 0)
    assert {kind.split()[0] for kind in layer.injected} == {"s3", "dynamodb", "sqs"}
    assert sum(layer.injected.values()) >= 20, layer.by_kind()
    print("faults injected (retried):", json.dumps(layer.by_kind()))
    # And every row ended, nothing was charged twice, the ledger is the bill
    assert_every_row_ended_and_the_ledger_is_the_bill(stack, parts, emulator)


SURFACED = [
    # ingest's jobs throttled past the retries: the invocation fails; Lambda's retry sends all
    pytest.param("sqs.SendMessageBatch", "ingest", id="ingest-queue-send"),
    # the worker's reservation from the budget: the delivery fails before the provider is called
    pytest.param("dynamodb.UpdateItem", "worker", id="budget-reservation"),
    # the proof request after the images are stored: the job's outcome is kept, sent again
    pytest.param("sqs.SendMessage", "worker", id="proof-request"),
    # the report's results.csv: the report request comes back
    pytest.param("s3.PutObject", "report", id="report-put"),
]


@pytest.mark.parametrize(("operation", "where"), SURFACED)
def test_a_fault_outlasting_the_retries_fails_the_delivery_and_the_redelivery_converges(
    stack: Stack,
    emulator: ProviderEmulator,
    quick_backoff: None,
    tmp_path: Path,
    operation: str,
    where: str,
) -> None:
    # Given one operation failing its first three attempts (one call's every retry) after
    # the sheet reached the function `where`
    parts = faulted_parts(FaultLayer(lambda name, n: False))  # the other functions'
    armed = FaultLayer(lambda name, n: name == operation and n <= 3)
    faulty = faulted_parts(armed)
    if where == "ingest":
        failed_ingests = upload_sheet(stack, tmp_path, faulty)
        failed_invocations = drain(stack, parts)
    else:
        failed_ingests = upload_sheet(stack, tmp_path, parts)
        queue = {"worker": "JobsQueue", "report": "ReportsQueue"}[where]
        failed_invocations = drain(stack, parts, {queue: faulty})
    # Then the call surfaced and its delivery failed, once
    assert armed.attempts[operation] >= 3 and sum(armed.injected.values()) == 3
    assert failed_ingests + failed_invocations == 1
    # And the redelivery converged: every row ended, nothing charged twice, ledger == bill
    assert_every_row_ended_and_the_ledger_is_the_bill(stack, parts, emulator)
