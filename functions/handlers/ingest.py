"""S3 ObjectCreated under campaigns/ -> one SQS message per valid row, errors.csv for the rest."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import S3Event, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from placard import wiring

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_source(data_class=S3Event)
def handler(event: S3Event, context: LambdaContext) -> dict[str, Any]:
    ingest = wiring.ingest()
    uploads = []
    for record in event.records:
        report = ingest.run(unquote_plus(record.s3.get_object.key))
        logger.info(
            "sheet ingested",
            extra={"key": report.upload.key, "jobs": report.jobs, "errors": report.errors},
        )
        metrics.add_metric("JobsQueued", MetricUnit.Count, report.jobs)
        metrics.add_metric("RowErrors", MetricUnit.Count, report.errors)
        uploads.append(
            {
                "key": report.upload.key,
                "jobs": report.jobs,
                "errors": report.errors,
                "errors_key": report.errors_key,
            }
        )
    return {"uploads": uploads}
