"""The Lambda bundles as `sam build` makes them, checked (`make bundle-check`).

Every function's Metadata says `BuildMethod: makefile`: `sam build` runs its target in
functions/Makefile, which installs the locks and compiles everything to python3.12 bytecode.
This runs the same targets into build/bundle/<Function>/, for this machine's architecture and
once for the functions whose recipe is then the same (the light ones share a rule: one build,
whichever their architecture), the builds side by side, and with the template's runtime
(python3.12) checks that each folder:

- is under Lambda's 250 MB unzipped, holds no laptop module (the local package, moto, tqdm,
  waitress, or a module of the laptop's under placard/ or handlers/), and no dependency
  installs a name of functions/ (one would hide the other);
- has, beside every module, its python3.12 bytecode, unchecked-hash (used from a read-only
  /var/task whatever the sources' mtimes: no compiling at a cold start);
- lets every handler in template.yaml import from it alone (no site-packages, no PYTHONPATH,
  no venv) with the folder read-only and Python free to write bytecode, writing nothing, with
  the function's environment as the template sets it: resources get names as in a
  deployment, parameters their defaults, and /opt is the layer's content;
- and that a handler's import (its cold start) leaves out the heavy libraries it does not
  need then (HEAVY_AT_IMPORT), and ends with the garbage collector running (importing the
  `handlers` package pauses it; each handler module's `ready()` starts it again).

A function for another architecture (the arm64 worker) is imported from its rule's build for
this machine (its extensions would not load here), and for its own architecture the check
downloads, without installing, a wheel of each package that is not pure Python
(`make wheels-<Function>`): what could be missing there.

The proof function's folder (the OCR engine) is also checked free of OpenCV, and from it
alone an OnnxReader reads a draft back. pip keeps its download cache where it always does
(~/.cache/pip); build/ is ignored by git.
"""

from __future__ import annotations

import json
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from placard_local.stack import Stack

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build" / "bundle"
LAPTOP_PACKAGES = ("placard_local", "moto", "tqdm", "waitress")
LOCAL_PACKAGE = ROOT / "local" / "placard_local"
UNZIPPED_LIMIT_MB = 250  # Lambda's limit for a zip function's code and layers, unzipped
# What rapidocr's own pipeline would pull in; the proof bundle runs its models without them.
NOT_IN_PROOF_BUNDLE = ("cv2", "shapely", "pyclipper", "omegaconf")
PROOF_COPY = "Proof 4,50 €"
# Libraries too heavy for a cold start that does not need them, and the handlers that may
# import them at their import; the others load them on the call that uses them, if ever.
# jinja2 and yaml load with the template catalogue (a handler's first call, not its import).
HEAVY_AT_IMPORT: dict[str, tuple[str, ...]] = {
    "jinja2": (),
    "yaml": (),
    "openpyxl": (),  # ingest reads a sheet
    "PIL": (),  # derivatives, the proof reader and reports draw
    "numpy": (),
    "onnxruntime": (),  # the proof reader loads its engine on its first read
    "httpx": ("handlers.callback", "handlers.worker"),  # they make HTTP calls, traced
    "pydantic": ("handlers.api",),  # its routes validate with the models
    "aws_lambda_powertools.utilities.idempotency": (
        "handlers.api",
        "handlers.ingest",
        "handlers.worker",
    ),
    "aws_lambda_powertools.event_handler": ("handlers.api",),
    # The OpenAPI document's models: the document is made by `make openapi`, never by a request.
    "aws_lambda_powertools.event_handler.openapi.models": (),
}

# Run as `python -I -S -c PROBE BUNDLE HANDLER`: isolated (no PYTHONPATH, no user site, no
# current folder) and without site-packages, so sys.path is the standard library and BUNDLE.
PROBE = """
import gc, importlib, json, sys, sysconfig
bundle = sys.argv[1]
sys.path.insert(0, bundle)
module, attribute = sys.argv[2].rsplit(".", 1)
handler = getattr(importlib.import_module(module), attribute)
stdlib = (sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"])
outside = sorted(
    name for name, m in list(sys.modules.items())
    if getattr(m, "__file__", None) and not m.__file__.startswith((bundle, *stdlib))
)
modules = sorted(sys.modules)
print(json.dumps({"callable": callable(handler), "outside": outside, "modules": modules,
                  "collector": gc.isenabled()}))
"""


