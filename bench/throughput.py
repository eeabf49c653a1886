"""Throughput against a rate-limited image API: placard's local pipeline versus a plain loop.

N jobs go through the whole local pipeline (ingest -> SQS -> concurrent workers -> S3 and the
ledger) against the provider emulator, run in its own process at a set images-per-minute limit
and latency. Then the same workload goes through the official `openai` SDK in a sequential loop,
the way a user would script it. Prints a markdown table.

    python bench/throughput.py --jobs 400 --limit 1200 --latency 0.5 [--fault-rate 0.1] [--runs 10]

Faults land differently in each run, so one run says little: --runs repeats the placard run
on a new emulator each time and sums up the spread (bench/fault_bound.py gives the spread a
perfect pipeline would have).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import csv
import json
import os
import statistics
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from placard_emulator.process import running

ROOT = Path(__file__).resolve().parents[1]
KEY = "bench-key"
FAULT_KINDS = "5xx,hang,malformed,disconnect"


def emulator(args: argparse.Namespace, fault_rate: float) -> contextlib.AbstractContextManager[str]:
    return running(
        "--latency", str(args.latency),
        "--images-per-minute", str(args.limit),
        "--fault-rate", str(fault_rate),
        "--fault-kinds", FAULT_KINDS,
        "--hang-seconds", "2",
        "--api-key", KEY,
    )  # fmt: skip


def stats(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/_emulator/stats") as reply:
        result: dict[str, Any] = json.load(reply)
        return result


def sheet(path: Path, jobs: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["template", "product", "headline", "cta", "quality", "size"])
        for i in range(jobs):
            writer.writerow(
                ["social-square", "Cold brew", f"Summer #{i}", "Try it", "low", "1024x1024"]
            )


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


def placard_run(args: argparse.Namespace, url: str, workdir: Path) -> dict[str, Any]:
    from placard import bootstrap
    from placard.aws.ledger import DynamoLedger
    from placard.domain.ledger_items import Status
    from placard.services.ingest import Upload
    from placard_local.cloud import local_cloud
    from placard_local.runner import collect

    os.environ.update({"OPENAI_BASE_URL": f"{url}/v1", "OPENAI_API_KEY": KEY})
    path = workdir / "bench.csv"
    sheet(path, args.jobs)
    provider_seconds: dict[int, float] = {}
    record_seconds: list[tuple[float, int]] = []
    charged_at: list[float] = []  # when each job's images were stored and charged
    lock = threading.Lock()

    def timed_provider(create: Callable[..., Any]) -> Callable[..., Any]:
        def run(request: Any) -> Any:
            started = time.perf_counter()
            try:
                return create(request)
            finally:
                with lock:
                    ident = threading.get_ident()
                    provider_seconds[ident] = provider_seconds.get(ident, 0) + (
                        time.perf_counter() - started
                    )

        return run

    def timed_record(record: Any, parts: Any, **kwargs: Any) -> Any:
        ident = threading.get_ident()
        with lock:
            provider_seconds[ident] = 0.0
        started = time.perf_counter()
        result = original(record, parts=parts, **kwargs)  # the deadline, among others
        ended = time.perf_counter()
        with lock:
            record_seconds.append((ended - started - provider_seconds[ident], 1))
            charged_at.append(ended)
        return result

    with local_cloud({"Provider": "openai", "LogLevel": "ERROR"}) as cloud:
        from handlers import worker  # after the cloud has set the functions' environment

        original = worker.record_handler
        worker.record_handler = timed_record
        pipeline = bootstrap.parts().pipeline
        pipeline.provider.create = timed_provider(pipeline.provider.create)  # type: ignore[method-assign]
        upload = Upload.parse(f"campaigns/bench/{path.name}")
        started = time.perf_counter()
        with cloud.draining():  # workers take jobs while ingest still sends, as on Lambda
            cloud.put_upload(path, upload.key)
        elapsed = time.perf_counter() - started  # derivatives and reports made too
        worker.record_handler = original
        summary = collect(cloud, workdir / "out", upload)
        ledger = DynamoLedger(cloud.client("dynamodb"), bootstrap.parts().settings.ledger_table)
        items = ledger.campaign_items("bench")
        stranded = stranded_jobs(cloud)
    charged = [i for i in items if i.status is Status.CHARGED]
    emulated = stats(url)
    overheads = [seconds for seconds, _ in record_seconds]
    return {
        "elapsed": max(charged_at) - started,
        "all_done": elapsed,
        "succeeded": summary.succeeded,
        "charged": len(charged),
        "ledger_usd": sum((i.cost_usd for i in charged), Decimal(0)),
        "estimated": sum(i.estimated for i in charged),
        "billed": emulated["billed_images"],
        "billed_usd": Decimal(emulated["billed_usd"]),  # the emulator's token bill
        "throttled": emulated["throttled"],
        "faults": sum(emulated["faults"].values()),
        "retries": sum(i.http_attempts - 1 for i in charged),
        "p50_ms": percentile(overheads, 50) * 1000,
        "p95_ms": percentile(overheads, 95) * 1000,
        **stranded,
    }


def stranded_jobs(cloud: Any) -> dict[str, int]:
    """Where jobs that were never charged went: dead-lettered jobs, and worker idempotency
    markers still in progress once every queue is empty (a delivery that can no longer run)."""
    from placard import bootstrap

    sqs, dynamodb = cloud.client("sqs"), cloud.client("dynamodb")
    dead = sqs.get_queue_attributes(
        QueueUrl=cloud.stack.physical["JobsDeadLetterQueue"],
        AttributeNames=["ApproximateNumberOfMessages"],
    )["Attributes"]["ApproximateNumberOfMessages"]
    in_progress = 0
    for page in dynamodb.get_paginator("scan").paginate(
        TableName=bootstrap.parts().settings.idempotency_table
    ):
        in_progress += sum(
            "worker" in i["id"]["S"] and i.get("status", {}).get("S") == "INPROGRESS"
            for i in page["Items"]
        )
    return {"dead_lettered": int(dead), "in_progress": in_progress}


def sdk_loop(args: argparse.Namespace, url: str, workdir: Path) -> float:
    """What a user would write: the official SDK, one image after another."""
    import openai

    client = openai.OpenAI(base_url=f"{url}/v1", api_key=KEY)
    out = workdir / "sdk"
    out.mkdir()
    started = time.perf_counter()
    for i in range(args.jobs):
        reply = client.images.generate(
            model="gpt-image-2",
            prompt=f"A square ad for Cold brew. The headline reads exactly 'Summer #{i}'.",
            size="1024x1024",
            quality="low",
        )
        assert reply.data and reply.data[0].b64_json
        (out / f"{i}.png").write_bytes(base64.b64decode(reply.data[0].b64_json))
    return time.perf_counter() - started


def row(args: argparse.Namespace, number: int, run: dict[str, Any]) -> tuple[str, float, bool]:
    """One run's table row, its efficiency, and whether every job was charged exactly once:
    each image billed once, and the ledger the bill to the micro-dollar."""
    efficiency = run["charged"] / run["elapsed"] * 60 / args.limit
    once = (
        run["billed"] == run["charged"]
        and run["billed_usd"] == run["ledger_usd"]
        and not run["estimated"]
        and run["succeeded"] == args.jobs
    )
    text = (
        f"| {number} | {run['elapsed']:.1f} s | {run['all_done']:.1f} s | {efficiency:.3f} "
        f"| {run['retries']} | {run['throttled']} / {run['faults']} "
        f"| {run['p50_ms']:.0f} / {run['p95_ms']:.0f} ms "
        f"| {run['billed']} images, {run['billed_usd']} USD "
        f"| {run['charged']} images, {run['ledger_usd']} USD ({run['estimated']} estimated) "
        f"| {'yes' if once else 'NO'} "
        f"| {run['dead_lettered']} / {run['in_progress']} |"
    )
    return text, efficiency, once


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=400)
    parser.add_argument("--limit", type=int, default=1200, help="images per minute")
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--runs", type=int, default=1, help="placard runs, each on a new emulator")
    parser.add_argument("--no-baseline", action="store_true")
    args = parser.parse_args()

    print(
        f"{args.jobs} jobs, limit {args.limit}/min, latency {args.latency}s, "
        f"faults {args.fault_rate:.0%} ({FAULT_KINDS})\n"
    )
    print(
        "| run | to the last image charged | to every derivative and report | efficiency "
        "| retries | 429s / faults injected | overhead outside the provider, p50 / p95 "
        "| emulator's token bill | ledger total | every job charged once, to the micro-dollar "
        "| jobs dead-lettered / worker markers left in progress |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---|---|---|---:|")
    efficiencies, walls, all_once = [], [], True
    with tempfile.TemporaryDirectory() as tmp:
        for number in range(1, args.runs + 1):
            workdir = Path(tmp) / f"run{number}"
            workdir.mkdir()
            with emulator(args, args.fault_rate) as url:
                run = placard_run(args, url, workdir)
            text, efficiency, once = row(args, number, run)
            print(text, flush=True)
            efficiencies.append(efficiency)
            walls.append(run["elapsed"])
            all_once = all_once and once
        baseline = None
        if not args.no_baseline:
            with emulator(args, 0.0) as url:
                baseline = sdk_loop(args, url, Path(tmp))

    median = statistics.median(efficiencies)
    print(
        f"\nefficiency (images charged a minute / limit): median {median:.3f}, "
        f"lowest {min(efficiencies):.3f}, highest {max(efficiencies):.3f}; "
        + ", ".join(
            f"{sum(e >= target for e in efficiencies)} of {args.runs} runs at or above {target:.2f}"
            for target in (0.90, 0.95)
        )
    )
    print(f"every job charged exactly once in every run: {'yes' if all_once else 'NO'}")
    if baseline is not None:
        wall = statistics.median(walls)
        print(
            f"sequential openai SDK loop: {baseline:.1f} s, {baseline / wall:.1f}x placard's "
            f"{wall:.1f} s (median)"
        )


if __name__ == "__main__":
    main()
