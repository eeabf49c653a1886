from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _environment_given_back(own_environment: None) -> None:
    """Every e2e test starts a local cloud: tests/conftest.py's own_environment for each."""
