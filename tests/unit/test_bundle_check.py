"""The bundle check's own judgement (`make bundle-check` runs it on the real bundle): what it
counts as laptop code, as shadowing, as importing from outside the bundle, as bytecode Lambda
can use, as writing into the bundle, as a heavy import a handler does not need, as a garbage
collector left paused, and which wheels another architecture needs."""

from __future__ import annotations

import compileall
import py_compile
import sys
from pathlib import Path

from placard_local.stack import Stack
from tests.bundle_check import (
    bytecode_problems,
    compiled_packages,
    environment,
    import_alone,
    laptop_modules,
    locked,
    shadowed,
    wheel_arch,
)

UNCHECKED = py_compile.PycInvalidationMode.UNCHECKED_HASH


def test_laptop_packages_and_modules_named_as_the_laptops_are_found(tmp_path: Path) -> None:
    # Given a bundle holding moto, tqdm.py and a runner.py under placard/
    for folder in ("moto", "placard/services", "handlers", "boto3"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "tqdm.py").write_text("")
    (tmp_path / "placard" / "services" / "runner.py").write_text("")
    (tmp_path / "placard" / "services" / "pipeline.py").write_text("")
    (tmp_path / "handlers" / "worker.py").write_text("")
    # When the check looks for the laptop's code
    found = laptop_modules(tmp_path, ["runner", "cli"])
    # Then it names those three, and nothing of what Lambda runs
    assert found == ["moto", "placard/services/runner.py", "tqdm.py"]


def test_a_folder_of_functions_named_as_a_dependency_is_shadowing(tmp_path: Path) -> None:
    # Given a bundle where a dependency's record installs a `handlers` package, another a
    # `placard.py`, a third boto3, and functions/ with its handlers/, placard/ and Makefile
    task, functions = tmp_path / "task", tmp_path / "functions"
    for name, files in {
        "odd-1.0": ["handlers/__init__.py,sha256=x,1", "odd-1.0.dist-info/RECORD,,"],
        "flat-2.0": ["placard.py,sha256=y,2"],
        "boto3-1.0": ["boto3/__init__.py,sha256=z,3", "boto3/session.py,sha256=w,4"],
    }.items():
        (task / f"{name}.dist-info").mkdir(parents=True)
        (task / f"{name}.dist-info" / "RECORD").write_text("\n".join(files))
    for folder in (functions / "handlers", functions / "placard"):
        folder.mkdir(parents=True)
    (functions / "Makefile").write_text("")
    # When the check compares them, Then both clashes are named
    assert shadowed(task, functions) == ["handlers", "placard"]


def test_a_handler_that_needs_anything_outside_the_bundle_fails_to_import(tmp_path: Path) -> None:
    # Given a bundle whose handlers import the standard library, and yaml (which this
    # interpreter's site-packages has, and the bundle does not)
    (tmp_path / "handlers").mkdir()
    (tmp_path / "handlers" / "plain.py").write_text("import json\ndef handler(e, c): ...\n")
    (tmp_path / "handlers" / "needy.py").write_text("import yaml\ndef handler(e, c): ...\n")
    compileall.compile_dir(tmp_path, quiet=1, invalidation_mode=UNCHECKED)
    python = Path(sys.executable)
    # When each is imported from the bundle alone
    plain = import_alone(python, tmp_path, "handlers.plain.handler", {})
    needy = import_alone(python, tmp_path, "handlers.needy.handler", {})
    # Then the first imports, and the second fails naming what it missed
    assert plain == []
    assert any("No module named 'yaml'" in line for line in needy)


