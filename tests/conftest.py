"""Shared fixtures: the template catalogue, and the stack's resources on in-process moto."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

from placard import bootstrap
from placard.domain.templates import Catalogue, default_catalogue
from placard_local.cloud import LOCAL_ENV, provision
from placard_local.stack import Stack, repo_root

ROOT = repo_root()
DATA = Path(__file__).parent / "data"


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


def _forget_built() -> None:
    bootstrap.reset()
    # Powertools keeps secrets it read for their max age: another test's would leak in.
    parameters.clear_caches()  # type: ignore[no-untyped-call]
