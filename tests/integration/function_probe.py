"""Handlers the tests run in a function process: they tell where and how they ran."""

from __future__ import annotations

import os
import time
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit


def where(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {
        "pid": os.getpid(),
        "niceness": os.nice(0),
        "event": event,
        "name": context.function_name,
    }


def fails(event: dict[str, Any], context: Any) -> None:
    print("a handler's own output goes to standard error")  # not into the replies
    raise ValueError(f"cannot handle {event['n']}")


def sleeps(event: dict[str, Any], context: Any) -> dict[str, Any]:
    time.sleep(event["seconds"])  # as a handler stuck on a call with no timeout would
    return {"slept": event["seconds"]}


def exits(event: dict[str, Any], context: Any) -> None:
    os._exit(3)  # as a crash would: no answer


seen: list[list[str]] = []  # in-process invocations: the bodies of each one's batch


def remember(event: dict[str, Any], context: Any) -> dict[str, Any]:
    seen.append([record["body"] for record in event["Records"]])
    return {"batchItemFailures": []}


probe_metrics = Metrics(namespace="Probe", service="probe")


@probe_metrics.log_metrics
def counts(event: dict[str, Any], context: Any) -> dict[str, Any]:
    probe_metrics.add_metric("Calls", MetricUnit.Count, 1)  # as the worker's ImagesCharged
    return {"n": event["n"]}
