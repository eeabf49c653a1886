"""The Lambda bundle as `sam build` makes it, checked (`make bundle-check`).

`sam build` installs functions/requirements.txt into a folder with the runtime's pip and puts
the CodeUri (functions/) beside it; on Lambda that folder is all a function has, plus the
templates layer under /opt. This builds the same folder under build/bundle/ and, with the
template's runtime (python3.12), checks that:

- no laptop module is in it (the local package, moto, tqdm, waitress, or a module of the
  laptop's under placard/ or handlers/), and nothing in functions/ shadows a dependency;
- every handler in template.yaml imports from that folder alone (no site-packages, no
  PYTHONPATH, no venv), with the function's environment as the template sets it: resources
  get names as in a deployment, parameters their defaults, and /opt is the layer's content.

The dependencies are installed once per requirements.txt and runtime, and kept (build/ is
ignored by git); pip keeps its download cache where it always does (~/.cache/pip).

A function whose Metadata says `BuildMethod: makefile` (the proof function, which carries the
OCR engine) is built as `sam build` builds it, by its target in functions/Makefile, into
build/bundle/<Function>/, every run. Its handler is imported from that folder, the folder is
checked to be under Lambda's 250 MB unzipped and free of OpenCV, and, from it alone, an
OnnxReader reads a draft back.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable
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

# Run as `python -I -S -c PROBE BUNDLE HANDLER`: isolated (no PYTHONPATH, no user site, no
# current folder) and without site-packages, so sys.path is the standard library and BUNDLE.
PROBE = """
import importlib, json, sys, sysconfig
bundle = sys.argv[1]
sys.path.insert(0, bundle)
module, attribute = sys.argv[2].rsplit(".", 1)
handler = getattr(importlib.import_module(module), attribute)
stdlib = (sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"])
outside = sorted(
    name for name, m in list(sys.modules.items())
    if getattr(m, "__file__", None) and not m.__file__.startswith((bundle, *stdlib))
)
print(json.dumps({"callable": callable(handler), "outside": outside}))
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


def dependencies(python: Path, requirements: Path) -> Path:
    """requirements.txt installed with the runtime's pip, once per its content and runtime."""
    version = subprocess.run(
        [python, "-c", "import sys; print(sys.version)"], check=True, capture_output=True, text=True
    ).stdout
    key = hashlib.sha256(requirements.read_bytes() + version.encode()).hexdigest()[:12]
    target = BUILD / f"deps-{key}"
    if target.is_dir():
        return target
    for stale in BUILD.glob("deps-*"):
        shutil.rmtree(stale)
    partial = BUILD / f"partial-{key}"
    BUILD.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(partial, ignore_errors=True)
    pip = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "-r", requirements, "--target", partial], check=True)
    partial.rename(target)  # an interrupted install is never taken for a finished one
    return target


def assemble(deps: Path, functions: Path, task: Path) -> None:
    """The deployment folder: the dependencies, then the CodeUri's content over them."""
    shutil.rmtree(task, ignore_errors=True)
    shutil.copytree(deps, task, symlinks=True, copy_function=_link_or_copy)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(functions, task, symlinks=True, dirs_exist_ok=True, ignore=ignore)


