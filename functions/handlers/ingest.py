"""S3 ObjectCreated under campaigns/ -> one SQS message per valid row, errors.csv for the rest;
under campaigns/<campaign>/review/, a reviewed results sheet whose decisions are applied."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import S3Event, event_source
from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.typing import LambdaContext

from handlers import ready
from placard import bootstrap
from placard.domain.keys import parse_review_key

bootstrap.cold_start()  # Lambda's init: fails here, naming a missing or malformed variable
logger = Logger()
tracer = Tracer(patch_modules=bootstrap.TRACED)
metrics = Metrics()
# S3 may deliver an event twice: the same upload (same sequencer) is ingested once.
idempotency = IdempotencyConfig(
    event_key_jmespath="[key, run]", expires_after_seconds=7 * 24 * 3600
)


def ingest_upload(upload: dict[str, str], parts: bootstrap.Parts) -> dict[str, Any]:
    review = parse_review_key(upload["key"])
    if review is not None:  # campaigns/<campaign>/review/<file>: people's decisions
        return apply_review(upload["key"], *review, parts)
    report = parts.ingest.run(upload["key"], upload["run"])
    logger.info(
        "sheet ingested",
        extra={
            "key": report.upload.key,
            "jobs": report.jobs,
            "errors": report.errors,
            "warnings": report.warnings,
        },
    )
    metrics.add_metric("JobsQueued", MetricUnit.Count, report.jobs)
    metrics.add_metric("RowErrors", MetricUnit.Count, report.errors)
    metrics.add_metric("SheetWarnings", MetricUnit.Count, report.warnings)
    return {
        "key": report.upload.key,
        "jobs": report.jobs,
        "errors": report.errors,
        "warnings": report.warnings,
        "errors_key": report.errors_key,
    }


def apply_review(key: str, campaign: str, name: str, parts: bootstrap.Parts) -> dict[str, Any]:
    outcome = parts.reviews.apply_upload(key, campaign, name)
    logger.info("review applied", extra={"key": key, **outcome.to_log()})
    for line in outcome.lines()[1:]:  # the rows that could not be applied, one line each
        logger.warning(line, extra={"key": key})
    return {"key": key, "review": outcome.to_log()}


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_source(data_class=S3Event)
def handler(event: S3Event, context: LambdaContext) -> dict[str, Any]:
    return process(event, context, bootstrap.parts())


def process(event: S3Event, context: LambdaContext, parts: bootstrap.Parts) -> dict[str, Any]:
    """The handler's work with the parts it is given (a test hands in its own)."""
    idempotency.register_lambda_context(context)
    once = idempotent_function(
        data_keyword_argument="upload",
        persistence_store=parts.store("ingest", idempotency),
        config=idempotency,
    )(ingest_upload)
    uploads = []
    for record in event.records:
        s3_object = record.s3.get_object
        upload = {"key": unquote_plus(s3_object.key), "run": s3_object.sequencer}
        uploads.append(once(upload=upload, parts=parts))
    return {"uploads": uploads}


ready()  # the init is done: the collector runs again (handlers/__init__.py)
