"""The SQS-triggered handlers' common part: Powertools' batch processing with partial failures."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext


def each_record(
    event: dict[str, Any],
    context: LambdaContext,
    record_handler: Callable[[SQSRecord], Any],
    retry_quietly: tuple[type[Exception], ...] = (),
) -> PartialItemFailureResponse:
    """Handle every record; only the ones that raised come back to the queue. A batch whose
    every record failed raises, as Lambda then logs it, unless each failure is one of
    `retry_quietly` (an expected wait, e.g. another delivery running the same job)."""
    # One processor per invocation: the local runner invokes concurrently in threads.
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    failed, records = response.get("batchItemFailures", []), event.get("Records", [])
    unexpected = [e for e in processor.exceptions if not isinstance(e[1], retry_quietly)]
    if records and len(failed) == len(records) and unexpected:
        raise BatchProcessingError(
            f"All records failed processing. {len(unexpected)} individual errors logged "
            "separately below.",
            child_exceptions=processor.exceptions,
        )
    return response
