"""On a schedule: what a crash left behind is put right (placard.services.reconcile)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from handlers import ready
from placard import bootstrap
from placard.services.reconcile import Reconciler

bootstrap.cold_start()  # Lambda's init: fails here, naming a missing or malformed variable
logger = Logger()
tracer = Tracer(patch_modules=bootstrap.TRACED)
metrics = Metrics()


@metrics.log_metrics
@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process(bootstrap.reconciler(bootstrap.parts(), bootstrap.clients()))


def process(reconciler: Reconciler) -> dict[str, Any]:
    """One run with the reconciler it is given (a test hands in its own); what it did."""
    done = reconciler.run()
    for unsettled in done.unknown:  # left for a person: each said where it can be seen
        logger.warning("reservation left unsettled", extra={"item": str(unsettled)})
    # Every run, 0 too: HeldCallsAlarm stays raised while any call waits for `placard settle`
    metrics.add_metric("CallsHeld", MetricUnit.Count, len(done.unknown))
    for letter in done.left:  # in a dead-letter queue, for a redrive or a person
        logger.warning("dead letter left", extra={"letter": letter})
    summary = done.to_dict()
    logger.info("reconciled", extra={"changed": done.changed, **summary})
    return summary


ready()  # the init is done: the collector runs again (handlers/__init__.py)
