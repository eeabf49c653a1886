"""The last job of an upload has ended -> its results.csv and index.html under reports/ (and,
past 500 rows, the contact sheet's pages beside it), written as the ledger and the sheet are
read: memory holds a row at a time, the rest waits in /tmp (reporting/spool.py)."""

from __future__ import annotations

import json
from functools import partial
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from handlers import ready
from handlers.sqs_batch import each_record
from placard import bootstrap
from placard.domain.runs import UploadRun

bootstrap.cold_start()  # Lambda's init: fails here, naming a missing or malformed variable
logger = Logger()
tracer = Tracer(patch_modules=bootstrap.TRACED)


@tracer.capture_method
def record_handler(record: SQSRecord, parts: bootstrap.Parts) -> None:
    run = UploadRun.from_dict(json.loads(record.body))
    parts.reporter.write(run)  # the same files again if asked twice: safe to repeat
    logger.info("reports written", extra={**run.to_dict(), "prefix": run.reports_prefix})


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process(event, context, bootstrap.parts())


def process(
    event: dict[str, Any], context: LambdaContext, parts: bootstrap.Parts
) -> PartialItemFailureResponse:
    """The handler's work with the parts it is given (a test hands in its own)."""
    return each_record(event, context, partial(record_handler, parts=parts))


ready()  # the init is done: the collector runs again (handlers/__init__.py)
