"""Configuration from the environment: template.yaml sets it on Lambda, the local cloud on a
laptop. Read once at a function's cold start, so a missing or malformed variable fails the
init naming it, instead of surfacing later as a boto error on a bucket called ""."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

OPENAI_BASE_URL = "https://api.openai.com/v1"
N = TypeVar("N", int, float)
# The stack's resources, which every function is given (template.yaml's Globals): no default
# would name a real one, so each must be set.
REQUIRED = (
    "UPLOADS_BUCKET",
    "ASSETS_BUCKET",
    "LEDGER_TABLE",
    "JOBS_QUEUE_URL",
    "REPORTS_QUEUE_URL",
    "DERIVATIVES_QUEUE_URL",
    "PROOFS_QUEUE_URL",
    "CALLBACKS_QUEUE_URL",
    "IDEMPOTENCY_TABLE",
)


class SettingsError(ValueError):
    """One or more variables are missing or malformed; the message names each."""


@dataclass(frozen=True)
class Settings:
    uploads_bucket: str
    assets_bucket: str
    ledger_table: str
    jobs_queue_url: str
    reports_queue_url: str
    derivatives_queue_url: str
    proofs_queue_url: str
    callbacks_queue_url: str
    idempotency_table: str
    job_max_receives: int = 5  # the jobs queue's maxReceiveCount
    provider: str = "draft"
    image_model: str = "gpt-image-2"  # OpenAI retires snapshots: configurable
    openai_base_url: str = OPENAI_BASE_URL
    prospolabs_base_url: str = ""
    secret_name: str = ""  # on Lambda: the Secrets Manager secret holding the API keys
    http_read_timeout: float = 180.0  # a high-quality image can take two minutes
    allow_loopback_callbacks: bool = False  # local runs and tests only: never on Lambda
    # Rows a sheet may have (template.yaml's MaxSheetRows; sheets.reader.MAX_ROWS, which
    # settings does not import: every function reads its settings, only ingest reads sheets)
    max_sheet_rows: int = 200_000

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """The settings, or a SettingsError naming every variable that is wrong."""
        read = _Reader(os.environ if env is None else env)
        given = {name: read.required(name) for name in REQUIRED}
        settings = cls(
            uploads_bucket=given["UPLOADS_BUCKET"],
            assets_bucket=given["ASSETS_BUCKET"],
            ledger_table=given["LEDGER_TABLE"],
            jobs_queue_url=given["JOBS_QUEUE_URL"],
            reports_queue_url=given["REPORTS_QUEUE_URL"],
            derivatives_queue_url=given["DERIVATIVES_QUEUE_URL"],
            proofs_queue_url=given["PROOFS_QUEUE_URL"],
            callbacks_queue_url=given["CALLBACKS_QUEUE_URL"],
            idempotency_table=given["IDEMPOTENCY_TABLE"],
            job_max_receives=read.number("JOBS_MAX_RECEIVES", 5, int, "a whole number"),
            provider=read.provider(),
            image_model=read.optional("PLACARD_IMAGE_MODEL", "gpt-image-2"),
            openai_base_url=read.optional("OPENAI_BASE_URL", OPENAI_BASE_URL),
            prospolabs_base_url=read.optional("PROSPOLABS_BASE_URL", ""),
            secret_name=read.optional("PLACARD_SECRET_NAME", ""),
            http_read_timeout=read.number(
                "PLACARD_HTTP_READ_TIMEOUT", 180.0, float, "a number of seconds"
            ),
            allow_loopback_callbacks=read.switch("PLACARD_ALLOW_LOOPBACK_CALLBACKS"),
            max_sheet_rows=read.number("MAX_SHEET_ROWS", 200_000, int, "a whole number"),
        )
        if read.problems:
            raise SettingsError("; ".join(read.problems))
        return settings


class _Reader:
    """Reads variables, collecting every problem so one failed init names them all."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[str] = []

    def required(self, name: str) -> str:
        value = self.env.get(name, "")
        if not value:
            self.problems.append(f"{name} is not set")
        return value

    def optional(self, name: str, default: str) -> str:
        return self.env.get(name) or default

    def number(self, name: str, default: N, kind: Callable[[str], N], what: str) -> N:
        """A positive number; unset or empty means the default."""
        raw = self.env.get(name) or ""
        if not raw:
            return default
        try:
            value = kind(raw)
        except ValueError:
            self.problems.append(f"{name} is not {what}: {raw!r}")
            return default
        if not value > 0:  # also refuses nan
            self.problems.append(f"{name} must be more than 0: {raw!r}")
        return value

    def switch(self, name: str) -> bool:
        raw = self.env.get(name) or "0"
        if raw not in ("0", "1"):
            self.problems.append(f"{name} is 0 or 1, not {raw!r}")
        return raw == "1"

    def provider(self) -> str:
        from placard.providers import NAMES  # imported here: providers import this module

        name = self.env.get("PLACARD_PROVIDER") or "draft"
        if name not in NAMES:
            self.problems.append(
                f"PLACARD_PROVIDER {name!r} is not a provider; use one of {', '.join(NAMES)}"
            )
        elif name == "prospolabs" and not self.env.get("PROSPOLABS_BASE_URL"):
            self.problems.append("PROSPOLABS_BASE_URL is not set (PLACARD_PROVIDER is prospolabs)")
        return name