# Run as `python -I -S -c READ_PROBE BUNDLE COPY`: from the bundle alone, a reader loads its
# models and reads back a draft of COPY.
READ_PROBE = """
import json, sys, sysconfig, time
bundle = sys.argv[1]
sys.path.insert(0, bundle)
started = time.perf_counter()
from placard.proofing.reader import OnnxReader
from placard.providers.draft_render import render_generate
reader = OnnxReader()
reader.load()
loaded = time.perf_counter() - started
draft = render_generate(1024, 1024, "poster", [("headline", sys.argv[2])], seed="bundle")
started = time.perf_counter()
lines = [line.text for line in reader.read(draft)]
stdlib = (sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"])
outside = sorted(
    name for name, m in list(sys.modules.items())
    if getattr(m, "__file__", None) and not m.__file__.startswith((bundle, *stdlib))
)
print(json.dumps({"lines": lines, "loaded": loaded, "read": time.perf_counter() - started,
                  "outside": outside, "rapidocr": "rapidocr" in sys.modules}))
"""


@dataclass(frozen=True)
class Outcome:
    what: str
    problems: tuple[str, ...]

    def line(self) -> str:
        if not self.problems:
            return f"ok    {self.what}"
        return f"FAIL  {self.what}\n" + "\n".join(f"      {p}" for p in self.problems)


def runtime_interpreter(runtime: str) -> Path | None:
    """The interpreter for a Lambda runtime such as python3.12: on PATH, else pyenv's (a pyenv
    shim on PATH may name a version that is not selected, so each is asked to run)."""
    version = runtime.removeprefix("python")
    pyenv = sorted((Path.home() / ".pyenv" / "versions").glob(f"{version}.*/bin/{runtime}"))
    on_path = shutil.which(runtime)
    for candidate in [*([Path(on_path)] if on_path else []), *reversed(pyenv)]:
        ran = subprocess.run([candidate, "-c", "pass"], capture_output=True, check=False)
        if ran.returncode == 0:
            return candidate
    return None


def shadowed(task: Path, functions: Path) -> list[str]:
    """Names in functions/ that a dependency installed in the bundle also installs at the top
    (the build copies functions/ over it: one would hide the other)."""
    ours = {p.name for p in functions.iterdir() if p.name != "__pycache__"}
    theirs = {
        line.split(",", 1)[0].split("/", 1)[0]
        for record in task.glob("*.dist-info/RECORD")
        for line in record.read_text().splitlines()
    }
    return sorted(ours & ({name.removesuffix(".py") for name in theirs} | theirs))


# A pyc's header: magic (4 bytes), then flags: bit 0 hash-based, bit 1 check the source.
UNCHECKED_HASH = 0b01


def bytecode_problems(task: Path, cache_tag: str) -> list[str]:
    """Modules in the bundle without unchecked-hash bytecode for the runtime (`cache_tag` is
    its sys.implementation.cache_tag, such as cpython-312)."""
    problems = []
    for source in sorted(task.rglob("*.py")):
        pyc = source.parent / "__pycache__" / f"{source.stem}.{cache_tag}.pyc"
        where = source.relative_to(task)
        if not pyc.is_file():
            problems.append(f"{where}: no {pyc.name}")
            continue
        flags = int.from_bytes(pyc.read_bytes()[4:8], "little")
        if flags != UNCHECKED_HASH:
            kind = "checked-hash" if flags & 0b01 else "timestamp"
            problems.append(f"{where}: {kind} bytecode, not unchecked-hash")
    return problems


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under `folder` with its size and modification time."""
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in folder.rglob("*")
        if p.is_file()
    }


def laptop_modules(task: Path, laptop_names: Iterable[str]) -> list[str]:
    """What in the bundle belongs to the laptop: a laptop package at the top, or a module
    named as one of the local package's under the code we ship."""
    found = [
        p.name
        for p in task.iterdir()
        if p.name in LAPTOP_PACKAGES or p.name.removesuffix(".py") in LAPTOP_PACKAGES
    ]
    names = set(laptop_names)
    for folder in ("placard", "handlers"):
        found += [
            str(p.relative_to(task))
            for p in (task / folder).rglob("*.py")
            if p.stem in names and "__pycache__" not in p.parts
        ]
    return sorted(found)


