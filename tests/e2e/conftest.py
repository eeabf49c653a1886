from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from placard import bootstrap


@pytest.fixture(autouse=True)
def own_environment() -> Iterator[None]:
    """The local cloud sets the process environment, as Lambda would; give it back after."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)
    bootstrap.forget()
