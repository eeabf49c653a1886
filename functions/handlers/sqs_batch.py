"""The SQS-triggered handlers' common part: Powertools' batch processing with partial failures."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext


def each_record(
    event: dict[str, Any],
    context: LambdaContext,
    record_handler: Callable[[SQSRecord], Any],
    quiet: bool = False,
) -> PartialItemFailureResponse:
    """Handle every record; only the ones that raised come back to the queue. `quiet`: a batch
    whose every record failed is answered as such rather than raised (its handler has logged
    each failure in a line), so an expected retry prints no traceback."""
    # One processor per invocation: the local runner invokes concurrently in threads.
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=not quiet)
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
