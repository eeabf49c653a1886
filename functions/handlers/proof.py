"""A round's images are stored -> each is read back and its words judged; a failed one is
re-rolled within the policy, or the job goes on to its derivatives and ends.

A function of its own: only it carries the OCR engine (docs/design.md §7)."""

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
from placard.domain.rounds import Round

bootstrap.cold_start()  # Lambda's init: fails here, naming a missing or malformed variable
logger = Logger()
tracer = Tracer(patch_modules=bootstrap.TRACED)


@tracer.capture_method
def record_handler(record: SQSRecord, parts: bootstrap.Parts) -> None:
    request = json.loads(record.body)
    job, round_ = Job.from_dict(request["job"]), Round.from_dict(request.get("round"))
    originals = [(int(index), str(key)) for index, key in request["originals"]]
    region = request.get("region")
    status, reason = request["status"], request["reason"]
    try:
        parts.proofs.check(
            job, round_, originals, status, reason, tuple(region) if region else None
        )
    except Exception:
        if int(record.attributes.approximate_receive_count) >= parts.settings.job_max_receives:
            # The words cannot be read: the images stand unread, and the job still ends.
            parts.proofs.finish(job, round_, status, reason)
        raise
    logger.debug("round read back", extra={"job_id": job.job_id, "attempt": round_.attempt})


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
