"""What the domain needs from storage, named by what it does. The aws/ adapters provide it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import IO, Protocol

from placard.jobs import Job
from placard.ledger_items import LedgerItem


class AssetStore(Protocol):
    def put_new(self, key: str, data: bytes, content_type: str, metadata: dict[str, str]) -> bool:
        """Store unless the key exists; never overwrite. True when this call stored it."""

    def put_report(self, key: str, data: bytes, content_type: str) -> None: ...

    def read(self, key: str) -> bytes: ...

    def uri(self, key: str) -> str: ...


class UploadStore(Protocol):
    def open(self, key: str) -> IO[bytes]:
        """The upload's bytes as a seekable file (spooled to disk when large)."""

    def read(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...


class JobQueue(Protocol):
    def send(self, jobs: Iterable[Job]) -> int:
        """Queue jobs in batches; returns how many were sent."""


class Ledger(Protocol):
    def job_items(self, job: Job) -> list[LedgerItem]: ...

    def reserve(self, items: Sequence[LedgerItem]) -> bool:
        """Reserve atomically; False when another delivery already charged any of them."""

    def save(self, item: LedgerItem) -> None: ...

    def campaign_items(self, campaign: str) -> list[LedgerItem]: ...
