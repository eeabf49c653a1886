"""The proof and derivatives functions' parts, for tests that drive the handlers one by one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3

from handlers import derivatives, proof
from placard_local.cloud import LocalContext, sqs_event
from placard_local.stack import Stack


def read_back(stack: Stack) -> int:
    """Deliver every queued proof request (each round's images read back); how many."""
    return _deliver(stack, "ProofsQueue", proof.handler, LocalContext("ProofFunction", 120))


def make_derivatives(stack: Stack) -> int:
    """Deliver every queued derivatives request, as Lambda's poller would; how many."""
    context = LocalContext("DerivativesFunction", 120)
    return _deliver(stack, "DerivativesQueue", derivatives.handler, context)


def _deliver(
    stack: Stack, queue: str, handler: Callable[[dict[str, Any], Any], Any], context: Any
) -> int:
    sqs, done = boto3.client("sqs"), 0
    while messages := sqs.receive_message(
        QueueUrl=stack.physical[queue],
        MaxNumberOfMessages=10,
        MessageSystemAttributeNames=["All"],
    ).get("Messages", []):
        reply = handler(sqs_event(messages, stack.arn(queue), stack.region), context)
        assert reply == {"batchItemFailures": []}
        done += len(messages)
    return done
