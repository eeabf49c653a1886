"""The report function at scale: a sheet's results.csv and index.html, time and memory.

For each size, a fresh interpreter starts the local cloud (moto in a process of its own),
puts a sheet of N social-square rows in the uploads bucket and ingest's (empty) errors.csv in
the assets bucket, and writes each row's image attempts into the ledger, read back, as the
workers and the proof function would have: one row in three failed its proof once and passed
on a re-roll, one in ten failed all three attempts (needs review), the rest passed at once.
Then the report function's work, `Reporter.write`, runs in a fresh interpreter of its own, as
on Lambda, twice: once timed (its peak RSS, imports included, is what the function's memory
must hold), once under tracemalloc for the peak of Python memory it allocates. Prints a
markdown table: rows, seconds, peak memory, results.csv, pages written and the largest page
(#17: pages of at most 500 rows).

    python bench/report.py [--rows 1000,10000,100000]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from decimal import Decimal
from pathlib import Path
from typing import Any

from throughput import sheet  # the same rows as the throughput bench; bench/ is on sys.path

from placard import bootstrap
from placard.aws.ledger import _serialise
from placard.domain.jobs import Job
from placard.domain.keys import image_key
from placard.domain.ledger_items import LedgerItem, Status
from placard.domain.proofs import FieldProof, Proof, Verdict
from placard.domain.runs import UploadRun
from placard.domain.templates import default_catalogue
from placard.reporting.campaign import parsed_rows
from placard.reporting.csv_reports import errors_report
from placard_local.cloud import local_cloud

CAMPAIGN = "bench"
BATCH = 25  # the most one BatchWriteItem takes


def measure(rows: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, local_cloud() as cloud:
        path = Path(tmp) / "sheet.csv"
        sheet(path, rows)
        run = UploadRun(CAMPAIGN, f"campaigns/{CAMPAIGN}/sheet.csv", "run-1")
        cloud.put_file(path, run.sheet)
        errors = errors_report().to_bytes()
        bootstrap.parts().assets.put_report(run.reports_prefix + "errors.csv", errors, "text/csv")
        with path.open("rb") as handle:
            parsed = parsed_rows(handle, path.name, run, errors, default_catalogue())
        jobs = [job for _, job in parsed if isinstance(job, Job)]
        items = [item for number, job in enumerate(jobs) for item in attempts(job, number)]
        db, table = cloud.client("dynamodb"), bootstrap.parts().settings.ledger_table
        for start in range(0, len(items), BATCH):
            requests = [
                {"PutRequest": {"Item": _serialise(item.to_item())}}
                for item in items[start : start + BATCH]
            ]
            db.batch_write_item(RequestItems={table: requests})
        del parsed, jobs, items
        # The report in an interpreter of its own, on this cloud (its endpoint is in the
        # environment), so its memory is not this setup's
        report = subprocess.run(
            [sys.executable, __file__, "--report"], capture_output=True, text=True, check=True
        )
        return json.loads(report.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def peak_rss_kib() -> int:
    """This interpreter's peak resident memory. Linux's ru_maxrss survives the exec that
    started it, and would report the forking setup's; the mapping's own high-water mark
    (VmHWM) starts afresh."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def index_opens(url: str) -> float | None:
    """Milliseconds from asking for index.html (its presigned link) to its load event in
    headless Chromium, the median of three; None without Chromium."""
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        return None
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, args=["--no-sandbox", "--disable-gpu"], headless=True
        )
        page = browser.new_page()
        times = []
        for _ in range(3):
            started = time.perf_counter()
            response = page.goto(url, wait_until="load")
            assert response is not None and response.ok, f"index.html: {response}"
            times.append(time.perf_counter() - started)
        browser.close()
    return sorted(times)[1] * 1000


