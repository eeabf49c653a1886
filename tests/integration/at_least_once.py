"""Lambda's delivery, by hand, for tests that crash it or repeat it (issue #16): the stack on
in-process moto, the emulator billing every answer, and one message an invocation taken from
each queue as Lambda's pollers would, deleted only when its invocation returned.

A crash is `Crash`, a BaseException: like a Lambda stopped dead (timeout, out of memory),
nothing after it runs, not even Powertools' idempotency clean-up, so the record stays in
progress until the invocation's time has passed (`Deliveries.time_passes`)."""

from __future__ import annotations

import csv
import dataclasses
import io
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import boto3
import httpx
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from aws_lambda_powertools.utilities.data_classes import S3Event
from PIL import Image

from handlers import callback, derivatives, ingest, proof, report, worker
from placard import bootstrap
from placard.domain.ledger_items import Status
from placard.domain.proofs import ReadLine
from placard.providers.http import HttpCaller, RetryPolicy, Timeouts
from placard.providers.prospolabs import ProspolabsProvider
from placard.services.reconcile import Reconciled
from placard_emulator import EmulatorConfig, ProviderEmulator
from placard_local.cloud import LocalContext, s3_put_event, sqs_event
from placard_local.stack import Stack

KEY = "sk-at-least-once"
CAMPAIGN = "summer"
BUDGET = Decimal("5.00")
PHOTO = f"campaigns/{CAMPAIGN}/shelf.png"
# The functions an SQS queue feeds, each one's `process` and timeout, as template.yaml wires them.
CONSUMERS: dict[str, tuple[str, Callable[..., Any], int]] = {
    "JobsQueue": ("WorkerFunction", worker.process, 600),
    "ProofsQueue": ("ProofFunction", proof.process, 120),
    "DerivativesQueue": ("DerivativesFunction", derivatives.process, 120),
    "ReportsQueue": ("ReportFunction", report.process, 900),
    "CallbacksQueue": ("CallbackFunction", callback.process, 120),
}
MOST_STEPS = 200  # far more than any test needs: a loop that never settles fails, not hangs


class Crash(BaseException):
    """The invocation stopped dead at this point."""


class Reader:
    """A reader that reads nothing; the first `blind` images it is shown fail their proof
    (their copy is in a script it reads, and none was found), the rest stand unchecked."""

    def __init__(self, blind: int = 0) -> None:
        self.blind, self.failing = blind, False

    def read(self, image: bytes) -> list[ReadLine]:
        self.failing, self.blind = self.blind > 0, self.blind - 1
        return []

    def reads(self, text: str) -> bool:
        return self.failing


def emulated(config: EmulatorConfig | None = None) -> Iterator[ProviderEmulator]:
    with ProviderEmulator(config or EmulatorConfig(api_key=KEY)) as running:
        yield running


def provider(emulator: ProviderEmulator) -> ProspolabsProvider:
    """The reseller (flat per image: its bill is exact) on the emulator, retrying quickly."""
    client = httpx.Client(timeout=Timeouts(read=10, connect=1).httpx(), trust_env=False)
    caller = HttpCaller(client, RetryPolicy(base_delay=0.01, max_delay=0.05))
    return ProspolabsProvider(caller, emulator.url, lambda: KEY)


def on_emulator(
    parts: bootstrap.Parts, emulator: ProviderEmulator, blind: int = 0
) -> bootstrap.Parts:
    made = provider(emulator)
    settings = dataclasses.replace(parts.settings, allow_loopback_callbacks=True)
    return dataclasses.replace(
        parts, settings=settings, make_provider=lambda s: made, make_reader=lambda: Reader(blind)
    )


def sheet(rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(dict.fromkeys(k for r in rows for k in r)))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def shelf_photo() -> bytes:
    image = Image.new("RGB", (1200, 900), (150, 110, 70))
    image.paste((255, 255, 255), (300, 250, 900, 650))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