def test_the_environment_is_the_templates_with_deployed_names_and_opt_mapped() -> None:
    # Given a template whose function reads a queue's URL, a bucket, a parameter and /opt
    stack = Stack(
        {
            "Parameters": {"Provider": {"Type": "String", "Default": "draft"}},
            "Resources": {
                "Jobs": {"Type": "AWS::SQS::Queue"},
                "Fn": {
                    "Type": "AWS::Serverless::Function",
                    "Properties": {
                        "Handler": "handlers.worker.handler",
                        "Environment": {
                            "Variables": {
                                "JOBS_QUEUE_URL": {"Ref": "Jobs"},
                                "PROVIDER": {"Ref": "Provider"},
                                "TEMPLATES": "/opt",
                                "FONTS": "/opt/fonts",
                                "OPTIONAL": "/optional",
                            }
                        },
                    },
                },
            },
        }
    )
    # When the check sets the function's environment
    env = environment(stack, "Fn", Path("/tmp/layer"))
    # Then resources have deployed names, parameters their defaults, and /opt is the layer
    assert env == {
        "JOBS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/placard-local-Jobs",
        "PROVIDER": "draft",
        "TEMPLATES": "/tmp/layer",
        "FONTS": "/tmp/layer/fonts",
        "OPTIONAL": "/optional",
    }


def test_modules_without_unchecked_hash_bytecode_for_the_runtime_are_named(
    tmp_path: Path,
) -> None:
    # Given a bundle with a module compiled unchecked-hash, one with timestamp bytecode, one
    # checked-hash, one compiled for another Python only, and one not compiled at all
    for name in ("good", "stamped", "checked", "other", "bare"):
        (tmp_path / f"{name}.py").write_text("x = 1\n")
    tag = sys.implementation.cache_tag
    for name, mode in {
        "good": UNCHECKED,
        "stamped": py_compile.PycInvalidationMode.TIMESTAMP,
        "checked": py_compile.PycInvalidationMode.CHECKED_HASH,
    }.items():
        py_compile.compile(str(tmp_path / f"{name}.py"), invalidation_mode=mode)
    other = tmp_path / "__pycache__" / "other.cpython-39.pyc"
    other.write_bytes((tmp_path / "__pycache__" / f"good.{tag}.pyc").read_bytes())
    # When the check reads the bytecode for this interpreter
    problems = bytecode_problems(tmp_path, tag)
    # Then every module but the first is named, with what is wrong
    assert problems == [
        f"bare.py: no bare.{tag}.pyc",
        "checked.py: checked-hash bytecode, not unchecked-hash",
        f"other.py: no other.{tag}.pyc",
        "stamped.py: timestamp bytecode, not unchecked-hash",
    ]


def test_an_import_that_writes_bytecode_into_the_bundle_is_caught(tmp_path: Path) -> None:
    # Given two bundles with the same handler: one compiled unchecked-hash, one not compiled
    built, bare = tmp_path / "built", tmp_path / "bare"
    for task in (built, bare):
        (task / "handlers").mkdir(parents=True)
        (task / "handlers" / "__init__.py").write_text("")
        (task / "handlers" / "plain.py").write_text("import json\ndef handler(e, c): ...\n")
    compileall.compile_dir(built, quiet=1, invalidation_mode=UNCHECKED)
    python = Path(sys.executable)
    # When the handler is imported from each, Python free to write bytecode
    from_built = import_alone(python, built, "handlers.plain.handler", {})
    from_bare = import_alone(python, bare, "handlers.plain.handler", {})
    # Then the compiled bundle is left as it was, and the bare one gets bytecode written
    tag = sys.implementation.cache_tag
    assert from_built == []
    assert from_bare == [
        f"wrote handlers/__pycache__/__init__.{tag}.pyc into the bundle",
        f"wrote handlers/__pycache__/plain.{tag}.pyc into the bundle",
    ]


def test_a_functions_wheels_follow_its_architectures_else_the_globals() -> None:
    # Given a template whose globals say x86_64 and whose worker says arm64
    stack = Stack(
        {
            "Globals": {"Function": {"Architectures": ["x86_64"]}},
            "Resources": {
                "Api": {"Type": "AWS::Serverless::Function", "Properties": {}},
                "Worker": {
                    "Type": "AWS::Serverless::Function",
                    "Properties": {"Architectures": ["arm64"]},
                },
            },
        }
    )
    # When the check asks each function's wheel architecture
    # Then the API's is the globals', and the worker's arm64 is pip's aarch64
    assert (wheel_arch(stack, "Api"), wheel_arch(stack, "Worker")) == ("x86_64", "aarch64")