def write_report() -> dict[str, Any]:
    """The report function's work on the upload measure() made, as its Lambda would run it."""
    run = UploadRun(CAMPAIGN, f"campaigns/{CAMPAIGN}/sheet.csv", "run-1")
    reporter = bootstrap.parts().reporter
    rss_before = peak_rss_kib()
    started = time.perf_counter()
    written = reporter.write(run)
    seconds = time.perf_counter() - started
    rss_after = peak_rss_kib()
    tracemalloc.start()
    reporter.write(run)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    pages = {name: size for name, size in written.sizes.items() if name.endswith(".html")}
    opens = index_opens(reporter.assets.link(run.reports_prefix + "index.html"))
    return {
        "index_kib": pages["index.html"] / 1024,
        "index_ms": opens,
        "rows": written.rows,
        "seconds": seconds,
        "peak_mib": peak / 2**20,
        # the interpreter's peak resident memory, its imports included, and what the report
        # added to what the imports and the parts had taken
        "rss_growth_mib": max(0, rss_after - rss_before) / 1024,
        "rss_mib": rss_after / 1024,
        "csv_kib": written.sizes["results.csv"] / 1024,
        "pages": len(pages),
        "spool_mib": written.spool_bytes / 2**20,
        "largest_page_kib": max(pages.values()) / 1024,
    }


def attempts(job: Job, number: int) -> list[LedgerItem]:
    """The ledger items of the job's one image, each attempt read back."""
    tries = 3 if number % 10 == 0 else 2 if number % 3 == 0 else 1
    last = Verdict.FAIL if tries == 3 else Verdict.PASS
    return [charged(job, k, Verdict.FAIL if k < tries else last) for k in range(1, tries + 1)]


def charged(job: Job, attempt: int, verdict: Verdict) -> LedgerItem:
    """One attempt, as a worker and the proof function leave it."""
    price = Decimal("0.011")
    copy = job.variables["headline"]
    read = copy if verdict is Verdict.PASS else copy[:-1]
    problems = () if verdict is Verdict.PASS else (f"{read!r} where {copy!r}",)
    proof = Proof.of([FieldProof("headline", copy, verdict, read, problems)])
    return LedgerItem(
        campaign=job.campaign, job_id=job.job_id, image_index=0, template=job.template,
        template_version=job.template_version, provider="openai", model="gpt-image-2",
        quality=job.quality.value, size=str(job.size), unit_price=price, cost_usd=price,
        status=Status.CHARGED, created_at="2026-11-26T00:00:00.000+00:00",
        updated_at="2026-11-26T00:00:01.000+00:00", upload="sheet",
        row=int(job.origin.get("row", 0)), row_id=job.row_id, sha256="0" * 64, http_attempts=1,
        s3_key=image_key(job.campaign, job.job_id, 0, "png", attempt=attempt),
        attempt=attempt, proof=proof.verdict, proof_fields=proof.to_json(),
    )  # fmt: skip


def opened(result: dict[str, Any]) -> str:
    size = f"{result['index_kib']:,.0f} KiB"
    if result["index_ms"] is None:
        return f"{size}, not opened (no Chromium)"
    return f"{size} in {result['index_ms']:,.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", default="1000,10000")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--report", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child)))
        return
    if args.report:
        print(json.dumps(write_report()))
        return

    print(
        "| rows | report written | per 1k rows | peak Python memory | peak RSS (report's) "
        "| results.csv | pages written | largest page | /tmp used | index.html in Chromium |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for rows in (int(n) for n in args.rows.split(",")):
        # A fresh interpreter a size: nothing of the last one's memory is counted
        child = subprocess.run(
            [sys.executable, __file__, "--child", str(rows)], capture_output=True, text=True
        )
        if child.returncode:  # say why in the table, and go on with the next size
            reason = (child.stderr.strip().splitlines() or ["no error output"])[-1]
            print(f"| {rows:,} | failed (exit {child.returncode}): {reason} | | | | | | | | |")
            continue
        result = json.loads(child.stdout.strip().splitlines()[-1])
        print(
            f"| {rows:,} | {result['seconds']:.1f} s | {result['seconds'] / rows * 1000:.2f} s "
            f"| {result['peak_mib']:.0f} MiB "
            f"| {result['rss_mib']:.0f} MiB (+{result['rss_growth_mib']:.0f}) "
            f"| {result['csv_kib']:,.0f} KiB | {result['pages']} "
            f"| {result['largest_page_kib']:,.0f} KiB | {result['spool_mib']:,.0f} MiB "
            f"| {opened(result)} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
