"""The derivatives function's part, for tests that drive the handlers one by one."""

from __future__ import annotations

import boto3

from handlers import derivatives
from placard_local.cloud import LocalContext, sqs_event
from placard_local.stack import Stack


def make_derivatives(stack: Stack) -> int:
    """Deliver every queued derivatives request, as Lambda's poller would; how many."""
    sqs, done = boto3.client("sqs"), 0
    while messages := sqs.receive_message(
        QueueUrl=stack.physical["DerivativesQueue"],
        MaxNumberOfMessages=10,
        MessageSystemAttributeNames=["All"],
    ).get("Messages", []):
        event = sqs_event(messages, stack.arn("DerivativesQueue"), stack.region)
        reply = derivatives.handler(event, LocalContext("DerivativesFunction", 120))
        assert reply == {"batchItemFailures": []}
        done += len(messages)
    return done
