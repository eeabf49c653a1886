"""The load run of issue #16: many jobs, many workers, a faulty provider, a budget that binds.

One sheet of N one-image jobs goes through the whole local pipeline (the embedded cloud, the
real handlers: ingest, the worker at W concurrent invocations, proof, derivatives, endings,
report) against the provider emulator billing by tokens (OpenAI's wire format), which injects
a fault into a share of its answers (every kind it knows: 5xx, hang, malformed, refusal,
disconnect) and misspells a share of its images (so some are re-rolled). The campaign's
budget is a share of the sheet's estimate, so it runs out before the sheet does. At the end
the reconcile function runs with no age limit: it must find nothing to settle.

Prints a table of the figures and the invariants: every job ended and counted, none lost, no
message left in any queue or dead-letter queue, nothing left reserved, the ledger equal to
the emulator's bill, the budget held and its books equal to the ledger. Exit status 1 when
an invariant is broken.

    python bench/load.py [--jobs 1000] [--workers 50] [--fault-rate 0.1] [--budget-share 0.8]

tests/e2e/test_load_invariants.py runs a bounded version (load_run) in `make test`.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import os
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from placard_emulator.process import running

KEY = "load-key"
FAULT_KINDS = ("5xx", "hang", "malformed", "refusal", "disconnect")  # every kind it has
QUALITIES = ("low", "medium", "low")  # mostly low: each image is read back (OCR) locally
SIZES = ("1024x1024", "1024x1536", "1536x1024", "1024x1024")
CAMPAIGN = "load"


@dataclass(frozen=True)
class Load:
    """What a load run asks of the pipeline."""

    jobs: int = 1000
    workers: int = 50  # WorkerMaxConcurrency: worker invocations at once
    budget_share: Decimal = Decimal("0.8")  # of the sheet's estimate: it binds


@dataclass
class Figures:
    """What a load run found: counted from the ledger table, the queues, the report the report
    function wrote and the emulator's own tally, never from the pipeline's say-so."""

    queued: int = 0  # jobs ingest sent (and its run expects)
    expected: int = 0  # the run's jobs_total
    counted: int = 0  # the run's jobs_ended
    ended: dict[str, int] = field(default_factory=dict)  # results.csv rows by status
    lost: list[str] = field(default_factory=list)  # queued job ids whose end was never counted
    left_in_queues: dict[str, int] = field(default_factory=dict)  # queue -> messages
    reports_written: bool = False
    images_charged: int = 0  # every charged attempt, re-rolls included
    images_delivered: int = 0  # the images results.csv delivers
    rerolls: int = 0  # charged attempts after the first
    retries: int = 0  # HTTP requests beyond one per charged image
    reserved_left: int = 0
    at_zero: int = 0  # attempts refunded or failed, at no cost (a refusal, a fault given up on)
    over_budget_items: int = 0
    estimated: int = 0  # charged at an estimate: an answer without usage
    ledger_usd: Decimal = Decimal(0)
    unknown: int = 0  # calls whose outcome is unknown (timed out), set aside and still held
    unknown_usd: Decimal = Decimal(0)
    billed_images: int = 0
    billed_usd: Decimal = Decimal(0)
    estimate_usd: Decimal = Decimal(0)  # the sheet's estimate the budget was cut from
    budget_usd: Decimal = Decimal(0)
    held_usd: Decimal = Decimal(0)  # the budget's limit less what remains
    faults: dict[str, int] = field(default_factory=dict)
    throttled: int = 0
    requests: int = 0
    wall_seconds: float = 0.0
    reconciled: dict[str, Any] = field(default_factory=dict)

    def broken(self) -> list[str]:
        """Each invariant the run broke, in words; empty when it held."""
        checks = {
            "every job ended and was counted once": (
                self.queued == self.expected == self.counted and not self.lost
            ),
            "every queued job has its row in results.csv": sum(self.ended.values()) == self.queued,
            "the report function wrote the run's reports": self.reports_written,
            "no message left in any queue or dead-letter queue": not any(
                self.left_in_queues.values()
            ),
            "nothing left reserved but unknown outcomes": self.reserved_left == 0,
            # A timed-out call may or may not have been billed: the bill lies between what
            # the ledger charged and that plus what it holds for those (equal without them).
            "each billed image charged once, or held as unknown": (
                self.images_charged <= self.billed_images <= self.images_charged + self.unknown
            ),
            "the emulator's bill within the ledger's charges and unknown outcomes": (
                self.ledger_usd <= self.billed_usd <= self.ledger_usd + self.unknown_usd
            ),
            "every charge from a reported usage": self.estimated == 0,
            "the budget held": self.ledger_usd <= self.budget_usd,
            "the budget's books equal the ledger (charged + unknown held)": (
                self.held_usd == self.ledger_usd + self.unknown_usd
            ),
            "the reconciler found nothing to settle, only the unknown to report": not any(
                n for name, n in self.reconciled.items() if name != "unknown"
            )
            and self.reconciled.get("unknown", 0) == self.unknown,
            "the budget bound (some jobs over budget)": self.ended.get("over_budget", 0) > 0,
            "faults were injected": sum(self.faults.values()) > 0,
        }
        return [name for name, held in checks.items() if not held]


def write_sheet(path: Path, jobs: int) -> None:
    """One-image rows of social-square in a mix of qualities and sizes."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["template", "product", "headline", "cta", "quality", "size"])
        for i in range(jobs):
            quality, size = QUALITIES[i % len(QUALITIES)], SIZES[i % len(SIZES)]
            writer.writerow(["social-square", "Cold brew", f"Summer {i}", "Try it", quality, size])