def environment(stack: Stack, function: str, opt: Path) -> dict[str, str]:
    """The function's variables as the template sets them in a deployment, /opt mapped."""
    for logical_id in stack.of_type("AWS::SQS::Queue"):
        name = stack.physical_name(logical_id)
        url = f"https://sqs.{stack.region}.amazonaws.com/{stack.account}/{name}"
        stack.physical[logical_id] = url
    variables = stack.functions()[function].environment
    return {
        key: str(opt) + value.removeprefix("/opt") if value.split("/")[:2] == ["", "opt"] else value
        for key, value in variables.items()
    }


def heavy_problems(module: str, loaded: Iterable[str]) -> list[str]:
    """The heavy libraries (HEAVY_AT_IMPORT) that importing `module` loaded without needing."""
    names = set(loaded)
    return [
        f"imports {heavy} at its import, which only {', '.join(allowed) or 'a call'} may"
        for heavy, allowed in HEAVY_AT_IMPORT.items()
        if heavy in names and module not in allowed
    ]


def import_alone(python: Path, task: Path, handler: str, env: dict[str, str]) -> list[str]:
    """Problems importing `handler` from the bundle alone (none when it imports), any heavy
    library it loaded without needing it, and any file the import wrote into the bundle
    (Python writes the bytecode it had to compile, unless the folder is read-only to it:
    Lambda's is, so there each cold start would compile again)."""
    before = snapshot(task)
    answer = subprocess.run(
        [python, "-I", "-S", "-c", PROBE, str(task), handler],
        cwd=task,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    written = sorted(set(snapshot(task).items()) - set(before.items()))
    if answer.returncode != 0:
        return answer.stderr.strip().splitlines()[-3:]
    found = json.loads(answer.stdout.strip().splitlines()[-1])
    problems = [f"imported from outside the bundle: {m}" for m in found["outside"]]
    problems += heavy_problems(handler.rsplit(".", 1)[0], found["modules"])
    problems += [f"wrote {path} into the bundle" for path, _ in written]
    if not found["callable"]:
        problems.append(f"{handler} is not callable")
    if not found["collector"]:
        problems.append("the garbage collector is still paused: the module must end with ready()")
    return problems


def made_functions(stack: Stack) -> list[str]:
    """The functions `sam build` builds with their Makefile target, not its Python builder."""
    return sorted(
        name
        for name, resource in stack.of_type("AWS::Serverless::Function").items()
        if resource.get("Metadata", {}).get("BuildMethod") == "makefile"
    )


def recipe(function: str, functions: Path, arch: str | None = None) -> str:
    """What `make build-<function>` would run, for its own architecture or `arch` (functions
    sharing a rule and its variables share a recipe, and so a bundle)."""
    return subprocess.run(
        ["make", "--no-print-directory", "-n", "-C", functions, f"build-{function}",
         "ARTIFACTS_DIR=@", "PYTHON=python3.12", *arch_override(function, arch)],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip


def arch_override(function: str, arch: str | None) -> list[str]:
    return [f"WHEEL_ARCH_{function}={arch}"] if arch else []


def wheel_arch(stack: Stack, function: str) -> str:
    """The wheels' architecture for a function: its Architectures, else the Globals'."""
    globals_ = stack.template.get("Globals", {}).get("Function", {})
    properties = stack.of_type("AWS::Serverless::Function")[function].get("Properties", {})
    arch = (properties.get("Architectures") or globals_.get("Architectures") or ["x86_64"])[0]
    return {"arm64": "aarch64"}.get(str(arch), str(arch))


def arch_problems(stack: Stack, functions: Path) -> list[str]:
    """Functions whose Makefile target takes wheels for another architecture than theirs."""
    return [
        f"{name}: template.yaml says {wheel_arch(stack, name)}, functions/Makefile's "
        f"WHEEL_ARCH_{name} another"
        for name in made_functions(stack)
        if f"manylinux_2_28_{wheel_arch(stack, name)}" not in recipe(name, functions)
    ]


def build_groups(python: Path, stack: Stack, functions: Path) -> dict[str, Path]:
    """Every made function's folder for this machine's architecture, built once for each
    distinct recipe, the builds side by side (mostly pip waiting on the network)."""
    native = platform.machine()
    first: dict[str, str] = {}  # recipe -> the function whose name its folder takes
    steps = {name: recipe(name, functions, native) for name in made_functions(stack)}
    for name, recipe_ in steps.items():
        first.setdefault(recipe_, name)
    with ThreadPoolExecutor(max_workers=len(first) or 1) as pool:
        built = dict(
            zip(
                first,
                pool.map(lambda name: build_with_make(python, name, functions, native),
                         first.values()),
                strict=True,
            )
        )  # fmt: skip
    return {name: built[recipe_] for name, recipe_ in steps.items()}


def build_with_make(python: Path, function: str, functions: Path, arch: str | None = None) -> Path:
    """The function's folder as `sam build` makes it: `make build-<function>` with
    ARTIFACTS_DIR, the runtime's interpreter for pip (which fetches wheels for Lambda's) and
    for the bytecode; for its own architecture, or `arch`."""
    task = BUILD / function
    shutil.rmtree(task, ignore_errors=True)
    task.mkdir(parents=True)
    made = subprocess.run(
        ["make", "--no-print-directory", "-s", "-C", functions, f"build-{function}",
         f"ARTIFACTS_DIR={task}", f"PYTHON={python}", *arch_override(function, arch)],
        capture_output=True, text=True,
    )  # fmt: skip
    if made.returncode != 0:
        raise RuntimeError(f"make build-{function} failed:\n{made.stderr[-3000:]}")
    return task


def _normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def compiled_packages(task: Path) -> list[str]:
    """The packages installed in `task` from a wheel that is not pure Python (a tag other than
    ...-none-any): the ones another architecture needs wheels of its own for."""
    found = []
    for wheel in task.glob("*.dist-info/WHEEL"):
        tags = [line.split(":", 1)[1].strip() for line in wheel.read_text().splitlines()
                if line.startswith("Tag:")]  # fmt: skip
        if any(not tag.endswith("-none-any") for tag in tags):
            metadata = (wheel.parent / "METADATA").read_text(errors="replace")
            name = re.search(r"^Name:\s*(\S+)", metadata, re.MULTILINE)
            found.append(_normalised(name[1] if name else wheel.parent.name.split("-")[0]))
    return sorted(found)


def locked(lock: str, names: Iterable[str]) -> str:
    """The lines of a hashed lock (uv's format) that pin `names`, with their hashes."""
    wanted, kept, keep = set(names), [], False
    for line in lock.splitlines():
        pin = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", line)
        if pin:
            keep = _normalised(pin[1]) in wanted
        elif not line.strip().startswith("--hash="):
            keep = False
        if keep:
            kept.append(line)
    return "\n".join(kept) + "\n"


def foreign_wheel_problems(
    python: Path, function: str, functions: Path, native_task: Path
) -> list[str]:
    """For a function built for another architecture than this machine's: its packages that
    are not pure Python (as built here), each a wheel downloaded for its own architecture
    with the lock's hashes (`make wheels-<function>`); pip's complaint if one is missing."""
    locks = re.findall(r"-r\s+(\S+\.lock)", recipe(function, functions))
    wanted = compiled_packages(native_task)
    pins = "".join(locked(Path(lock).read_text(), wanted) for lock in locks)
    with tempfile.TemporaryDirectory(prefix="wheels-") as scratch:
        requirements = Path(scratch) / "compiled.lock"
        requirements.write_text(pins)
        fetched = subprocess.run(
            ["make", "--no-print-directory", "-s", "-C", functions, f"wheels-{function}",
             f"ARTIFACTS_DIR={scratch}/wheels", f"PYTHON={python}",
             f"REQUIREMENTS={requirements}"],
            capture_output=True, text=True,
        )  # fmt: skip
        got = {_normalised(w.name.split("-")[0]) for w in Path(scratch, "wheels").glob("*.whl")}
    if fetched.returncode != 0:
        return [line for line in fetched.stderr.splitlines() if "ERROR" in line][-3:] or [
            f"make wheels-{function} failed"
        ]
    return [f"no wheel for {name}" for name in wanted if name not in got]


def megabytes(folder: Path) -> float:
    """Unzipped size, as Lambda counts it: the files' bytes."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6


def size_problems(size: float) -> tuple[str, ...]:
    if size < UNZIPPED_LIMIT_MB:
        return ()
    return (f"{size:.0f} MB unzipped; Lambda takes at most {UNZIPPED_LIMIT_MB} MB",)


def read_alone(python: Path, task: Path, env: dict[str, str]) -> tuple[str, tuple[str, ...]]:
    """From the bundle alone, a reader reads a draft back: (what it took, the problems)."""
    answer = subprocess.run(
        [python, "-I", "-S", "-B", "-c", READ_PROBE, str(task), PROOF_COPY],  # -B: as on Lambda
        cwd=task,
        env={**env, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    if answer.returncode != 0:
        return "", tuple(answer.stderr.strip().splitlines()[-3:])
    found = json.loads(answer.stdout.strip().splitlines()[-1])
    problems = [f"imported from outside the bundle: {m}" for m in found["outside"]]
    if found["rapidocr"]:
        problems.append("rapidocr's code was imported (only its models are to be used)")
    if " ".join(found["lines"][1:]) != PROOF_COPY:  # the first is the draft's caption
        problems.append(f"read {found['lines']}, not the caption and {PROOF_COPY!r}")
    timing = f"models loaded in {found['loaded']:.1f} s, a draft read in {found['read']:.1f} s"
    return timing, tuple(problems)


def bundle_outcomes(
    python: Path, names: list[str], task: Path, functions: Path, laptop_names: list[str]
) -> list[Outcome]:
    """One built folder, shared by the functions `names`."""
    label = names[0] if len(names) == 1 else f"{names[0]} (and {', '.join(names[1:])})"
    size = megabytes(task)
    cache_tag = subprocess.run(
        [python, "-c", "import sys; print(sys.implementation.cache_tag)"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    bytecode = bytecode_problems(task, cache_tag)
    modules = sum(1 for _ in task.rglob("*.py"))
    return [
        Outcome(f"{label}: built by functions/Makefile: {task.relative_to(ROOT)}, {size:.0f} MB",
                size_problems(size)),
        Outcome(f"{label}: no laptop module in it", tuple(laptop_modules(task, laptop_names))),
        Outcome(f"{label}: nothing in functions/ shadows a dependency",
                tuple(shadowed(task, functions))),
        Outcome(f"{label}: each of its {modules} modules has unchecked-hash {cache_tag} bytecode",
                (*bytecode[:5], *([f"... {len(bytecode)} in all"] if len(bytecode) > 5 else []))),
    ]  # fmt: skip


def proof_outcomes(python: Path, task: Path, env: dict[str, str]) -> list[Outcome]:
    timing, read_problems = read_alone(python, task, env)
    opencv = [name for name in NOT_IN_PROOF_BUNDLE if (task / name).exists()]
    return [
        Outcome("ProofFunction: no OpenCV or rapidocr pipeline dependency in it", tuple(opencv)),
        Outcome(f"ProofFunction: an OnnxReader reads a draft from it alone ({timing})",
                read_problems),
    ]  # fmt: skip


def lambda_environment(function: str, variables: dict[str, str], task: Path) -> dict[str, str]:
    """What Lambda itself sets, with dummy credentials: importing must not need real ones.
    LAMBDA_TASK_ROOT matters: outside Lambda the X-Ray SDK (Powertools' Tracer) builds a
    botocore client at import for its sampling rules, which in Lambda it does not."""
    return {
        "LAMBDA_TASK_ROOT": str(task),
        "LAMBDA_RUNTIME_DIR": "/var/runtime",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
        "AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129:2000",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bundle-check",
        "AWS_SECRET_ACCESS_KEY": "bundle-check",
        "AWS_LAMBDA_FUNCTION_NAME": function,
        "LANG": "en_US.UTF-8",
        **variables,
    }


def check(root: Path = ROOT) -> list[Outcome]:
    stack = Stack.load(root / "template.yaml")
    runtime = str(stack.template["Globals"]["Function"]["Runtime"])
    python = runtime_interpreter(runtime)
    if python is None:
        return [Outcome(f"an interpreter for {runtime}", (f"no {runtime} on PATH or in pyenv",))]
    functions = root / str(stack.template["Globals"]["Function"]["CodeUri"])
    opt = BUILD / "opt"
    layer = stack.layer_content(root)
    shutil.rmtree(opt, ignore_errors=True)
    if layer is not None:
        shutil.copytree(layer, opt)
    else:
        opt.mkdir(parents=True)
    laptop_names = [p.stem for p in LOCAL_PACKAGE.glob("*.py") if p.stem != "__init__"]
    unmade = sorted(set(stack.functions()) - set(made_functions(stack)))
    arches = arch_problems(stack, functions)
    started = time.monotonic()
    tasks = build_groups(python, stack, functions)
    outcomes = [
        Outcome(f"every function built by functions/Makefile, {len(set(tasks.values()))} "
                f"bundles in {time.monotonic() - started:.0f} s with {python}",
                tuple(f"{name}: no `BuildMethod: makefile`" for name in unmade)),
        Outcome("each function's wheels are for its architecture", tuple(arches)),
    ]  # fmt: skip
    for task in sorted(set(tasks.values())):
        names = sorted(name for name, folder in tasks.items() if folder == task)
        outcomes += bundle_outcomes(python, names, task, functions, laptop_names)
    if "ProofFunction" in tasks:
        task = tasks["ProofFunction"]
        env = lambda_environment("ProofFunction", environment(stack, "ProofFunction", opt), task)
        outcomes += proof_outcomes(python, task, env)
    native = platform.machine()
    for name in sorted(tasks):
        arch = wheel_arch(stack, name)
        if arch != native:
            started = time.monotonic()
            problems = foreign_wheel_problems(python, name, functions, tasks[name])
            compiled = ", ".join(compiled_packages(tasks[name]))
            outcomes.append(Outcome(f"{name}: an {arch} wheel of each of its compiled packages "
                                    f"({compiled}), fetched in {time.monotonic() - started:.0f} s",
                                    tuple(problems)))  # fmt: skip
    for name, function in sorted(stack.functions().items()):
        if name not in tasks:
            continue
        task = tasks[name]
        note = f" ({native} build of its rule)" if wheel_arch(stack, name) != native else ""
        env = lambda_environment(name, environment(stack, name, opt), task)
        with read_only(task):
            problems = import_alone(python, task, function.handler, env)
        outcomes.append(Outcome(f"{name}: {function.handler} imports from the read-only bundle "
                                f"alone{note}, writing nothing", tuple(problems)))  # fmt: skip
    return outcomes


@contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """`folder` made read-only, as /var/task is (root still writes: import_alone looks)."""
    subprocess.run(["chmod", "-R", "a-w", folder], check=True)
    try:
        yield
    finally:
        subprocess.run(["chmod", "-R", "u+w", folder], check=True)


def main() -> int:
    outcomes = check()
    for outcome in outcomes:
        print(outcome.line(), flush=True)
    failed = sum(1 for o in outcomes if o.problems)
    print(f"bundle check: {len(outcomes) - failed} ok, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
