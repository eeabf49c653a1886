"""The bundle check's own judgement (`make bundle-check` runs it on the real bundle): what it
counts as laptop code, as shadowing, as importing from outside the bundle."""

from __future__ import annotations

import sys
from pathlib import Path

from placard_local.stack import Stack
from tests.bundle_check import environment, import_alone, laptop_modules, shadowed


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
    # Given dependencies with a `handlers` package, and functions/ with its own
    deps, functions = tmp_path / "deps", tmp_path / "functions"
    for folder in (
        deps / "handlers",
        deps / "boto3",
        functions / "handlers",
        functions / "placard",
    ):
        folder.mkdir(parents=True)
    # When the check compares them, Then the clash is named
    assert shadowed(deps, functions) == ["handlers"]


def test_a_handler_that_needs_anything_outside_the_bundle_fails_to_import(tmp_path: Path) -> None:
    # Given a bundle whose handlers import the standard library, and yaml (which this
    # interpreter's site-packages has, and the bundle does not)
    (tmp_path / "handlers").mkdir()
    (tmp_path / "handlers" / "plain.py").write_text("import json\ndef handler(e, c): ...\n")
    (tmp_path / "handlers" / "needy.py").write_text("import yaml\ndef handler(e, c): ...\n")
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
