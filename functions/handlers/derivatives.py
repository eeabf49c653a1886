"""A job's images are made and charged -> their web-sized and thumbnail WebP copies, then the
job ends (its record, callback and upload count), so what waits for it finds the copies.

Off the worker's path: a worker's slot is the provider's, and Pillow's time is not."""

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
from placard.domain.jobs import Job

bootstrap.cold_start()  # Lambda's init: fails here, naming a missing or malformed variable
logger = Logger()
tracer = Tracer(patch_modules=bootstrap.TRACED)


@tracer.capture_method
def record_handler(record: SQSRecord, parts: bootstrap.Parts) -> None:
    request = json.loads(record.body)
    job = Job.from_dict(request["job"])
    originals = [(int(index), str(key)) for index, key in request["originals"]]
    ended = partial(
        parts.job_endings.ended,
        job,
        request["status"],
        request["reason"],
        again=bool(request.get("again")),
    )
    try:
        made = parts.pipeline.make_derivatives(job, originals)  # stored once: safe to repeat
    except Exception:
        if int(record.attributes.approximate_receive_count) >= parts.settings.job_max_receives:
            ended()  # the copies cannot be made: the images stand, and the job still ends
        raise
    ended()
    logger.debug("derivatives made", extra={"job_id": job.job_id, "images": made})


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
