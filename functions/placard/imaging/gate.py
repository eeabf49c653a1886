"""How many pixels a process decodes and composites at once.

The worker runs a batch's jobs at once, in threads (handlers/sqs_batch.py). An edit holds only
encoded bytes while it waits for the image API (imaging/edits.py), but decoding its photo and
putting the answer back take about 40 bytes a pixel for a moment: ten 3840x2160 edits doing
that together would need well over a gigabyte. The worker's wiring (bootstrap.py) gives its
pipeline one `PixelGate`, so those moments take turns by size while the waits still overlap
(docs/cost.md, bench/worker_memory.py).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

# The worker's gate: two of the largest edits (3840x2160) at once. Measured with
# bench/worker_memory.py against WorkerFunction's MemorySize (docs/cost.md).
WORKER_PIXELS = 2 * 3840 * 2160


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
    def __call__(self, pixels: int) -> Iterator[None]:
        """Held while `pixels` are decoded or worked on."""
        weight = min(max(pixels, 0), self.pixels)
        with self._freed:
            self._waiting += 1
            self._freed.wait_for(lambda: self._in_use + weight <= self.pixels)
            self._waiting -= 1
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
