"""Cold-import time of each Lambda handler module, as `python -X importtime` reports it.

Each module is imported in a fresh interpreter (what a Lambda cold start pays before the first
event), several times; the table shows the median and the slowest imports under it.

    python bench/coldstart.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Every function's handler module, as template.yaml names them.
HANDLERS = sorted(
    set(re.findall(r"Handler: (handlers\.\w+)\.handler", (ROOT / "template.yaml").read_text()))
)
LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)")


def import_times(module: str) -> tuple[int, dict[str, int]]:
    """One cold interpreter: total microseconds, and cumulative microseconds of each module
    the handler imports directly."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "functions"), "PYTHONDONTWRITEBYTECODE": "0"}
    env.pop("AWS_ENDPOINT_URL", None)
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    total, direct = 0, {}
    for match in LINE.finditer(done.stderr):
        depth = (len(match[3]) - 1) // 2
        if depth == 0:
            total += int(match[2])
        elif depth == 1 and match[4] != module:
            direct[match[4]] = int(match[2])
    return total, direct


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    print(
        f"python {platform.python_version()} on {platform.machine()}, median of {args.runs} runs\n"
    )
    print("| handler module | cold import (ms) | heaviest imports (ms) |")
    print("|---|---:|---|")
    for module in HANDLERS:
        import_times(module)  # warm the bytecode cache, as a deployed package has it
        runs = [import_times(module) for _ in range(args.runs)]
        totals = [total / 1000 for total, _ in runs]
        heaviest = sorted(runs[-1][1].items(), key=lambda kv: -kv[1])[:4]
        top = ", ".join(f"{name} {us / 1000:.0f}" for name, us in heaviest)
        print(f"| `{module}` | {statistics.median(totals):.0f} | {top} |")


if __name__ == "__main__":
    main()
