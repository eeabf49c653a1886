"""Configuration from the environment: template.yaml sets it on Lambda, local.py on a laptop."""

from __future__ import annotations

import os
from dataclasses import dataclass

OPENAI_BASE_URL = "https://api.openai.com/v1"


@dataclass(frozen=True)
class Settings:
    uploads_bucket: str = ""
    assets_bucket: str = ""
    ledger_table: str = ""
    jobs_queue_url: str = ""
    reports_queue_url: str = ""
    derivatives_queue_url: str = ""
    job_max_receives: int = 5  # the jobs queue's maxReceiveCount
    idempotency_table: str = ""
    provider: str = "draft"
    image_model: str = "gpt-image-2"  # OpenAI retires snapshots: configurable
    openai_base_url: str = OPENAI_BASE_URL
    prospolabs_base_url: str = ""
    secret_name: str = ""  # on Lambda: the Secrets Manager secret holding the API keys
    http_read_timeout: float = 180.0  # a high-quality image can take two minutes
    callbacks_queue_url: str = ""
    allow_loopback_callbacks: bool = False  # local runs and tests only: never on Lambda

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        return cls(
            uploads_bucket=env.get("UPLOADS_BUCKET", ""),
            assets_bucket=env.get("ASSETS_BUCKET", ""),
            ledger_table=env.get("LEDGER_TABLE", ""),
            jobs_queue_url=env.get("JOBS_QUEUE_URL", ""),
            reports_queue_url=env.get("REPORTS_QUEUE_URL", ""),
            derivatives_queue_url=env.get("DERIVATIVES_QUEUE_URL", ""),
            job_max_receives=int(env.get("JOBS_MAX_RECEIVES") or 5),
            idempotency_table=env.get("IDEMPOTENCY_TABLE", ""),
            provider=env.get("PLACARD_PROVIDER", "draft"),
            image_model=env.get("PLACARD_IMAGE_MODEL") or "gpt-image-2",
            openai_base_url=env.get("OPENAI_BASE_URL") or OPENAI_BASE_URL,
            prospolabs_base_url=env.get("PROSPOLABS_BASE_URL", ""),
            secret_name=env.get("PLACARD_SECRET_NAME", ""),
            http_read_timeout=float(env.get("PLACARD_HTTP_READ_TIMEOUT") or 180),
            callbacks_queue_url=env.get("CALLBACKS_QUEUE_URL", ""),
            allow_loopback_callbacks=env.get("PLACARD_ALLOW_LOOPBACK_CALLBACKS") == "1",
        )
