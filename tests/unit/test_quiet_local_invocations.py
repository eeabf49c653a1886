"""A local invocation keeps Powertools' own warnings off the terminal (`make demo` prints
nothing but its own lines)."""

from __future__ import annotations

import warnings
from typing import Any

from aws_lambda_powertools import Metrics

from placard_local.cloud import call_handler

quiet_metrics = Metrics(namespace="Probe", service="probe")


@quiet_metrics.log_metrics
def adds_no_metric(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"n": event["n"]}  # as ingest does for a sheet with nothing to count


def test_a_metrics_decorated_handler_invoked_locally_warns_of_nothing() -> None:
    # Given every warning shown, as a terminal would show it, and no metric pending (metrics
    # are shared by every Metrics instance of the process)
    quiet_metrics.clear_metrics()
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        # When the local cloud invokes a handler whose @log_metrics flushes no metric
        reply = call_handler(f"{__name__}.adds_no_metric", {"n": 1}, "Probe", 3)
    # Then it answered, and Powertools' "No application metrics to publish" was not shown
    assert reply == {"n": 1}
    assert [str(w.message) for w in shown] == []


def test_the_same_handler_outside_the_local_cloud_still_warns() -> None:
    # Given the same handler called directly, as Lambda's runtime calls it (a production
    # warning that stays: the silence belongs to the local cloud alone), no metric pending
    quiet_metrics.clear_metrics()
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        # When it flushes no metric
        adds_no_metric({"n": 2}, None)
    # Then Powertools warns as it always has
    assert any("No application metrics to publish" in str(w.message) for w in shown)
