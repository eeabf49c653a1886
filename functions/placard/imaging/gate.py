"""How many pixels a process decodes, composites or holds answers of at once.

The worker runs a batch's jobs at once, in threads (handlers/sqs_batch.py). An edit holds only
encoded bytes while it waits for the image API (imaging/edits.py), but decoding its photo and
putting the answer back take about 40 bytes a pixel for a moment: ten 3840x2160 edits doing
that together would need well over a gigabyte. And an answer, read, is about 5 bytes a pixel
of the images it carries (its JSON, the base64, the PNGs): ten jobs of ten such images would
be 4 GB. The worker's wiring (bootstrap.py) gives its pipeline two gates, so both take turns
by size while the common batch's waits still overlap (docs/cost.md, bench/worker_memory.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from placard.domain.jobs import MAX_PIXELS

# One of the largest edits (3840x2160) decoded or composited at a time: at its MemorySize
# (1024) Lambda gives the worker 0.58 of a vCPU, so a second at once would gain little time.
WORKER_PIXELS = MAX_PIXELS
# Images asked for and not yet stored: ten of the largest (a batch of ten 4K edits, or one
# job of ten), measured to fit (docs/cost.md). Ten jobs of four 1024x1536 images pass at once.
ANSWER_PIXELS = 10 * MAX_PIXELS


class PixelGate:
    """A semaphore weighted by pixel count. A job larger than the whole gate still passes,
    alone, so no job waits forever."""

    def __init__(self, pixels: int) -> None:
        if pixels <= 0:
            raise ValueError(f"a gate needs room for some pixels, not {pixels}")
        self.pixels = pixels
        self._in_use = 0
        self._waiting = 0
        self._freed = threading.Condition()

    @contextmanager
    def __call__(self, pixels: int, until: float | None = None) -> Iterator[None]:
        """Held while `pixels` are decoded or worked on. With `until` (time.monotonic()),
        TimeoutError when the turn has not come by then."""
        weight = min(max(pixels, 0), self.pixels)
        with self._freed:
            self._waiting += 1
            try:
                turn = self._freed.wait_for(
                    lambda: self._in_use + weight <= self.pixels,
                    None if until is None else max(0.0, until - time.monotonic()),
                )
            finally:
                self._waiting -= 1
            if not turn:
                raise TimeoutError(f"no turn for {pixels} pixels: {self._in_use} in use")
            self._in_use += weight
        try:
            yield
        finally:
            with self._freed:
                self._in_use -= weight
                self._freed.notify_all()

    @property
    def in_use(self) -> int:
        """The pixels being worked on now."""
        with self._freed:
            return self._in_use

    @property
    def waiting(self) -> int:
        """How many are waiting their turn."""
        with self._freed:
            return self._waiting
