"""Parse + validate a sheet (read_rows + jobs_from_rows): rows/second and peak memory.

Sheets of 1k, 10k and 100k rows x 8 columns (social-square ads, 1 row in 50 invalid, copy in
Latin, CJK, Arabic and emoji) are generated as CSV and as XLSX written the way Excel writes it
(shared strings, styles, a dimension: tests/data/sheets/make_fixtures.py). Every measurement
runs in a fresh interpreter, so the peak RSS it reports is its own: getrusage's ru_maxrss,
which counts native allocations (calamine's Rust) that tracemalloc does not see. Linux carries
a parent's peak over into a child's ru_maxrss, so this process stays small and generates the
sheets in children too. "above start" is the peak minus the RSS once everything is imported.

Then the XLSX readers alone, openpyxl read-only and python-calamine, turn every cell of the two
largest sheets into text. A reader that streams keeps its memory when the rows grow tenfold,
apart from the shared-strings table every XLSX reader must hold: hence a second pair of sheets
whose copy repeats (100 distinct headlines), where that table stays small.

Last, the whole ingest Lambda handler on the local cloud (moto in a process of its own, so the
peak is the handler's): the S3 download, the rows, every job sent to SQS in batches of ten
(16 batches in flight) and errors.csv, for each size, without and with a fixed delay on every
AWS call (PLACARD_AWS_LATENCY_MS, as SQS and DynamoDB answer from inside a region; moto alone
answers in a millisecond or two), with the CPU seconds the handler's process spent on the
ingest and the moto server's process spent in all (the handler's is the floor of its wall
time: one interpreter). Prints markdown tables.

    PYTHONPATH=functions:emulator:. python bench/ingest.py [--rows 1000,10000,100000] [--runs 3]
        [--handler-rows 1000,10000,100000] [--latency 0,15]
"""

from __future__ import annotations

import argparse
import csv
import importlib.metadata
import importlib.util
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "data" / "sheets" / "make_fixtures.py"
HEADER = ["template", "product", "headline", "cta", "offer", "quality", "size", "n"]
PRODUCTS = ["Café Lumière", "抹茶ラテ", "Cold brew ☕", "قهوة باردة", "Zoë's ginger beer"]
QUALITIES = ["low", "medium", "high"]
BAD_EVERY = 50  # one row in 50 has a headline too long for the template


def rows(count: int, unique_copy: bool = True) -> list[list[str | int]]:
    out: list[list[str | int]] = []
    for i in range(count):
        headline = f"Summer #{i if unique_copy else i % 100}"
        out.append(
            [
                "social-square",
                PRODUCTS[i % len(PRODUCTS)],
                headline if i % BAD_EVERY else "A headline far too long to fit " * 2,
                "Try it today",
                f"{i % 30}% off" if i % 3 else "",
                QUALITIES[i % 3],
                "1024x1024",
                1 + i % 2,
            ]
        )
    return out


def write_csv(path: Path, count: int, unique_copy: bool = True) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(rows(count, unique_copy))