@dataclass
class Deliveries:
    """The stack's event sources, by hand; what was delivered, counted per queue."""

    stack: Stack
    parts: bootstrap.Parts
    handled: Counter[str] = field(default_factory=Counter)
    crashes: int = 0
    stopped: list[tuple[str, str]] = field(default_factory=list)  # (queue URL, receipt)
    # How many times each queue's messages (and "S3", each upload's event) are delivered.
    times: dict[str, int] = field(default_factory=dict)
    # The next message of this queue, once handled, is not deleted: the poller stopped first.
    keep_next: Callable[[str, dict[str, Any]], bool] = lambda queue, message: False
    sqs: Any = field(default_factory=lambda: boto3.client("sqs"))

    def upload(self, name: str, body: bytes, budget: Decimal | None = BUDGET) -> dict[str, Any]:
        """The user's upload; returns the ObjectCreated event S3 sends for it."""
        bucket, key = self.stack.physical["UploadsBucket"], f"campaigns/{CAMPAIGN}/{name}"
        extra = {"Metadata": {"budget-usd": str(budget)}} if budget is not None else {}
        boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=body, **extra)
        return s3_put_event(bucket, key, len(body), self.stack.region)

    def photo(self) -> None:
        bucket = self.stack.physical["UploadsBucket"]
        boto3.client("s3").put_object(Bucket=bucket, Key=PHOTO, Body=shelf_photo())

    def ingest(self, event: dict[str, Any]) -> dict[str, Any]:
        results = []
        for _ in range(self.times.get("S3", 1)):
            self.handled["S3"] += 1
            context = LocalContext("IngestFunction", 900)
            results.append(ingest.process(S3Event(event), context, self.parts))
        assert all(result == results[0] for result in results), results
        return dict(results[0])

    def step(self) -> bool:
        """One message of the first queue holding one, to its function; False when every
        queue is empty. A crash or a failure leaves it to come back, as its visibility ends."""
        for queue, (function, process, timeout) in CONSUMERS.items():
            url = self.stack.physical[queue]
            messages = self.sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=1, MessageSystemAttributeNames=["All"]
            ).get("Messages", [])
            if not messages:
                continue
            (message,) = messages
            event = sqs_event(messages, self.stack.arn(queue), self.stack.region)
            try:
                for _ in range(self.times.get(queue, 1)):
                    self.handled[queue] += 1
                    reply = process(event, LocalContext(function, timeout), self.parts)
                    done = reply == {"batchItemFailures": []}
            except Crash:
                # Hidden until its visibility timeout ends: `redeliver`.
                self.crashes += 1
                self.stopped.append((url, message["ReceiptHandle"]))
                return True
            except BatchProcessingError:
                done = False
            if done and self.keep_next(queue, message):
                self.stopped.append((url, message["ReceiptHandle"]))
            elif done:
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            else:
                self.sqs.change_message_visibility(
                    QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                )
            return True
        return False

    def drain(self) -> None:
        for _ in range(MOST_STEPS):
            if not self.step():
                return
        raise AssertionError(f"the queues never emptied: {dict(self.handled)}")

    def redeliver(self) -> None:
        """The stopped invocations' messages come back (their visibility timeout is over)."""
        self.time_passes()
        for url, receipt in self.stopped:
            self.sqs.change_message_visibility(
                QueueUrl=url, ReceiptHandle=receipt, VisibilityTimeout=0
            )
        self.stopped.clear()

    def time_passes(self) -> None:
        """The stopped invocation's time is over: its idempotency records in progress may be
        taken over (Powertools' in_progress_expiration), as a redelivery after the
        visibility timeout finds them."""
        db, table = boto3.client("dynamodb"), self.stack.physical["IdempotencyTable"]
        for item in db.scan(TableName=table)["Items"]:
            if item.get("status", {}).get("S") == "INPROGRESS":
                db.update_item(
                    TableName=table,
                    Key={"id": item["id"]},
                    UpdateExpression="SET in_progress_expiration = :past",
                    ExpressionAttributeValues={":past": {"N": "0"}},
                )

    def reconcile(self) -> Reconciled:
        """The reconciler as its schedule runs it once the worker's timeout has passed (the
        jobs queue's visibility timeout, 3600 s, is longer: it runs before a redelivery)."""
        reconciler = bootstrap.reconciler(self.parts, bootstrap.Clients.from_env())
        later = datetime.now(UTC) + timedelta(seconds=reconciler.after_seconds + 60)
        return dataclasses.replace(reconciler, now=lambda: later).run()