def sheet_estimate(path: Path) -> Decimal:
    """What `placard estimate` says the sheet costs at OpenAI's token prices."""
    from placard.domain.pricing import default_prices
    from placard.domain.templates import default_catalogue
    from placard.services.estimates import estimate_rows
    from placard.sheets.reader import read_rows
    from placard.sheets.rows import SheetDefaults

    with path.open("rb") as raw:
        rows = read_rows(raw, path.name)
        defaults = SheetDefaults(campaign=CAMPAIGN, upload=path.stem)
        found = estimate_rows(rows, default_catalogue(), defaults, lambda name: None)
    return found.by_provider(default_prices(), ["openai"])["openai"].total


def emulator_stats(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/_emulator/stats") as reply:
        stats: dict[str, Any] = json.load(reply)
        return stats


def load_run(load: Load, url: str, workdir: Path) -> Figures:
    """The sheet through the local cloud against the emulator at `url` (its OpenAI API at
    `url`/v1, accepting KEY); the figures, counted after everything has drained."""
    from placard.aws.budgets import DynamoBudgets
    from placard.aws.ledger import DynamoLedger
    from placard.domain.jobs import Job
    from placard.domain.keys import campaign_pk, reports_prefix, upload_key
    from placard.domain.ledger_items import Status
    from placard.domain.runs import UploadRun
    from placard.services.ingest import BUDGET_METADATA
    from placard_local.cloud import local_cloud
    from placard_local.recovery import RECONCILE_FUNCTION, scheduled_event

    os.environ.update({"OPENAI_BASE_URL": f"{url}/v1", "OPENAI_API_KEY": KEY})
    sheet = workdir / f"{CAMPAIGN}.csv"
    write_sheet(sheet, load.jobs)
    figures = Figures(estimate_usd=sheet_estimate(sheet))
    figures.budget_usd = (figures.estimate_usd * load.budget_share).quantize(Decimal("0.000001"))
    key = upload_key(CAMPAIGN, sheet.name)
    overrides = {"Provider": "openai", "LogLevel": "ERROR",
                 "WorkerMaxConcurrency": str(load.workers)}  # fmt: skip
    with local_cloud(overrides) as cloud:
        from placard import bootstrap

        settings = bootstrap.parts().settings
        started = time.perf_counter()
        with cloud.draining():  # workers start on the first jobs while ingest goes on
            answers = cloud.put_upload(sheet, key, {BUDGET_METADATA: str(figures.budget_usd)})
        figures.wall_seconds = time.perf_counter() - started
        figures.queued = sum(u["jobs"] for answer in answers for u in answer["uploads"])

        db = cloud.client("dynamodb")
        rows = bootstrap.parts().reporter.gather(UploadRun(CAMPAIGN, key, "load")).rows
        queued = {job.job_id for _, job in rows if isinstance(job, Job)}
        _count_endings(figures, db, settings.ledger_table, campaign_pk(CAMPAIGN), key, queued)
        _count_queues(figures, cloud)
        items = DynamoLedger(db, settings.ledger_table).campaign_items(CAMPAIGN)
        charged = [i for i in items if i.status is Status.CHARGED]
        figures.images_charged = len(charged)
        figures.rerolls = sum(i.attempt > 1 for i in charged)
        figures.retries = sum(max(0, i.http_attempts - 1) for i in charged)
        unknown = [i for i in items if i.held]
        figures.unknown = len(unknown)
        figures.unknown_usd = sum((i.cost_usd for i in unknown), Decimal(0))
        figures.reserved_left = sum(i.status is Status.RESERVED and not i.held for i in items)
        figures.at_zero = sum(i.status in (Status.REFUNDED, Status.FAILED) for i in items)
        figures.over_budget_items = sum(i.over_budget for i in items)
        figures.estimated = sum(i.estimated for i in charged)
        figures.ledger_usd = sum((i.cost_usd for i in charged), Decimal(0))
        budgets = DynamoBudgets(db, settings.ledger_table)
        limit, remaining = budgets.limit(CAMPAIGN), budgets.remaining(CAMPAIGN)
        assert limit is not None and remaining is not None, "ingest set no budget"
        figures.held_usd = limit - remaining

        report = reports_prefix(CAMPAIGN, key) + "results.csv"
        results = _read(cloud, settings.assets_bucket, report)
        figures.reports_written = results is not None
        said = list(csv.DictReader(io.StringIO(results or "")))
        figures.ended = dict(Counter(row["status"] for row in said))
        figures.images_delivered = sum(len(row["images"].split()) for row in said)

        # Whatever a crash could have left, however young: the reconciler settles all of it.
        os.environ["RECONCILE_AFTER_SECONDS"] = "0.001"  # its least
        with cloud.draining():  # reports it asked for would be written
            done = cloud.invoke(cloud.functions[RECONCILE_FUNCTION], scheduled_event())
        figures.reconciled = {name: len(found) for name, found in done.items()}

    stats = emulator_stats(url)
    figures.billed_images = stats["billed_images"]
    figures.billed_usd = Decimal(stats["billed_usd"])
    figures.faults = {kind: n for kind, n in stats["faults"].items() if n}
    figures.throttled = stats["throttled"]
    figures.requests = stats["requests"]
    return figures


def _count_endings(
    figures: Figures, db: Any, table: str, pk: str, sheet: str, queued: set[str]
) -> None:
    """The run's count and its per-job end markers (RUN#<sheet>#<run>[#JOB#<id>]), against
    the ids of the jobs the sheet's rows make (an id is its job's content)."""
    items: list[dict[str, Any]] = []
    for page in db.get_paginator("query").paginate(
        TableName=table,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :run)",
        ExpressionAttributeValues={":pk": {"S": pk}, ":run": {"S": f"RUN#{sheet}#"}},
        ConsistentRead=True,
    ):
        items.extend(page["Items"])
    runs = [i for i in items if "#JOB#" not in i["sk"]["S"]]
    assert len(runs) == 1, f"one upload, one run: found {len(runs)}"
    figures.expected = int(runs[0].get("jobs_total", {"N": "0"})["N"])
    figures.counted = int(runs[0].get("jobs_ended", {"N": "0"})["N"])
    ended = {i["job_id"]["S"] for i in items if "#JOB#" in i["sk"]["S"]}
    figures.lost = sorted(queued - ended)