def write_xlsx(path: Path, count: int, unique_copy: bool = True) -> None:
    """As Excel saves it: shared strings, styles, a dimension (the fixture writer's XML)."""
    spec = importlib.util.spec_from_file_location("make_fixtures", FIXTURES)
    assert spec and spec.loader
    fixtures = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = fixtures  # dataclasses look their module up
    spec.loader.exec_module(fixtures)
    cells = fixtures.table("A1", [HEADER, *rows(count, unique_copy)])
    fixtures.write_xlsx(path, [fixtures.Sheet("Ads", cells)])


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def child(mode: str, path: Path) -> dict[str, Any]:
    """One measurement, in this (fresh) interpreter."""
    if mode == "generate":  # ads-<rows>.csv, ads-<rows>.xlsx, ads-repeat-<rows>.xlsx
        count = int(path.stem.rsplit("-", 1)[1])
        write = write_csv if path.suffix == ".csv" else write_xlsx
        write(path, count, unique_copy="-repeat-" not in path.name)
        return {}
    if mode == "handler":
        return whole_ingest(path)
    import openpyxl  # imported before the baseline, as a warm Lambda has it

    from placard.domain.jobs import Job
    from placard.domain.templates import default_catalogue
    from placard.sheets.reader import _cell_text, read_rows
    from placard.sheets.rows import SheetDefaults, jobs_from_rows

    catalogue = default_catalogue()
    if mode == "calamine":
        from python_calamine import CalamineWorkbook
    start_mb = rss_mb()
    started = time.perf_counter()
    result: dict[str, Any] = {}
    if mode == "read":
        with path.open("rb") as raw:
            result = {"rows": sum(1 for _ in read_rows(raw, path.name))}
    elif mode == "ingest":
        defaults = SheetDefaults(campaign="bench", upload=path.stem)
        jobs = errors = 0
        with path.open("rb") as raw:
            for outcome in jobs_from_rows(read_rows(raw, path.name), catalogue, defaults):
                if isinstance(outcome, Job):
                    jobs += 1
                else:
                    errors += 1
        result = {"jobs": jobs, "errors": errors}
    elif mode == "openpyxl":
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        sheet = book.worksheets[0]
        count = sum(1 for values in sheet.values if [_cell_text(v) for v in values])
        book.close()
        result = {"rows": count}
    elif mode == "calamine":
        with CalamineWorkbook.from_path(path) as book:
            sheet = book.get_sheet_by_index(0)  # calamine parses the whole sheet here
            count = sum(1 for values in sheet.iter_rows() if [_cell_text(v) for v in values])
        result = {"rows": count}
    result["seconds"] = time.perf_counter() - started
    result["start_mb"] = start_mb
    result["peak_mb"] = rss_mb()
    return result


def whole_ingest(path: Path) -> dict[str, Any]:
    """The ingest Lambda handler itself on the local cloud, moto in its own process: the S3
    download, parse and validation, every job sent to SQS in batches, errors.csv written."""
    from placard_local.cloud import local_cloud

    with local_cloud({"LogLevel": "ERROR"}) as cloud:
        key = f"campaigns/bench/{path.name}"
        cloud.put_file(path, "campaigns/bench/warm-up.csv")  # clients and imports warm
        start_mb = rss_mb()
        cpu = cpu_seconds(resource.RUSAGE_SELF)
        started = time.perf_counter()
        (answer,) = cloud.put_upload(path, key)
        seconds = time.perf_counter() - started
        cpu = cpu_seconds(resource.RUSAGE_SELF) - cpu
        (upload,) = answer["uploads"]
    # The moto server has ended with the cloud: its CPU, start included, is this process's
    # children's. CPU seconds hold on a loaded machine, where the wall time does not.
    return {"seconds": seconds, "start_mb": start_mb, "peak_mb": rss_mb(),
            "cpu": cpu, "moto_cpu": cpu_seconds(resource.RUSAGE_CHILDREN),
            "jobs": upload["jobs"], "errors": upload["errors"]}  # fmt: skip


def cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def run_child(mode: str, path: Path, latency_ms: float = 0) -> dict[str, Any]:
    paths = [str(ROOT / "functions"), str(ROOT / "emulator"), str(ROOT)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    env.pop("PLACARD_AWS_LATENCY_MS", None)
    if latency_ms:
        env["PLACARD_AWS_LATENCY_MS"] = str(latency_ms)
    done = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(path)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def measure(mode: str, path: Path, runs: int) -> dict[str, Any]:
    results = [run_child(mode, path) for _ in range(runs)]
    median = {key: statistics.median(r[key] for r in results) for key in ("seconds", "peak_mb")}
    return {**results[0], **median}


def version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", default="1000,10000,100000", help="sheet sizes, comma-separated")
    parser.add_argument("--runs", type=int, default=3, help="fresh interpreters per measurement")
    parser.add_argument(
        "--handler-rows",
        default="1000,10000,100000",
        help="sheet sizes for the whole ingest handler ('' to skip)",
    )
    parser.add_argument(
        "--latency",
        default="0,15",
        help="milliseconds added to every AWS call of the whole handler, comma-separated",
    )
    parser.add_argument("--child", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], Path(args.child[1]))))
        return

    sizes = [int(n) for n in args.rows.split(",")]
    calamine = version("python-calamine")
    print(
        f"python {platform.python_version()} on {platform.machine()}, "
        f"openpyxl {version('openpyxl')}, python-calamine {calamine}, "
        f"median of {args.runs} fresh interpreters\n"
    )
    with tempfile.TemporaryDirectory(prefix="placard-bench-") as tmp:
        sheets = {
            (kind, n): Path(tmp) / f"ads-{n}.{kind}" for n in sizes for kind in ("csv", "xlsx")
        }
        largest = sorted(sizes)[-2:]
        repeated = {n: Path(tmp) / f"ads-repeat-{n}.xlsx" for n in largest}
        for path in [*sheets.values(), *repeated.values()]:
            run_child("generate", path)

        print("Parse + validate: read_rows + jobs_from_rows, default catalogue\n")
        print(
            "| sheet | rows | file (MB) | read_rows (s) | read + validate (s) | rows/s "
            "| peak RSS (MB) | above start (MB) | jobs | row errors |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for (kind, count), path in sorted(sheets.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            read = measure("read", path, args.runs)
            r = measure("ingest", path, args.runs)
            print(
                f"| {kind.upper()} | {count:,} | {path.stat().st_size / 2**20:.1f} "
                f"| {read['seconds']:.2f} | {r['seconds']:.2f} | {count / r['seconds']:,.0f} "
                f"| {r['peak_mb']:.0f} | {r['peak_mb'] - r['start_mb']:.0f} "
                f"| {r['jobs']:,} | {r['errors']:,} |"
            )

        if args.handler_rows:
            print("\nThe whole ingest handler on the local cloud (upload to SQS), one run each\n")
            print(
                "| sheet | rows | AWS latency (ms) | seconds | rows/s | handler CPU (s) "
                "| moto CPU (s) | peak RSS (MB) | jobs sent | row errors |"
            )
            print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
            for count in [int(n) for n in args.handler_rows.split(",")]:
                for kind in ("csv", "xlsx"):
                    path = sheets.get((kind, count)) or Path(tmp) / f"ads-{count}.{kind}"
                    if not path.exists():
                        run_child("generate", path)
                    for latency in [float(ms) for ms in args.latency.split(",")]:
                        r = run_child("handler", path, latency)
                        print(
                            f"| {kind.upper()} | {count:,} | {latency:g} | {r['seconds']:.1f} "
                            f"| {count / r['seconds']:,.0f} | {r['cpu']:.1f} "
                            f"| {r['moto_cpu']:.1f} | {r['peak_mb']:.0f} "
                            f"| {r['jobs']:,} | {r['errors']:,} |"
                        )

        readers = ["openpyxl"] + (["calamine"] if calamine != "not installed" else [])
        print("\nXLSX readers alone: every cell of the first sheet to text\n")
        print("| reader | copy | rows | seconds | rows/s | peak RSS (MB) | above start (MB) |")
        print("|---|---|---:|---:|---:|---:|---:|")
        above: dict[tuple[str, str, int], float] = {}
        for reader in readers:
            for copy, paths in (("unique", {n: sheets["xlsx", n] for n in largest}),
                                ("repeated", repeated)):  # fmt: skip
                for count, path in paths.items():
                    r = measure(reader, path, args.runs)
                    above[reader, copy, count] = r["peak_mb"] - r["start_mb"]
                    print(
                        f"| {reader} | {copy} | {count:,} | {r['seconds']:.2f} "
                        f"| {count / r['seconds']:,.0f} | {r['peak_mb']:.0f} "
                        f"| {above[reader, copy, count]:.0f} |"
                    )
        if len(largest) == 2:
            small, big = largest
            print(f"\nMemory above start, {big:,} rows against {small:,}:")
            for reader in readers:
                growth = ", ".join(
                    f"{copy} copy {above[reader, copy, small]:.0f} -> "
                    f"{above[reader, copy, big]:.0f} MB"
                    for copy in ("unique", "repeated")
                )
                print(f"- {reader}: {growth}")


if __name__ == "__main__":
    main()
