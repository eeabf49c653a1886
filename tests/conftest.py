"""Shared fixtures: the template catalogue, and the stack's resources on in-process moto."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

from placard import bootstrap
from placard.domain.templates import Catalogue, default_catalogue
from placard.settings import REQUIRED, Settings
from placard_local.cloud import LOCAL_ENV, provision
from placard_local.moto_server import atomic_dynamodb_writes
from placard_local.stack import Stack, repo_root

# A batch's records run in threads: each item's write, its condition with it, at once, as on
# DynamoDB (without it two twins of a job could both pass the in-progress check).
atomic_dynamodb_writes()
ROOT = repo_root()
DATA = Path(__file__).parent / "data"


def in_new_interpreter(script: str, *args: str, env: dict[str, str]) -> Any:
    """What `script` printed as JSON, run with `args` in a new python whose path has functions/
    first, as a Lambda container's init is: the cold start's own modules, state and timing."""
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        env={**env, "PYTHONPATH": str(ROOT / "functions")},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout)


def template_environment() -> dict[str, str]:
    """What template.yaml gives every function, before any resource exists."""
    function = next(iter(Stack.load(ROOT / "template.yaml").functions().values()))
    return function.environment


# Test modules import handlers as they are collected, before any fixture runs, and a handler
# checks its settings on import (Lambda's init). The template's names stand in until the
# `stack` fixture (or a local cloud) sets the real ones; nothing else of the template is set.
for _name, _value in template_environment().items():
    if _name in REQUIRED:
        os.environ.setdefault(_name, _value)


@pytest.fixture
def catalogue() -> Catalogue:
    return default_catalogue()


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    """Every bucket, queue and table of template.yaml on in-process moto, the functions'
    environment set as Lambda would set it."""
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    for name, value in LOCAL_ENV.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        stack = Stack.load(ROOT / "template.yaml")
        for name, value in provision(stack, ROOT).items():
            monkeypatch.setenv(name, value)
        _forget_built()
        yield stack
    _forget_built()


@pytest.fixture
def parts(stack: Stack) -> bootstrap.Parts:
    """The parts a function builds, from this test's moto clients: a test hands them (or a
    copy with one part replaced) to a handler's `process`."""
    return bootstrap.build(Settings.from_env(), bootstrap.Clients.from_env())


def _forget_built() -> None:
    bootstrap.forget()
    # Powertools keeps secrets it read for their max age: another test's would leak in.
    parameters.clear_caches()  # type: ignore[no-untyped-call]


@pytest.fixture
def own_environment() -> Iterator[None]:
    """A local cloud sets the process environment, as Lambda would; give it back after, so
    no later test sends its AWS calls to a cloud that is gone."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)
    bootstrap.forget()
