"""A whole campaign through the local pipeline at a rate-limited image API (#17).

ROWS sheet rows go through every function of the stack on the local cloud (ingest -> jobs
queue -> workers -> proofs -> derivatives -> the jobs' ends -> reports) against the image-API
emulator, run in its own process at LIMIT images a minute. Prints a markdown table: the wall
time against the floor the rate limit sets (ROWS / LIMIT minutes: no pipeline can beat it),
the ledger against the emulator's bill, whether every job ended (the campaign's progress
counters, as GET /v1/campaigns/{c}/progress answers them), and each function's peak memory.

Each function runs in processes of its own (as Lambda gives each its sandboxes), so its peak
resident set is its own: VmHWM of every process it ran in, read before the cloud stops.
--in-process keeps the local cloud's default (ingest, worker and report share this process).

    python bench/campaign.py --rows 5000 [--limit 1200] [--latency 0.5] [--rerolls N]
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import os
import resource
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from placard_emulator.process import running

KEY = "bench-key"
CAMPAIGN = "bench"


def sheet(path: Path, rows: int) -> None:
    """One product a row, as a catalogue's repricing sends it."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["template", "product", "headline", "cta", "quality", "size", "id"])
        for i in range(rows):
            writer.writerow(["social-square", f"Cold brew {i}", f"Summer #{i}", "Try it", "low",
                             "1024x1024", f"sku-{i}"])  # fmt: skip


def emulator_stats(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/_emulator/stats") as reply:
        found: dict[str, Any] = json.load(reply)
        return found


def peak_mb(pid: int) -> float | None:
    """A live process's peak resident set (Linux's VmHWM), in MB; None once it has gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def own_processes(cloud: Any) -> None:
    """Every function of the stack in processes of its own, as template.yaml's
    `LocalProcess: background` does for some: the local cloud's own switch, set for all."""
    from placard_local.cloud import FunctionProcesses

    for name, function in list(cloud.functions.items()):
        if not function.background:
            cloud.functions[name] = dataclasses.replace(function, background=True)
            cloud._processes[name] = FunctionProcesses(cloud.functions[name])


def peaks(cloud: Any) -> dict[str, tuple[int, float | None]]:
    """Each function's processes and the highest peak among them."""
    found: dict[str, tuple[int, float | None]] = {}
    for name, processes in cloud._processes.items():
        started = processes._started
        sizes = [s for s in (peak_mb(p.pid) for p in started) if s is not None]
        if started:
            found[name] = (len(started), max(sizes, default=None))
    return found


def run(args: argparse.Namespace, url: str, workdir: Path) -> dict[str, Any]:
    from placard import bootstrap
    from placard.domain.progress import progress
    from placard.domain.spend import Spend
    from placard.services.ingest import REROLLS_METADATA, Upload
    from placard_local.cli import progress_line
    from placard_local.cloud import local_cloud
    from placard_local.runner import collect

    os.environ.update({"OPENAI_BASE_URL": f"{url}/v1", "OPENAI_API_KEY": KEY})
    path = workdir / f"catalogue-{args.rows}.csv"
    sheet(path, args.rows)
    metadata = {REROLLS_METADATA: str(args.rerolls)} if args.rerolls is not None else {}
    done = threading.Event()

    with local_cloud({"Provider": "openai", "LogLevel": "ERROR"}) as cloud:
        if not args.in_process:
            own_processes(cloud)
        counters = bootstrap.parts().progress

        def report() -> None:  # what `placard run`'s bar shows, every 30 s
            while not done.wait(30):
                now = datetime.now(UTC)
                counts = counters.counts(CAMPAIGN, now)
                if counts is not None:
                    line = progress_line(progress(counts, now))
                    print(f"  {time.perf_counter() - started:5.0f} s: {line}", file=sys.stderr)

        upload = Upload.parse(f"campaigns/{CAMPAIGN}/{path.name}")
        started = time.perf_counter()
        threading.Thread(target=report, daemon=True).start()
        with cloud.draining():  # workers take jobs while ingest still sends, as on Lambda
            cloud.put_upload(path, upload.key, metadata)
        elapsed = time.perf_counter() - started  # every job ended, its reports written
        done.set()
        memory = peaks(cloud)
        summary = collect(cloud, workdir / "out", upload)
        now = datetime.now(UTC)
        counts = counters.counts(CAMPAIGN, now)
        ledger = bootstrap.parts().ledger.campaign_items(CAMPAIGN)
    assert counts is not None, "the campaign has no counters"
    bill = emulator_stats(url)
    return {
        "elapsed": elapsed,
        "summary": summary,
        "progress": progress(counts, now),
        "ledger": Spend.of(ledger),
        "billed_images": bill["billed_images"],
        "billed_usd": Decimal(bill["billed_usd"]),
        "throttled": bill["throttled"],
        "memory": memory,
        "main_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def table(args: argparse.Namespace, found: dict[str, Any]) -> str:
    floor = args.rows / args.limit * 60
    summary, ended, spend = found["summary"], found["progress"], found["ledger"]
    every = ended.ended_total == args.rows and ended.queued == ended.running == 0
    lines = [
        f"{args.rows} rows, {args.limit} images a minute, {args.latency} s a call"
        + (f", {args.rerolls} re-rolls" if args.rerolls is not None else ""),
        "",
        "| measure | value |",
        "|---|---|",
        f"| wall time, upload to the last report | {found['elapsed']:.1f} s |",
        f"| floor the rate limit sets ({args.rows} / {args.limit} a minute) | {floor:.1f} s |",
        f"| wall time / floor | {found['elapsed'] / floor:.2f} |",
        f"| rows | {summary.succeeded} succeeded, {summary.failed} failed, "
        f"{summary.needs_review} need review, {summary.rejected} rejected |",
        f"| jobs ended (progress counters) | {ended.ended_total} of {args.rows}: "
        + ", ".join(f"{n} {state}" for state, n in ended.ended.items() if n)
        + f"; queued {ended.queued}, running {ended.running} "
        f"| {'every job ended' if every else 'NOT every job ended'} |",
        f"| ledger | {spend.images_charged} images, {spend.cost_usd} USD |",
        f"| emulator's bill | {found['billed_images']} images, {found['billed_usd']} USD "
        f"({found['throttled']} calls throttled) |",
        f"| ledger = bill | {'yes' if spend.cost_usd == found['billed_usd'] else 'NO'} |",
        f"| progress's spend = ledger | "
        f"{'yes' if ended.spend.cost_usd == spend.cost_usd else 'NO'} |",
    ]
    for name, (processes, peak) in sorted(found["memory"].items()):
        shown = f"{peak:.0f} MB" if peak is not None else "gone before it was read"
        lines.append(f"| {name} peak RSS ({processes} processes) | {shown} |")
    lines.append(f"| this process (the local cloud's pumps) peak RSS | {found['main_mb']:.0f} MB |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--limit", type=int, default=1200, help="images per minute")
    parser.add_argument("--latency", type=float, default=0.5, help="seconds an image call takes")
    parser.add_argument("--rerolls", type=int, default=None, help="default: each template's")
    parser.add_argument("--in-process", action="store_true", help="the local cloud's default")
    args = parser.parse_args()
    emulator = running("--latency", str(args.latency), "--images-per-minute", str(args.limit),
                       "--api-key", KEY)  # fmt: skip
    with emulator as url, tempfile.TemporaryDirectory() as workdir:
        found = run(args, url, Path(workdir))
    print(table(args, found))


if __name__ == "__main__":
    main()
