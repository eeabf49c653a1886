"""Builds the pipeline's parts from Settings once per container, so handlers stay thin.

Nothing is built at import: a test or the local runner sets the environment first.
"""

from __future__ import annotations

from functools import cache

import boto3
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

from placard.aws.assets import S3Assets, S3Uploads
from placard.aws.ledger import DynamoLedger
from placard.aws.queue import SqsJobQueue
from placard.ingest import Ingest
from placard.pipeline import Pipeline
from placard.pricing import default_prices
from placard.providers import make_provider
from placard.settings import Settings
from placard.templates import default_catalogue


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
        assets=S3Assets(boto3.client("s3"), s.assets_bucket),
        ledger=DynamoLedger(boto3.client("dynamodb"), s.ledger_table),
        uploads=S3Uploads(boto3.client("s3"), s.uploads_bucket),
    )


@cache
def idempotency_store() -> DynamoDBPersistenceLayer:
    return DynamoDBPersistenceLayer(
        table_name=settings().idempotency_table, boto3_client=boto3.client("dynamodb")
    )


@cache
def ingest() -> Ingest:
    s = settings()
    s3 = boto3.client("s3")
    return Ingest(
        catalogue=default_catalogue(),
        uploads=S3Uploads(s3, s.uploads_bucket),
        assets=S3Assets(s3, s.assets_bucket),
        queue=SqsJobQueue(boto3.client("sqs"), s.jobs_queue_url),
    )


def reset() -> None:
    """Forget what was built, for a new environment (tests, a new local run)."""
    for built in (settings, pipeline, ingest, idempotency_store, default_catalogue):
        built.cache_clear()
