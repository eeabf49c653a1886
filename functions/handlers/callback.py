"""A job asked for through the API has ended -> a signed POST to its callback_url.

Retried with backoff inside one invocation, then by SQS, with the same webhook-id every time
so the receiver can drop duplicates; a receiver that refuses (4xx) is not asked again."""

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
from placard.api.callbacks import Callback, CallbackRefused, deliver

bootstrap.cold_start()  # Lambda's init: fails here, naming a missing or malformed variable
logger = Logger()
tracer = Tracer(patch_modules=bootstrap.TRACED_HTTP)


@tracer.capture_method
def record_handler(record: SQSRecord, parts: bootstrap.Parts) -> None:
    request = json.loads(record.body)
    job_id = request["job_id"]
    status = parts.job_service.status(job_id)
    callback = Callback(
        url=request["url"],
        webhook_id=f"msg_{job_id}",
        # No clock in the body: a redelivery sends the same event, byte for byte.
        payload={"type": "job.ended", "data": status.model_dump(mode="json")},
    )
    try:
        attempts = deliver(
            callback,
            parts.callback_secret(),
            parts.callback_client,
            allow_loopback=parts.settings.allow_loopback_callbacks,
        )
    except CallbackRefused as exc:
        logger.warning("callback refused", extra={"job_id": job_id, "reason": exc.reason})
        return
    logger.info("callback delivered", extra={"job_id": job_id, "attempts": attempts})


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
