"""SQS jobs -> images in S3 and charges in the ledger, reporting partial batch failures."""

from __future__ import annotations

import json
import time
from functools import partial
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import (
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from handlers import ready
from handlers.sqs_batch import each_record
from placard import bootstrap
from placard.domain.jobs import Job
from placard.domain.rounds import Round

bootstrap.cold_start()  # Lambda's init: fails here, naming a missing or malformed variable
logger = Logger()
tracer = Tracer(patch_modules=bootstrap.TRACED_HTTP)
metrics = Metrics()
# A round's outcome is remembered for a day: a redelivery within it returns the stored outcome.
# A re-roll is a round of its own: its attempt and images are part of the key.
idempotency = IdempotencyConfig(
    event_key_jmespath="[job_id, round.attempt, round.images]", expires_after_seconds=24 * 3600
)


# What an invocation keeps for itself after the provider's call: recording the outcome, or
# the failure, and ending the job on a last delivery (a few DynamoDB, S3 and SQS calls).
END_MARGIN_SECONDS = 30.0


def call_deadline(context: LambdaContext) -> float:
    """When the provider's call must be over (time.monotonic()), so the invocation outlives it.
    Every record of the invocation shares it."""
    left = context.get_remaining_time_in_millis() / 1000
    return time.monotonic() + left - END_MARGIN_SECONDS


def run_job(
    job: dict[str, Any], parts: bootstrap.Parts, deadline: float | None = None
) -> dict[str, Any]:
    round_ = Round.from_dict(job.get("round"))
    outcome = parts.pipeline.run(Job.from_dict(job), round_, deadline=deadline).to_dict()
    metrics.add_metric("ImagesCharged", MetricUnit.Count, len(outcome["images"]))
    # What this round charged; template.yaml's SpendAlarm sums it per hour.
    metrics.add_metric("SpendUSD", MetricUnit.NoUnit, float(outcome["cost_usd"]))
    logger.info("job finished", extra=outcome)
    return outcome


@tracer.capture_method
def record_handler(
    record: SQSRecord, parts: bootstrap.Parts, deadline: float | None = None
) -> dict[str, Any]:
    # Decorated per record, so the store is the parts' (a new local cloud, a test's moto).
    once = idempotent_function(
        data_keyword_argument="job",
        persistence_store=parts.store("worker", idempotency),
        config=idempotency,
    )(run_job)
    job = json.loads(record.body)
    try:
        result: dict[str, Any] = once(job=job, parts=parts, deadline=deadline)
    except IdempotencyAlreadyInProgressError:
        # Another delivery of this job (a twin row, a redelivery) is running it now: this
        # message goes back to the queue and later finds its outcome. That delivery ends the
        # job, so this one never marks it failed. (Never this delivery's own marker met by a
        # retried put whose answer was lost: placard.aws.idempotency signs each put.)
        logger.info("job in progress elsewhere; retried later", extra={"job_id": job.get("job_id")})
        raise
    except Exception as exc:
        if int(record.attributes.approximate_receive_count) >= parts.settings.job_max_receives:
            # Its last delivery: it goes to the dead-letter queue, and ends as failed.
            reason = f"gave up after every retry: {exc}"
            round_ = Round.from_dict(job.get("round"))
            if round_.attempt > 1:  # a re-roll: the images of earlier rounds are delivered
                parts.proof_requests.send(Job.from_dict(job), round_, [], "failed", reason)
            else:
                parts.job_endings.ended(Job.from_dict(job), "failed", reason)
        raise
    parsed, round_ = Job.from_dict(job), Round.from_dict(job.get("round"))
    status, reason = result["status"], result.get("reason") or ""
    originals = [(image["index"], image["s3_key"]) for image in result["images"]]
    if originals or round_.attempt > 1:  # read back off this path; then re-rolled or ended
        region = tuple(result["region"]) if result.get("region") else None
        parts.proof_requests.send(parsed, round_, originals, status, reason, region)
    else:
        parts.job_endings.ended(parsed, status, reason)
    return result


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process(event, context, bootstrap.parts())


def process(
    event: dict[str, Any], context: LambdaContext, parts: bootstrap.Parts
) -> PartialItemFailureResponse:
    """The handler's work with the parts it is given (a test hands in its own)."""
    idempotency.register_lambda_context(context)
    return each_record(
        event,
        context,
        partial(record_handler, parts=parts, deadline=call_deadline(context)),
        retry_quietly=(IdempotencyAlreadyInProgressError,),
        at_once=True,  # a batch's jobs wait on the image API together (docs/cost.md)
    )


ready()  # the init is done: the collector runs again (handlers/__init__.py)
