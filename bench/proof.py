"""The proof function's OCR on one core: seconds per image and peak memory by size, the
reader's cold start, and the size of the function's bundle.

Each size runs in a fresh interpreter pinned to one core (`taskset -c 0`, OMP_NUM_THREADS=1,
one onnxruntime thread: Lambda gives one vCPU per 1,769 MB), so its peak RSS is its own and
its cold start is a real one: importing the reader and loading both models. The images are
drafts carrying a poster's four fields. Wall time suffers when other work shares the core;
CPU time is what the image costs. Each image's CPU time is also split by stage: detection
(scaling, the detector, its boxes), recognition (cropping, the recogniser, decoding) and the
rest (decoding the PNG, putting lines in order).

The bundle is built as `sam build` builds it (functions/Makefile, under python3.12, the same
step as `make bundle-check`), then zipped as a deployment package is.

    python bench/proof.py [--runs N] [--no-bundle]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "functions"))
sys.path.insert(0, str(ROOT / "local"))
sys.path.insert(0, str(ROOT))

SIZES = [(1024, 1024), (1024, 1536)]
COPY = [
    ("headline", "Grüße aus Köln"),
    ("tagline", "Crème brûlée à volonté, déjà là"),
    ("offer", "Save $4.50 or 20% off €9,99"),
    ("cta", "Order by 31.08.2026"),
]


def timed(stage: Callable[..., Any], spent: list[float]) -> Callable[..., Any]:
    """The stage, adding the CPU seconds of each call to `spent`."""

    def run(*args: Any) -> Any:
        cpu = time.process_time()
        try:
            return stage(*args)
        finally:
            spent.append(time.process_time() - cpu)

    return run


def child(width: int, height: int, runs: int) -> None:
    """In a fresh interpreter: cold start, then `runs` reads of a draft; prints JSON."""
    started = time.perf_counter()
    from placard.proofing import reader as engine
    from placard.proofing.reader import OnnxReader

    reader = OnnxReader()
    reader.load()
    cold = time.perf_counter() - started
    from placard.providers.draft_render import render_generate

    drafts = [render_generate(width, height, "poster", COPY, seed=str(i)) for i in range(runs)]
    reader.read(drafts[0])  # onnxruntime's first run of a shape plans its memory
    detect: list[float] = []
    recognise: list[float] = []
    engine._detect = timed(engine._detect, detect)
    engine._recognise = timed(engine._recognise, recognise)
    walls, cpus, lines = [], [], 0
    for draft in drafts:
        wall, cpu = time.perf_counter(), time.process_time()
        lines = len(reader.read(draft))
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    stages = {"detect": detect, "recognise": recognise}
    got = {"cold": cold, "walls": walls, "cpus": cpus, "peak": peak_mb, "lines": lines}
    print(json.dumps(got | stages))


def measure(width: int, height: int, runs: int) -> dict[str, Any]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PLACARD_OCR_THREADS": "1"}
    pin = ["taskset", "-c", "0"] if shutil.which("taskset") else []
    done = subprocess.run(
        [*pin, sys.executable, __file__, "--child", f"{width}x{height}", "--runs", str(runs)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def bundle_sizes() -> tuple[float, float] | None:
    """(unzipped MB, zipped MB) of the proof function's bundle, or None without python3.12."""
    from tests.bundle_check import build_with_make, megabytes, runtime_interpreter

    python = runtime_interpreter("python3.12")
    if python is None:
        return None
    task = build_with_make(python, "ProofFunction", ROOT / "functions")
    with tempfile.TemporaryDirectory() as scratch:
        archive = shutil.make_archive(str(Path(scratch) / "proof"), "zip", task)
        zipped = Path(archive).stat().st_size / 1e6
    return megabytes(task), zipped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-bundle", action="store_true", help="skip building the bundle")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        width, height = (int(v) for v in args.child.split("x"))
        child(width, height, args.runs)
        return
    print(f"one core, median of {args.runs} drafts ({len(COPY)} fields) per size\n")
    print(
        "| size | s/image wall | s/image CPU | detection CPU | recognition CPU | rest CPU "
        "| slowest wall | peak RSS MB | cold start s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for width, height in SIZES:
        got = measure(width, height, args.runs)
        cpu = statistics.median(got["cpus"])
        detect, recognise = statistics.median(got["detect"]), statistics.median(got["recognise"])
        rest = statistics.median(
            total - d - r
            for total, d, r in zip(got["cpus"], got["detect"], got["recognise"], strict=True)
        )
        print(
            f"| {width}x{height} | {statistics.median(got['walls']):.2f} | {cpu:.2f} | "
            f"{detect:.2f} | {recognise:.2f} | {rest:.2f} | {max(got['walls']):.2f} | "
            f"{got['peak']:.0f} | {got['cold']:.2f} |"
        )
    if args.no_bundle:
        return
    sizes = bundle_sizes()
    if sizes is None:
        print("\nproof bundle: no python3.12 to build it with")
        return
    unzipped, zipped = sizes
    print(f"\nproof bundle: {unzipped:.0f} MB unzipped (limit 250), {zipped:.0f} MB zipped")


if __name__ == "__main__":
    main()
