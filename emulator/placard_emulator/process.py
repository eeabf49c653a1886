"""The emulator in a process of its own, for benches: it then shares no GIL with the pipeline
it serves."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager


@contextmanager
def running(*options: str, env: Mapping[str, str] | None = None) -> Iterator[str]:
    """`python -m placard_emulator OPTIONS` until the block ends; yields the first line it
    prints, its URL."""
    command = [sys.executable, "-m", "placard_emulator", *options]
    # This interpreter and the emulator module, with options the caller wrote: no outside input.
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)  # noqa: S603
    try:
        assert process.stdout is not None
        yield process.stdout.readline().strip()
    finally:
        process.terminate()
        process.wait(timeout=10)