def _link_or_copy(source: str, target: str) -> None:
    """Hard links are a copy the build never writes through, made in no time."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def shadowed(deps: Path, functions: Path) -> list[str]:
    """Names in functions/ that a dependency also installs at the top (one would hide the other)."""
    ours = {p.name for p in functions.iterdir() if p.name != "__pycache__"}
    return sorted(ours & {p.name for p in deps.iterdir()})


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


def import_alone(python: Path, task: Path, handler: str, env: dict[str, str]) -> list[str]:
    """Problems importing `handler` from the bundle alone (none when it imports)."""
    answer = subprocess.run(
        [python, "-I", "-S", "-c", PROBE, str(task), handler],
        cwd=task,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if answer.returncode != 0:
        return answer.stderr.strip().splitlines()[-3:]
    found = json.loads(answer.stdout.strip().splitlines()[-1])
    problems = [f"imported from outside the bundle: {m}" for m in found["outside"]]
    if not found["callable"]:
        problems.append(f"{handler} is not callable")
    return problems


def made_functions(stack: Stack) -> list[str]:
    """The functions `sam build` builds with their Makefile target, not its Python builder."""
    return sorted(
        name
        for name, resource in stack.of_type("AWS::Serverless::Function").items()
        if resource.get("Metadata", {}).get("BuildMethod") == "makefile"
    )


def build_with_make(python: Path, function: str, functions: Path) -> Path:
    """The function's folder as `sam build` makes it: `make build-<function>` with
    ARTIFACTS_DIR, the runtime's interpreter for pip (which fetches wheels for Lambda's)."""
    task = BUILD / function
    shutil.rmtree(task, ignore_errors=True)
    task.mkdir(parents=True)
    subprocess.run(
        ["make", "--no-print-directory", "-s", "-C", functions, f"build-{function}",
         f"ARTIFACTS_DIR={task}", f"PYTHON={python}"],
        check=True,
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    return task


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


def proof_bundle_outcomes(
    python: Path, stack: Stack, function: str, functions: Path, opt: Path, laptop_names: list[str]
) -> tuple[Path, list[Outcome]]:
    started = time.monotonic()
    task = build_with_make(python, function, functions)
    size = megabytes(task)
    env = lambda_environment(function, environment(stack, function, opt))
    timing, read_problems = read_alone(python, task, env)
    opencv = [name for name in NOT_IN_PROOF_BUNDLE if (task / name).exists()]
    return task, [
        Outcome(
            f"{function}: built by functions/Makefile in {time.monotonic() - started:.0f} s: "
            f"{task.relative_to(ROOT)}, {size:.0f} MB",
            size_problems(size),
        ),
        Outcome(f"{function}: no OpenCV or rapidocr pipeline dependency in it", tuple(opencv)),
        Outcome(f"{function}: no laptop module in it", tuple(laptop_modules(task, laptop_names))),
        Outcome(f"{function}: an OnnxReader reads a draft from it alone ({timing})", read_problems),
    ]


def lambda_environment(function: str, variables: dict[str, str]) -> dict[str, str]:
    """What Lambda itself sets, with dummy credentials: importing must not need real ones."""
    return {
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
    started = time.monotonic()
    deps = dependencies(python, functions / "requirements.txt")
    task, opt = BUILD / "task", BUILD / "opt"
    assemble(deps, functions, task)
    layer = stack.layer_content(root)
    shutil.rmtree(opt, ignore_errors=True)
    if layer is not None:
        shutil.copytree(layer, opt)
    else:
        opt.mkdir(parents=True)
    laptop_names = [p.stem for p in LOCAL_PACKAGE.glob("*.py") if p.stem != "__init__"]
    outcomes = [
        Outcome(
            f"bundle built with {python} in {time.monotonic() - started:.0f} s: "
            f"{task.relative_to(root)}, {megabytes(task):.0f} MB",
            size_problems(megabytes(task)),
        ),
        Outcome("nothing in functions/ shadows a dependency", tuple(shadowed(deps, functions))),
        Outcome("no laptop module in the bundle", tuple(laptop_modules(task, laptop_names))),
    ]
    tasks = dict.fromkeys(stack.functions(), task)
    for name in made_functions(stack):
        tasks[name], made = proof_bundle_outcomes(python, stack, name, functions, opt, laptop_names)
        outcomes += made
    for name, function in sorted(stack.functions().items()):
        env = lambda_environment(name, environment(stack, name, opt))
        problems = import_alone(python, tasks[name], function.handler, env)
        outcomes.append(Outcome(f"{name}: {function.handler} imports from the bundle alone",
                                tuple(problems)))  # fmt: skip
    return outcomes


def main() -> int:
    outcomes = check()
    for outcome in outcomes:
        print(outcome.line(), flush=True)
    failed = sum(1 for o in outcomes if o.problems)
    print(f"bundle check: {len(outcomes) - failed} ok, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
