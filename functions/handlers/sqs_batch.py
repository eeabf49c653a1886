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
    event: dict[str, Any], context: LambdaContext, record_handler: Callable[[SQSRecord], Any]
) -> PartialItemFailureResponse:
    """Handle every record; only the ones that raised come back to the queue."""
    # One processor per invocation: the local runner invokes concurrently in threads.
    processor = BatchProcessor(event_type=EventType.SQS)
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