def test_a_handler_that_imports_a_heavy_library_it_does_not_need_is_named(
    tmp_path: Path,
) -> None:
    # Given a bundle holding jinja2 and pydantic (stand-ins), a report handler that imports
    # jinja2 at its import, and an API handler that imports pydantic, which its routes need
    for package in ("jinja2", "pydantic", "handlers"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "handlers" / "report.py").write_text("import jinja2\ndef handler(e, c): ...\n")
    (tmp_path / "handlers" / "api.py").write_text("import pydantic\ndef handler(e, c): ...\n")
    compileall.compile_dir(tmp_path, quiet=1, invalidation_mode=UNCHECKED)
    python = Path(sys.executable)
    # When each handler is imported from the bundle
    report = import_alone(python, tmp_path, "handlers.report.handler", {})
    api = import_alone(python, tmp_path, "handlers.api.handler", {})
    # Then the report's jinja2 is named, and the API's pydantic is not
    assert report == ["imports jinja2 at its import, which only a call may"]
    assert api == []


def test_a_handler_that_leaves_the_collector_paused_is_named(tmp_path: Path) -> None:
    # Given a bundle whose handlers package pauses the garbage collector, a handler that
    # starts it again at the end of its import, and one that does not
    (tmp_path / "handlers").mkdir()
    (tmp_path / "handlers" / "__init__.py").write_text("import gc\ngc.disable()\n")
    (tmp_path / "handlers" / "ready.py").write_text(
        "import gc\ndef handler(e, c): ...\ngc.enable()\n"
    )
    (tmp_path / "handlers" / "paused.py").write_text("def handler(e, c): ...\n")
    compileall.compile_dir(tmp_path, quiet=1, invalidation_mode=UNCHECKED)
    python = Path(sys.executable)
    # When each is imported from the bundle
    ready = import_alone(python, tmp_path, "handlers.ready.handler", {})
    paused = import_alone(python, tmp_path, "handlers.paused.handler", {})
    # Then only the one that leaves it paused is named
    assert ready == []
    assert paused == ["the garbage collector is still paused: the module must end with ready()"]


def test_packages_with_compiled_wheels_are_the_ones_another_architecture_needs(
    tmp_path: Path,
) -> None:
    # Given a bundle with a pure-Python package and two compiled ones, one named with an
    # underscore in its dist-info folder
    for folder, name, tag in (
        ("boto3-1.0.dist-info", "boto3", "py3-none-any"),
        ("pydantic_core-2.0.dist-info", "pydantic_core", "cp312-cp312-manylinux_2_17_x86_64"),
        ("PyYAML-6.0.dist-info", "PyYAML", "cp312-cp312-manylinux_2_28_x86_64"),
    ):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "WHEEL").write_text(f"Wheel-Version: 1.0\nTag: {tag}\n")
        (tmp_path / folder / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\n")
    # When the check asks which need wheels of their own
    # Then the compiled two are named as pip names them
    assert compiled_packages(tmp_path) == ["pydantic-core", "pyyaml"]


def test_a_locks_pins_are_taken_with_their_hashes_and_nothing_else() -> None:
    # Given a lock in uv's format pinning three packages
    lock = (
        "# generated\n"
        "boto3==1.0 \\\n    --hash=sha256:aa\n    # via -r requirements.txt\n"
        "pydantic-core==2.0 \\\n    --hash=sha256:bb \\\n    --hash=sha256:cc\n"
        "    # via pydantic\n"
        "pyyaml==6.0 \\\n    --hash=sha256:dd\n"
    )
    # When the compiled two are taken
    taken = locked(lock, ["pydantic-core", "pyyaml"])
    # Then their pins and hashes come out, and neither boto3 nor a comment
    assert taken == (
        "pydantic-core==2.0 \\\n    --hash=sha256:bb \\\n    --hash=sha256:cc\n"
        "pyyaml==6.0 \\\n    --hash=sha256:dd\n"
    )
