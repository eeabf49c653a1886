"""Builds the pipeline's parts from Settings once per container, so handlers stay thin.

Nothing is built at import: a test or the local runner sets the environment first.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
from botocore.config import Config

from placard.aws.assets import S3Assets, S3Uploads
from placard.aws.budgets import DynamoBudgets
from placard.aws.ledger import DynamoLedger
from placard.aws.progress import DynamoProgress
from placard.aws.queue import SqsJobQueue, SqsReportRequests
from placard.campaign_report import Reporter
from placard.ingest import Ingest
from placard.pipeline import Pipeline
from placard.pricing import default_prices
from placard.providers import make_provider
from placard.settings import Settings
from placard.templates import default_catalogue

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


@cache
def pipeline() -> Pipeline:
    s = settings()
    return Pipeline(
        catalogue=default_catalogue(),
        prices=default_prices(),
        provider=make_provider(s),
        assets=S3Assets(client("s3"), s.assets_bucket),
        ledger=DynamoLedger(client("dynamodb"), s.ledger_table),
        uploads=S3Uploads(client("s3"), s.uploads_bucket),
        budgets=DynamoBudgets(client("dynamodb"), s.ledger_table),
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
    s = settings()
    s3 = client("s3")
    return Ingest(
        catalogue=default_catalogue(),
        uploads=S3Uploads(s3, s.uploads_bucket),
        assets=S3Assets(s3, s.assets_bucket),
        queue=SqsJobQueue(client("sqs"), s.jobs_queue_url),
        ledger=DynamoLedger(client("dynamodb"), s.ledger_table),
        budgets=DynamoBudgets(client("dynamodb"), s.ledger_table),
        progress=progress(),
        reports=report_requests(),
    )


@cache
def reporter() -> Reporter:
    s = settings()
    return Reporter(
        catalogue=default_catalogue(),
        uploads=S3Uploads(client("s3"), s.uploads_bucket),
        assets=S3Assets(client("s3"), s.assets_bucket),
        ledger=DynamoLedger(client("dynamodb"), s.ledger_table),
    )


@cache
def progress() -> DynamoProgress:
    return DynamoProgress(client("dynamodb"), settings().ledger_table)


@cache
def report_requests() -> SqsReportRequests:
    return SqsReportRequests(client("sqs"), settings().reports_queue_url)


def reset() -> None:
    """Forget what was built, for a new environment (tests, a new local run)."""
    built_once = (client, settings, pipeline, ingest, reporter, progress, report_requests)
    for built in (*built_once, idempotency_store, default_catalogue):
        built.cache_clear()
