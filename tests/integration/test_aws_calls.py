"""The AWS calls one job makes, counted by service and operation on the very boto3 clients the
handlers use (botocore's `provide-client-params` event), from the upload or the API call to the end.

The counts are the cost model's input (bench/aws_calls.json, read by bench/aws_cost.py and
docs/cost.md): when the code makes a different number of calls, this test fails and prints
the new table, so the model cannot drift from the code."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.data_classes import S3Event

from handlers import api, derivatives, ingest, proof, report, worker
from placard import bootstrap
from placard.aws.ledger import OPEN
from placard.domain.ports import ImageReader
from placard.domain.proofs import ReadLine
from placard.settings import Settings
from placard_local.cloud import LocalContext, rest_api_event, s3_put_event, sqs_event
from placard_local.stack import Stack
from tests.api_secrets import put_api_secrets

COUNTS = Path(__file__).parents[2] / "bench" / "aws_calls.json"
SECRET = "aws-calls-secret"
COPY = {"product": "Cold brew", "headline": "Summer in a Can", "cta": "Try it"}
LOW_SQUARE = {"quality": "low", "size": "1024x1024"}
# The functions an SQS queue feeds, and each one's `process`, as template.yaml wires them.
CONSUMERS: dict[str, tuple[str, Callable[..., Any], int]] = {
    "JobsQueue": ("WorkerFunction", worker.process, 600),
    "ProofsQueue": ("ProofFunction", proof.process, 120),
    "DerivativesQueue": ("DerivativesFunction", derivatives.process, 120),
    "ReportsQueue": ("ReportFunction", report.process, 900),
}


class Tally(logging.Handler):
    """Calls per function, `service.Operation`, and invocations per function; and the bytes
    the functions log (what CloudWatch Logs ingests), formatted as Powertools prints them."""

    def __init__(self) -> None:
        super().__init__()
        self.function = ""
        self.calls: dict[str, Counter[str]] = {}
        self.opened: set[tuple[str, str]] = set()  # keys put into the Open index
        self.log_bytes = 0
        self.setFormatter(worker.logger.registered_formatter)

    def emit(self, record: logging.LogRecord) -> None:
        self.log_bytes += len(self.format(record).encode()) + 1

    def invoked(self, function: str) -> None:
        self.function = function
        self.calls.setdefault(function, Counter())["invocations"] += 1

    def count(self, event_name: str, params: dict[str, Any], **_: Any) -> None:
        _, service, operation = event_name.split(".")  # provide-client-params.<service>.<Op>
        self.calls[self.function][f"{service}.{operation}"] += 1
        if operation == "TransactWriteItems":  # billed by the items it writes
            self.calls[self.function][f"{service}.{operation} items"] += len(
                params["TransactItems"]
            )
        self.calls[self.function][f"{service}.Open index writes"] += self._index_writes(params)
        self.calls[self.function] += Counter()  # drops a count of 0

    def _index_writes(self, params: dict[str, Any]) -> int:
        """Writes to the ledger's Open index (aws/ledger.py: OPEN), billed like the table's: a
        reservation goes in with its first put and out with the put that settles it; an
        upload's run goes in with its total and out with its reports' claim, both counted
        where it goes in. A put that leaves its index keys as they were writes nothing there."""
        if ":open" in params.get("UpdateExpression", ""):
            return 2
        item = params.get("Item", {})
        if "sk" not in item:  # not the ledger table's (the idempotency records')
            return 0
        key = (item["pk"]["S"], item["sk"]["S"])
        if OPEN in item:
            fresh = key not in self.opened
            self.opened.add(key)
            return int(fresh)
        if key in self.opened:
            self.opened.discard(key)
            return 1
        return 0

    def table(self) -> dict[str, dict[str, int]]:
        return {f: dict(sorted(c.items())) for f, c in sorted(self.calls.items())}


class BlindOnce:
    """The real reader, except that it reads nothing in the first image it is shown: that
    image fails its proof and is re-rolled once."""

    def __init__(self, reader: ImageReader) -> None:
        self.reader, self.blind = reader, True

    def read(self, image: bytes) -> list[ReadLine]:
        if self.blind:
            self.blind = False
            return []
        return self.reader.read(image)

    def reads(self, text: str) -> bool:
        return self.reader.reads(text)


@pytest.fixture(scope="module")
def reader() -> ImageReader:
    """The OCR engine the proof function carries, loaded once for the module."""
    from placard.proofing.reader import OnnxReader

    return OnnxReader()


def counted_parts(tally: Tally, reader: ImageReader) -> bootstrap.Parts:
    """The parts a function builds, on clients whose every call the tally counts."""
    clients = bootstrap.Clients.from_env()
    for client in (clients.s3, clients.dynamodb, clients.sqs):
        client.meta.events.register("provide-client-params", tally.count)
    parts = bootstrap.build(Settings.from_env(), clients)
    return dataclasses.replace(parts, make_reader=lambda: reader)


def drain(stack: Stack, tally: Tally, parts: bootstrap.Parts) -> None:
    """Deliver what the queues hold, one message an invocation, until every queue is empty:
    as Lambda's pollers would (their own receives and deletes are the model's, not counted)."""
    sqs = boto3.client("sqs")
    while True:
        for queue, (function, process, timeout) in CONSUMERS.items():
            messages = sqs.receive_message(
                QueueUrl=stack.physical[queue],
                MaxNumberOfMessages=1,
                MessageSystemAttributeNames=["All"],
            ).get("Messages", [])
            if messages:
                tally.invoked(function)
                event = sqs_event(messages, stack.arn(queue), stack.region)
                reply = process(event, LocalContext(function, timeout), parts)
                assert reply == {"batchItemFailures": []}
                sqs.delete_message(
                    QueueUrl=stack.physical[queue], ReceiptHandle=messages[0]["ReceiptHandle"]
                )
                break
        else:
            return


def sheet_job(stack: Stack, tmp_path: Path, parts: bootstrap.Parts, tally: Tally, n: int) -> None:
    """A one-row sheet of `n` images uploaded, ingested, made, read back, derived, reported."""
    path = tmp_path / "one.csv"
    row = {"template": "social-square", **COPY, **LOW_SQUARE, "n": str(n)}
    path.write_text(",".join(row) + "\n" + ",".join(row.values()) + "\n", encoding="utf-8")
    bucket, key = stack.physical["UploadsBucket"], "campaigns/summer/one.csv"
    boto3.client("s3").upload_file(str(path), bucket, key)  # the user's upload
    tally.invoked("IngestFunction")
    event = s3_put_event(bucket, key, path.stat().st_size, stack.region)
    ingest.process(S3Event(event), LocalContext("IngestFunction", 900), parts)
    drain(stack, tally, parts)


def api_job(stack: Stack, parts: bootstrap.Parts, tally: Tally) -> None:
    """A signed POST /v1/jobs of one image, made, read back and derived."""
    put_api_secrets(stack, SECRET)
    from placard.api.signing import signed_headers

    body = {"campaign": "spring", "template": "social-square", "variables": COPY, **LOW_SQUARE}
    raw = json.dumps(body).encode()
    headers = signed_headers(SECRET, "POST", "/live/v1/jobs", raw, now=time.time())
    tally.invoked("ApiFunction")
    reply = api.process(
        rest_api_event("POST", "/v1/jobs", headers, raw), LocalContext("ApiFunction", 29), parts
    )
    assert reply["statusCode"] == 202
    drain(stack, tally, parts)


def item_bytes(value: dict[str, Any]) -> int:
    """An attribute value's size as DynamoDB bills it (names and values in bytes, numbers
    about one byte per two digits, three bytes of overhead per map or list)."""
    ((kind, data),) = value.items()
    if kind == "S":
        return len(data.encode())
    if kind == "N":
        return len(data) // 2 + 1
    if kind == "B":
        return len(data)
    if kind == "M":
        return 3 + sum(len(k.encode()) + item_bytes(v) for k, v in data.items())
    if kind == "L":
        return 3 + sum(1 + item_bytes(v) for v in data)
    if kind in ("SS", "NS", "BS"):
        return sum(item_bytes({kind[0]: v}) for v in data)
    return 1  # BOOL, NULL


def largest_items_kb(stack: Stack) -> dict[str, int]:
    """Each table's largest item, in the 1 KB steps a write is billed by."""
    db = boto3.client("dynamodb")
    return {
        table: math.ceil(
            max(
                item_bytes({"M": item}) - 3
                for item in db.scan(TableName=stack.physical[table])["Items"]
            )
            / 1024
        )
        for table in ("LedgerTable", "IdempotencyTable")
    }


