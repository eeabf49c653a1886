"""Large edits decode one at a time (imaging/edits.py), so a batch of them fits the worker.

The worker runs a batch's jobs at once in threads; a 3840x2160 photo takes about 150 MB while
it is decoded and composited, so ten at once would need ten times that (docs/cost.md).
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Any

import pytest
from PIL import Image

from placard.imaging import edits
from tests.pictures import decode as read_png
from tests.pictures import encode

LARGE = (2560, 1600)  # 4.1 megapixels: above edits.LARGE_EDIT_PIXELS
SMALL = (1024, 1024)


class Watched:
    """A semaphore that says when a second thread asks for it while the first holds it."""

    def __init__(self) -> None:
        self.inner = threading.BoundedSemaphore(1)
        self.asked = 0
        self.contended = threading.Event()
        self.lock = threading.Lock()

    def __enter__(self) -> None:
        with self.lock:
            self.asked += 1
            if self.asked == 2:
                self.contended.set()
        self.inner.acquire()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.inner.release()


def test_two_large_edits_never_decode_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given decoding that counts the decodes under way, the first one waiting until a
    # second large edit has asked to start
    watched = Watched()
    monkeypatch.setattr(edits, "_large_edit", watched)
    state = {"now": 0, "most": 0, "calls": 0}
    lock = threading.Lock()
    real_decode = edits.decode

    def decode(data: bytes, field: str) -> Image.Image:
        with lock:
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
            state["calls"] += 1
            first = state["calls"] == 1
        try:
            if first:
                watched.contended.wait(timeout=30)
            return real_decode(data, field)
        finally:
            with lock:
                state["now"] -= 1

    monkeypatch.setattr(edits, "decode", decode)
    source = encode(Image.new("RGB", LARGE, (200, 180, 160)))
    answer = encode(Image.new("RGB", LARGE, (10, 20, 30)))
    results: list[bytes] = []
    errors: list[BaseException] = []

    def edit() -> None:
        try:
            prepared = edits.prepare_edit(source, box=(100, 100, 400, 200))
            results.append(edits.finish_edit(prepared, answer))
        except BaseException as exc:
            errors.append(exc)

    # When two large edits run at once, each preparing and finishing its edit
    threads = [threading.Thread(target=edit) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then both finished, the second asked while the first decoded, and never two decoded
    assert errors == [] and len(results) == 2
    assert watched.contended.is_set()
    assert state["calls"] == 4  # each edit's source and provider's answer
    assert state["most"] == 1


class Refused:
    def __enter__(self) -> Any:
        raise AssertionError("a small edit waited for the large edits' turn")

    def __exit__(self, *_: object) -> None:
        return None


def test_a_small_edit_does_not_wait_for_large_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the large edits' turn taken by something that refuses everyone
    monkeypatch.setattr(edits, "_large_edit", Refused())
    source = encode(Image.new("RGB", SMALL, (200, 180, 160)))

    # When a 1024x1024 photo is edited
    prepared = edits.prepare_edit(source, box=(10, 10, 100, 50))
    finished = edits.finish_edit(prepared, encode(Image.new("RGB", SMALL, (0, 0, 0))))

    # Then it is prepared and finished without taking the turn
    assert prepared.size == edits.Size(*SMALL)
    assert read_png(finished).size == SMALL
