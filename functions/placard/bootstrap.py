"""Builds the pipeline's parts from Settings once per container, so handlers stay thin.

Nothing is built at import: a test or the local runner sets the environment first.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

import boto3
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
from botocore.config import Config

from placard.api.signing import WINDOW_SECONDS
from placard.aws.assets import S3Assets, S3Uploads
from placard.aws.budgets import DynamoBudgets
from placard.aws.job_records import DynamoJobRecords
from placard.aws.ledger import DynamoLedger
from placard.aws.progress import DynamoProgress
from placard.aws.queue import (
    SqsCallbackRequests,
    SqsDerivativeRequests,
    SqsJobQueue,
    SqsReportRequests,
)
from placard.aws.replays import DynamoReplayGuard
from placard.aws.secrets import api_key
from placard.domain.errors import InvalidInput
from placard.domain.pricing import default_prices
from placard.domain.templates import default_catalogue
from placard.providers import make_provider
from placard.services.endings import JobEndings
from placard.services.ingest import Ingest
from placard.services.pipeline import Pipeline, utc_now
from placard.settings import Settings

if TYPE_CHECKING:  # built only by the handlers that use them, so others do not import them
    import httpx

    from placard.api.service import JobService
    from placard.reporting.campaign import Reporter

# Workers share clients across threads (the local runner) and invocations (Lambda): a pool as
# large as the concurrency keeps connections open instead of opening one per call.
CLIENT_CONFIG = Config(max_pool_connections=64, retries={"mode": "standard"})


# Presigned links signed with SigV4, which lets them live up to seven days.
S3_CONFIG = CLIENT_CONFIG.merge(Config(signature_version="s3v4"))


@cache
def client(service: str) -> Any:
    config = S3_CONFIG if service == "s3" else CLIENT_CONFIG
    return boto3.client(service, config=config)  # type: ignore[call-overload]


@cache
def settings() -> Settings:
    return Settings.from_env()


# One of each adapter; the services below share them.


@cache
def assets() -> S3Assets:
    return S3Assets(client("s3"), settings().assets_bucket)


@cache
def uploads() -> S3Uploads:
    return S3Uploads(client("s3"), settings().uploads_bucket)


@cache
def ledger() -> DynamoLedger:
    return DynamoLedger(client("dynamodb"), settings().ledger_table)


@cache
def budgets() -> DynamoBudgets:
    return DynamoBudgets(client("dynamodb"), settings().ledger_table)


@cache
def jobs_queue() -> SqsJobQueue:
    return SqsJobQueue(client("sqs"), settings().jobs_queue_url)


@cache
def pipeline() -> Pipeline:
    return Pipeline(
        catalogue=default_catalogue(),
        prices=default_prices(),
        provider=make_provider(settings()),
        assets=assets(),
        ledger=ledger(),
        uploads=uploads(),
        budgets=budgets(),
    )


@cache
def idempotency_store(handler: str) -> DynamoDBPersistenceLayer:
    """One store per handler: a store keeps the first configuration it is given (its key
    path), and the local cloud runs every handler in one process."""
    return DynamoDBPersistenceLayer(
        table_name=settings().idempotency_table, boto3_client=client("dynamodb")
    )


@cache
def ingest() -> Ingest:
    return Ingest(
        catalogue=default_catalogue(),
        uploads=uploads(),
        assets=assets(),
        queue=jobs_queue(),
        ledger=ledger(),
        budgets=budgets(),
        progress=progress(),
        reports=report_requests(),
    )


@cache
def reporter() -> Reporter:
    from placard.reporting.campaign import Reporter

    return Reporter(
        catalogue=default_catalogue(), uploads=uploads(), assets=assets(), ledger=ledger()
    )


@cache
def progress() -> DynamoProgress:
    return DynamoProgress(client("dynamodb"), settings().ledger_table)


@cache
def report_requests() -> SqsReportRequests:
    return SqsReportRequests(client("sqs"), settings().reports_queue_url)


@cache
def derivative_requests() -> SqsDerivativeRequests:
    return SqsDerivativeRequests(client("sqs"), settings().derivatives_queue_url)


@cache
def job_endings() -> JobEndings:
    return JobEndings(
        records=job_records(),
        callbacks=callback_requests(),
        progress=progress(),
        reports=report_requests(),
    )


@cache
def callback_requests() -> SqsCallbackRequests:
    return SqsCallbackRequests(client("sqs"), settings().callbacks_queue_url)


@cache
def job_records() -> DynamoJobRecords:
    return DynamoJobRecords(client("dynamodb"), settings().ledger_table)


@cache
def callback_client() -> httpx.Client:
    import httpx

    # Redirects are never followed: one to a private address would get past the URL check.
    # No proxy from the environment either: a proxy would resolve the host on its own.
    return httpx.Client(follow_redirects=False, trust_env=False)


def check_callback(url: str) -> None:
    from placard.api.callbacks import CallbackRefused, check_callback_url

    try:
        check_callback_url(url, allow_loopback=settings().allow_loopback_callbacks)
    except CallbackRefused as exc:
        raise InvalidInput("callback_url", exc.reason, url) from exc


@cache
def job_service() -> JobService:
    from placard.api.service import JobService

    return JobService(
        catalogue=default_catalogue(),
        prices=default_prices(),
        provider=settings().provider,
        uploads=uploads(),
        assets=assets(),
        queue=jobs_queue(),
        ledger=ledger(),
        records=job_records(),
        remaining_budget=budgets().remaining,
        check_callback=check_callback,
        clock=utc_now,
    )


@cache
def replay_guard() -> DynamoReplayGuard:
    # Twice the window: a signature stays refused for as long as it could be accepted.
    return DynamoReplayGuard(client("dynamodb"), settings().idempotency_table, 2 * WINDOW_SECONDS)


@cache
def secret_reader(name: str) -> Callable[[], str]:
    return api_key(name, settings().secret_name)


def webhook_secret() -> str:
    """The shared secret API callers sign with (re-read as Parameters' cache ages)."""
    return secret_reader("PLACARD_WEBHOOK_SECRET")()


def callback_secret() -> str:
    """The Standard Webhooks secret (whsec_...) job-end callbacks are signed with."""
    return secret_reader("PLACARD_CALLBACK_SECRET")()


def reset() -> None:
    """Forget what was built, for a new environment (tests, a new local run)."""
    adapters = (client, settings, assets, uploads, ledger, budgets, jobs_queue, progress)
    sheets = (pipeline, ingest, reporter, report_requests, derivative_requests, job_endings)
    api = (job_records, job_service, replay_guard, secret_reader, callback_requests)
    for built in (*adapters, *sheets, *api, callback_client, idempotency_store):
        built.cache_clear()
    default_catalogue.cache_clear()