# What Powertools' inject_lambda_context adds to every line on Lambda, at a deployed stack's
# lengths: the bytes CloudWatch Logs bills are these lines'.
LAMBDA_CONTEXT_KEYS = {
    "cold_start": False,
    "function_name": "placard-WorkerFunction-Xk2mP9qLr4Vw",
    "function_memory_size": 1024,
    "function_arn": "arn:aws:lambda:us-east-1:123456789012:function:"
    "placard-WorkerFunction-Xk2mP9qLr4Vw",
    "function_request_id": "9f1c2d3e-4b5a-6789-abcd-ef0123456789",
}


def counted(scenario: str, stack: Stack, tmp_path: Path, reader: ImageReader) -> Tally:
    tally = Tally()
    # The same keys whatever ran before: another test's Lambda context would otherwise linger
    # on the shared logger and change the bytes counted.
    worker.logger.clear_state()
    worker.logger.append_keys(**LAMBDA_CONTEXT_KEYS)
    logging.getLogger(worker.logger.name).addHandler(tally)
    try:
        run(scenario, stack, tmp_path, reader, tally)
    finally:
        logging.getLogger(worker.logger.name).removeHandler(tally)
        worker.logger.clear_state()
    return tally


def run(scenario: str, stack: Stack, tmp_path: Path, reader: ImageReader, tally: Tally) -> None:
    if scenario == "sheet, 1 image":
        sheet_job(stack, tmp_path, counted_parts(tally, reader), tally, n=1)
    elif scenario == "sheet, 4 images":
        sheet_job(stack, tmp_path, counted_parts(tally, reader), tally, n=4)
    elif scenario == "sheet, 1 image re-rolled once":
        sheet_job(stack, tmp_path, counted_parts(tally, BlindOnce(reader)), tally, n=1)
    else:
        api_job(stack, counted_parts(tally, reader), tally)


MODEL = json.loads(COUNTS.read_text(encoding="utf-8"))


@pytest.mark.parametrize("scenario", MODEL["calls"])
def test_a_job_makes_the_aws_calls_the_cost_model_counts(
    stack: Stack, tmp_path: Path, reader: ImageReader, scenario: str
) -> None:
    # Given the cost model's table of calls for this kind of job
    expected = MODEL["calls"][scenario]
    # When one such job runs from its upload (or its API call) to its end
    tally = counted(scenario, stack, tmp_path, reader)
    # Then every function made exactly the calls the model prices, no more, no fewer
    assert tally.table() == expected, (
        f"{scenario!r} now makes other AWS calls: update bench/aws_calls.json with\n"
        + json.dumps(tally.table(), indent=2)
    )
    # And it logged no more than the model bills CloudWatch Logs for, and no table holds an
    # item larger than the write units the model prices each write at
    assert tally.log_bytes <= MODEL["log_bytes"][scenario], f"logged {tally.log_bytes} bytes"
    largest = largest_items_kb(stack)
    assert all(largest[t] <= MODEL["item_kb"][t] for t in largest), f"largest items: {largest}"
