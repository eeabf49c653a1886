"""Configuration from the environment: template.yaml sets it on Lambda, local.py on a laptop."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    uploads_bucket: str
    assets_bucket: str
    ledger_table: str
    jobs_queue_url: str
    idempotency_table: str
    provider: str

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        return cls(
            uploads_bucket=env.get("UPLOADS_BUCKET", ""),
            assets_bucket=env.get("ASSETS_BUCKET", ""),
            ledger_table=env.get("LEDGER_TABLE", ""),
            jobs_queue_url=env.get("JOBS_QUEUE_URL", ""),
            idempotency_table=env.get("IDEMPOTENCY_TABLE", ""),
            provider=env.get("PLACARD_PROVIDER", "draft"),
        )
