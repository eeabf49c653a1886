"""Cold import of each Lambda handler, as Lambda loads it from the bundle `sam build` makes.

Each function's folder is built as `sam build` builds it (functions/Makefile, the same target
`make bundle-check` runs; one build for the functions that share a rule, for this machine's
architecture), or taken from --build-dir (`.aws-sam/build` after `sam build`: one folder a
function). A copy is made
read-only (chmod -R a-w, as /var/task is), and each handler is imported in a fresh python3.12
with that folder first on sys.path, without site-packages, PYTHONDONTWRITEBYTECODE unset and
the function's environment as the template sets it and Lambda's own variables. Several runs:
median, worst and best (the best is nearest what the import costs alone on a shared machine),
and the direct imports that cost the most (one more run under -X importtime). First, the
floor in the same conditions: `python3.12 -c pass` (the interpreter's start, CPU as the
process's), and `import boto3` and Powertools alone (every handler calls AWS, logs and
traces), timed as the handlers are.

    python bench/coldstart.py [--runs N] [--build-dir DIR] [--no-bytecode]

--no-bytecode deletes the copies' __pycache__ folders first: what sam build's python builder
ships, so every cold start compiles what it imports (the "before" of docs/performance.md).
Run as root (which writes through chmod), each import runs in a user namespace where the
copy is a read-only mount.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from placard_local.stack import Stack  # noqa: E402
from tests.bundle_check import (  # noqa: E402
    BUILD,
    build_groups,
    environment,
    lambda_environment,
    runtime_interpreter,
)

LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)")
# Timed inside the interpreter, as Lambda's init times the handler's module: wall and CPU
# milliseconds (the CPU time moves less when other work shares the machine's cores).
PROBE = """
import importlib, sys, time
sys.path.insert(0, sys.argv[1])
wall, cpu = time.perf_counter(), time.process_time()
for module in filter(None, sys.argv[2].split(",")):
    importlib.import_module(module)
print((time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000)
"""
# The floor, timed as the handlers are: the interpreter alone, and what every handler needs.
BASELINES = {
    "python3.12 -c pass": "",
    "import boto3": "boto3",
    "import boto3, aws_lambda_powertools": "boto3,aws_lambda_powertools",
}
RO_MOUNT = 'mount --bind -o ro "$0" "$0" && exec "$@"'


def read_only_copy(source: Path, into: Path, bytecode: bool) -> Path:
    copy = into / source.name
    shutil.copytree(source, copy, symlinks=True)
    if not bytecode:
        for cache in list(copy.rglob("__pycache__")):
            shutil.rmtree(cache)
    subprocess.run(["chmod", "-R", "a-w", copy], check=True)
    return copy


def one_import(python: Path, task: Path, module: str, env: dict[str, str], *flags: str) -> str:
    """`wall cpu process_cpu` in ms: the import's, and the whole process's CPU (the
    interpreter's start with it); with flags, the run's stderr."""
    command = [str(python), "-S", *flags, "-c", PROBE, str(task), module]
    if os.geteuid() == 0:  # root writes through chmod: a read-only mount, as Lambda's
        command = ["unshare", "-rm", "sh", "-c", RO_MOUNT, str(task), *command]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        command,
        cwd=task,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1000
    return f"{done.stdout.strip()} {used}" if not flags else done.stderr


def heaviest(importtime: str, module: str, count: int = 4) -> str:
    direct: dict[str, int] = {}
    for match in LINE.finditer(importtime):
        if (len(match[3]) - 1) // 2 == 1 and match[4] != module:
            direct[match[4]] = int(match[2])
    top = sorted(direct.items(), key=lambda kv: -kv[1])[:count]
    return ", ".join(f"{name} {us / 1000:.0f}" for name, us in top)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--build-dir", type=Path, help="one folder a function (sam build's)")
    parser.add_argument("--no-bytecode", action="store_true", help="strip __pycache__ first")
    args = parser.parse_args()
    stack = Stack.load(ROOT / "template.yaml")
    runtime = str(stack.template["Globals"]["Function"]["Runtime"])
    python = runtime_interpreter(runtime)
    if python is None:
        sys.exit(f"no {runtime} on PATH or in pyenv")
    functions = stack.functions()
    if args.build_dir:
        folders = {name: args.build_dir / name for name in functions}
    else:
        folders = build_groups(python, stack, ROOT / "functions")
    opt = BUILD / "opt"
    layer = stack.layer_content(ROOT)
    shutil.rmtree(opt, ignore_errors=True)
    shutil.copytree(layer, opt) if layer else opt.mkdir(parents=True)
    print(f"{python} ({runtime}), {args.runs} runs a handler, read-only copies, "
          f"{'no bytecode' if args.no_bytecode else 'bytecode as built'}, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores\n")  # fmt: skip
    print("| handler | median (ms) | worst | best | median CPU (ms) | over boto3 | process CPU "
          "| heaviest imports (ms) |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    with tempfile.TemporaryDirectory(prefix="coldstart-") as scratch:
        copies: dict[Path, Path] = {}
        rows: dict[str, tuple[Path, str, dict[str, str]]] = {}  # label -> folder, modules, env
        for name in sorted(functions):
            source = folders[name].resolve()
            if source not in copies:
                into = Path(scratch) / str(len(copies))
                into.mkdir()
                copies[source] = read_only_copy(source, into, not args.no_bytecode)
            task = copies[source]
            env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME")}
            env |= lambda_environment(name, environment(stack, name, opt), task)
            if not rows:
                rows |= {label: (task, modules, env) for label, modules in BASELINES.items()}
            module = functions[name].handler.rsplit(".", 1)[0]
            rows[module] = (task, module, env)
        # Round after round, every row once a round: each shares the machine's load alike.
        runs: dict[str, list[list[float]]] = {label: [] for label in rows}
        for _ in range(args.runs):
            for label, (task, modules, env) in rows.items():
                runs[label].append(
                    [float(v) for v in one_import(python, task, modules, env).split()]
                )
        boto3 = statistics.median(c for _, c, _ in runs["import boto3"])
        for label, (task, modules, env) in rows.items():
            times = [w for w, _, _ in runs[label]]
            cpu = statistics.median(c for _, c, _ in runs[label])
            process = statistics.median(p for _, _, p in runs[label])
            top = ""
            if label not in BASELINES:
                top = heaviest(one_import(python, task, modules, env, "-X", "importtime"), modules)
            wall = f"{statistics.median(times):.0f} | {max(times):.0f} | {min(times):.0f}"
            figures = f"{wall} | {cpu:.0f} | {cpu - boto3:+.0f} | {process:.0f}"
            print(f"| `{label}` | {figures} | {top} |", flush=True)
        for copy in copies.values():
            subprocess.run(["chmod", "-R", "u+w", copy], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