def _count_queues(figures: Figures, cloud: Any) -> None:
    sqs = cloud.client("sqs")
    for logical_id in cloud.stack.of_type("AWS::SQS::Queue"):
        attributes = sqs.get_queue_attributes(
            QueueUrl=cloud.stack.physical[logical_id],
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        figures.left_in_queues[logical_id] = sum(int(v) for v in attributes.values())


def _read(cloud: Any, bucket: str, key: str) -> str | None:
    s3 = cloud.client("s3")
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None
    text: str = body.decode("utf-8-sig")
    return text


def emulator(args: argparse.Namespace) -> contextlib.AbstractContextManager[str]:
    return running(
        "--latency", str(args.latency),
        "--images-per-minute", str(args.limit),
        "--fault-rate", str(args.fault_rate),
        "--fault-kinds", ",".join(FAULT_KINDS),
        "--hang-seconds", str(args.hang_seconds),
        "--misspell", str(args.misspell),
        "--seed", str(args.seed),
        "--api-key", KEY,
    )  # fmt: skip


def table(load: Load, figures: Figures) -> str:
    f = figures
    ended = ", ".join(f"{status} {n}" for status, n in sorted(f.ended.items()))
    faults = ", ".join(f"{kind} {n}" for kind, n in sorted(f.faults.items())) or "none"
    reconciled = ", ".join(f"{name} {n}" for name, n in f.reconciled.items())
    lines = [
        ("jobs queued / expected by the run / counted ended",
         f"{f.queued} / {f.expected} / {f.counted}"),
        ("jobs ended, by status (results.csv)", f"{ended} (total {sum(f.ended.values())})"),
        ("jobs lost (queued, never ended)", str(len(f.lost))),
        ("messages left in queues and dead-letter queues", str(sum(f.left_in_queues.values()))),
        ("images charged (of them re-rolls) / delivered",
         f"{f.images_charged} ({f.rerolls}) / {f.images_delivered}"),
        ("attempts at no cost (refused for budget among them) / left reserved",
         f"{f.at_zero} ({f.over_budget_items}) / {f.reserved_left}"),
        ("emulator: requests / billed images / 429s",
         f"{f.requests} / {f.billed_images} / {f.throttled}"),
        ("faults injected, by kind", f"{faults} (total {sum(f.faults.values())})"),
        ("HTTP retries (charged images)", str(f.retries)),
        ("ledger total / emulator billed_usd", f"{f.ledger_usd} / {f.billed_usd} USD"),
        ("unknown outcomes set aside, held", f"{f.unknown}, {f.unknown_usd} USD"),
        ("charged at an estimate (no usage)", str(f.estimated)),
        ("estimate / budget / spent / held by the budget",
         f"{f.estimate_usd:.6f} / {f.budget_usd} / {f.ledger_usd} / {f.held_usd} USD"),
        ("reconciler, run with no age limit: what it did or left", reconciled),
        ("wall time, upload to every report written", f"{f.wall_seconds:.1f} s"),
    ]  # fmt: skip
    rows = "\n".join(f"| {name} | {value} |" for name, value in lines)
    return f"| {load.jobs} jobs, {load.workers} workers | |\n|---|---|\n{rows}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=Load.jobs)
    parser.add_argument("--workers", type=int, default=Load.workers)
    parser.add_argument("--fault-rate", type=float, default=0.1)
    parser.add_argument("--misspell", default="1/20", help="share of images misspelt")
    parser.add_argument("--budget-share", type=Decimal, default=Load.budget_share)
    parser.add_argument("--limit", type=int, default=1200, help="images per minute")
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--hang-seconds", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    load = Load(args.jobs, args.workers, args.budget_share)
    print(
        f"{load.jobs} jobs, {load.workers} workers, faults {args.fault_rate:.0%} "
        f"({', '.join(FAULT_KINDS)}), misspelt {args.misspell}, limit {args.limit}/min, "
        f"latency {args.latency} s, budget {load.budget_share} of the estimate\n",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp, emulator(args) as url:
        figures = load_run(load, url, Path(tmp))
    print(table(load, figures))
    broken = figures.broken()
    print("\ninvariants: " + ("all held" if not broken else "BROKEN: " + "; ".join(broken)))
    if figures.lost:
        print("lost: " + ", ".join(figures.lost))
    sys.exit(1 if broken else 0)


if __name__ == "__main__":
    main()