@dataclass(frozen=True)
class Books:
    """What the stack holds at the end: the ledger, the objects, the run counts, the reports."""

    charged: list[dict[str, Any]]  # charged ledger items
    other: list[dict[str, Any]]  # image items neither charged nor failed
    originals: dict[str, int]  # each original's key -> its versions
    objects: dict[str, int]  # every stored object's key (originals, copies, jobs) -> versions
    runs: list[dict[str, Any]]  # each upload's RUN item
    markers: int  # job-end markers
    remaining: Decimal | None
    results: list[dict[str, str]]

    @property
    def ledger_usd(self) -> Decimal:
        return sum((Decimal(str(i["cost_usd"])) for i in self.charged), Decimal(0))

    @classmethod
    def read(cls, stack: Stack, upload: str = "") -> Books:
        table = boto3.resource("dynamodb").Table(stack.physical["LedgerTable"])
        items: list[dict[str, Any]] = []
        scan: dict[str, Any] = {}
        while True:
            page = table.scan(**scan)
            items += page["Items"]
            if "LastEvaluatedKey" not in page:
                break
            scan = {"ExclusiveStartKey": page["LastEvaluatedKey"]}
        images = [i for i in items if str(i["sk"]).startswith("IMAGE#")]
        runs = [i for i in items if str(i["sk"]).startswith("RUN#")]
        budget = [i for i in items if str(i["sk"]).startswith("BUDGET")]
        s3, assets = boto3.client("s3"), stack.physical["AssetsBucket"]
        versions = s3.list_object_versions(Bucket=assets, Prefix="campaigns/").get("Versions", [])
        originals = Counter(
            v["Key"]
            for v in versions
            if v["Key"].count(".") == 1 and not v["Key"].endswith(".json")
        )
        results: list[dict[str, str]] = []
        if upload:
            body = s3.get_object(Bucket=assets, Key=f"reports/{CAMPAIGN}/{upload}/results.csv")
            text = body["Body"].read().decode("utf-8-sig")
            results = list(csv.DictReader(io.StringIO(text)))
        return cls(
            charged=[i for i in images if i["status"] == Status.CHARGED.value],
            other=[
                i for i in images if i["status"] not in (Status.CHARGED.value, Status.FAILED.value)
            ],
            originals=dict(originals),
            objects=dict(Counter(v["Key"] for v in versions)),
            runs=[i for i in runs if "#JOB#" not in str(i["sk"])],
            markers=len([i for i in runs if "#JOB#" in str(i["sk"])]),
            remaining=Decimal(str(budget[0]["remaining_usd"])) if budget else None,
            results=results,
        )


def reports_written(stack: Stack, upload: str) -> list[list[dict[str, str]]]:
    """Each version of the upload's results.csv, as rows without their links (presigned
    anew at each writing): one entry per time its reports were written."""
    s3, bucket = boto3.client("s3"), stack.physical["AssetsBucket"]
    key = f"reports/{CAMPAIGN}/{upload}/results.csv"
    reply = s3.list_object_versions(Bucket=bucket, Prefix=key)
    written = []
    for version in (v for v in reply.get("Versions", []) if v["Key"] == key):
        body = s3.get_object(Bucket=bucket, Key=key, VersionId=version["VersionId"])["Body"]
        rows = csv.DictReader(io.StringIO(body.read().decode("utf-8-sig")))
        written.append([{k: v for k, v in row.items() if k != "links"} for row in rows])
    return written
