"""The SQS-triggered handlers' common part: Powertools' batch processing with partial failures."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    AsyncBatchProcessor,
    BatchProcessor,
    EventType,
    async_process_partial_response,
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
    at_once: bool = False,
) -> PartialItemFailureResponse:
    """Handle every record; only the ones that raised come back to the queue. A batch whose
    every record failed raises, as Lambda then logs it, unless each failure is one of
    `retry_quietly` (an expected wait, e.g. another delivery running the same job).

    `at_once`: the records run concurrently, each in a thread (Powertools' async processor,
    `asyncio.to_thread` per record), for handlers that mostly wait: one invocation's memory
    then serves the whole batch's waits (docs/cost.md)."""
    # One processor per invocation: the local runner invokes concurrently in threads.
    processor: BatchProcessor | AsyncBatchProcessor
    if at_once:
        processor = AsyncBatchProcessor(
            event_type=EventType.SQS, raise_on_entire_batch_failure=False
        )
        records = len(event.get("Records", []))

        async def in_thread(record: SQSRecord) -> Any:
            _enough_threads(asyncio.get_running_loop(), records)
            return await asyncio.to_thread(record_handler, record)

        response = async_process_partial_response(
            event=event, record_handler=in_thread, processor=processor, context=context
        )
    else:
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


# asyncio's default executor has min(32, CPUs + 4) threads: on Lambda's 2 reported CPUs, six,
# so a batch of ten would wait in two rounds. Each event loop gets one with a thread per
# record of the largest batch it has seen (Lambda keeps its loop across invocations).
_THREADS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, int] = weakref.WeakKeyDictionary()


def _enough_threads(loop: asyncio.AbstractEventLoop, records: int) -> None:
    if _THREADS.get(loop, 0) < records:
        _THREADS[loop] = records
        loop.set_default_executor(ThreadPoolExecutor(max_workers=records))
