"""template.yaml as production needs it: every failure seen, every door closed (issue #16).

Each test reads the template as data and holds one invariant, so a function, queue or bucket
added later without its log group, alarm or policy fails here, not in a first week on AWS.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from handlers import reconcile, worker
from placard.domain.jobs import Job, Quality
from placard.services.reconcile import Reconciled, Unsettled
from placard_local.stack import Stack

ROOT = Path(__file__).parents[2]
STACK = Stack.load(ROOT / "template.yaml")
FUNCTIONS = STACK.of_type("AWS::Serverless::Function")
ALARMS = STACK.of_type("AWS::CloudWatch::Alarm").values()


def ref(value: Any) -> str:
    """The logical id a !Ref or !GetAtt points at."""
    if "Ref" in value:
        return str(value["Ref"])
    return str(value["Fn::GetAtt"][0])


def alarmed(namespace: str, metric: str, dimension: str) -> set[str]:
    """The logical ids an alarm watches on `metric`, firing above 0 to the alarm topic."""
    return {
        ref(dim["Value"])
        for alarm in ALARMS
        for props in [alarm["Properties"]]
        if props["Namespace"] == namespace and props["MetricName"] == metric
        if props["ComparisonOperator"] == "GreaterThanThreshold" and props["Threshold"] == 0
        if props["AlarmActions"] == [{"Ref": "AlarmTopic"}]
        for dim in props["Dimensions"]
        if dim["Name"] == dimension
    }


def dead_letter_queues() -> set[str]:
    """Every queue a failure ends in: the queues' redrive targets and ingest's destination."""
    queues = STACK.of_type("AWS::SQS::Queue").values()
    redriven = {ref(q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]) for q in queues
                if "RedrivePolicy" in q.get("Properties", {})}  # fmt: skip
    destinations = {
        ref(f["Properties"]["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]["Destination"])
        for f in FUNCTIONS.values()
        if "EventInvokeConfig" in f["Properties"]
    }
    return redriven | destinations


def test_every_dead_letter_queue_has_an_alarm() -> None:
    # Given every queue a failed message or event ends in (ingest's destination among them)
    queues = dead_letter_queues()
    assert "IngestDeadLetterQueue" in queues and "JobsDeadLetterQueue" in queues
    # Then each has an alarm on a message being visible in it
    assert queues <= alarmed("AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName")


def test_every_function_has_errors_and_throttles_alarms() -> None:
    for metric in ("Errors", "Throttles"):
        assert set(FUNCTIONS) <= alarmed("AWS/Lambda", metric, "FunctionName"), metric


def test_every_function_logs_to_a_group_kept_log_retention_days() -> None:
    assert STACK.template["Parameters"]["LogRetentionDays"]["Default"] == 30
    for logical_id, function in FUNCTIONS.items():
        group = STACK.resources[ref(function["Properties"]["LoggingConfig"]["LogGroup"])]
        assert group["Type"] == "AWS::Logs::LogGroup", logical_id
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}, logical_id


def test_ingest_failures_go_to_a_queue_not_to_nowhere() -> None:
    invoke = FUNCTIONS["IngestFunction"]["Properties"]["EventInvokeConfig"]
    on_failure = invoke["DestinationConfig"]["OnFailure"]
    assert on_failure["Type"] == "SQS"
    assert STACK.resources[ref(on_failure["Destination"])]["Type"] == "AWS::SQS::Queue"


def test_spend_per_hour_is_alarmed_on_the_metric_the_worker_publishes() -> None:
    (spend,) = [a["Properties"] for a in ALARMS if a["Properties"]["MetricName"] == "SpendUSD"]
    namespace = STACK.template["Globals"]["Function"]["Environment"]["Variables"][
        "POWERTOOLS_METRICS_NAMESPACE"
    ]
    assert spend["Namespace"] == namespace
    assert spend["Dimensions"] == [{"Name": "service", "Value": "placard"}]
    assert (spend["Statistic"], spend["Period"]) == ("Sum", 3600)
    assert spend["Threshold"] == {"Ref": "SpendAlarmUSDPerHour"}


def test_held_calls_are_alarmed_on_the_metric_the_reconciler_publishes() -> None:
    # Given the alarm on CallsHeld, and a reconciler run that left one call of unknown outcome
    (held,) = [a["Properties"] for a in ALARMS if a["Properties"]["MetricName"] == "CallsHeld"]
    assert (held["Statistic"], held["ComparisonOperator"], held["Threshold"]) == (
        "Maximum", "GreaterThanThreshold", 0,
    )  # fmt: skip
    left = Reconciled(unknown=[Unsettled("summer", "job#0#1#2026-12-01T10:00:00.000+00:00", "")])
    reconcile.metrics.clear_metrics()
    try:
        # When a run publishes what it left, Then the alarm's metric counts the held call
        reconcile.process(SimpleNamespace(run=lambda: left))  # type: ignore[arg-type]
        assert reconcile.metrics.metric_set["CallsHeld"]["Value"] == [1.0]
        assert held["Namespace"] == {"Fn::Sub": "Placard/${AWS::StackName}"}
    finally:
        reconcile.metrics.clear_metrics()


def test_the_worker_publishes_what_each_round_charged() -> None:
    # Given a round that charged 0.0432 USD
    outcome = SimpleNamespace(to_dict=lambda: {"images": [{}], "cost_usd": "0.0432"})
    parts = SimpleNamespace(pipeline=SimpleNamespace(run=lambda *_, **__: outcome))
    job = Job(
        campaign="c",
        template="social-square",
        template_version="1",
        variables={"headline": "Hi"},
        quality=Quality.LOW,
        size=None,
    ).to_dict()
    worker.metrics.clear_metrics()
    try:
        # When the worker runs it
        worker.run_job(job, parts)  # type: ignore[arg-type]
        # Then SpendUSD carries the charge, as the SpendAlarm sums it
        assert Decimal(str(worker.metrics.metric_set["SpendUSD"]["Value"][0])) == Decimal("0.0432")
    finally:
        worker.metrics.clear_metrics()


def test_per_job_functions_trace_by_tracing_mode_and_the_per_sheet_ones_always() -> None:
    # Given each function's Tracing, Globals merged
    defaults = STACK.template["Globals"]["Function"]
    tracing = {
        name: {**defaults, **f["Properties"]}.get("Tracing") for name, f in FUNCTIONS.items()
    }
    per_job = {"ApiFunction", "WorkerFunction", "ProofFunction", "DerivativesFunction"}
    # Then the functions run once per job or image follow TracingMode, PassThrough unless
    # asked (an own trace per invocation is about 11 micro-USD an API job, docs/cost.md)
    assert {name for name, mode in tracing.items() if mode == {"Ref": "TracingMode"}} == per_job
    assert STACK.template["Parameters"]["TracingMode"]["Default"] == "PassThrough"
    # And so does the API's stage, whose own trace would be recorded whatever its function's
    condition = STACK.template["Conditions"]["TracingActive"]
    assert condition == {"Fn::Equals": [{"Ref": "TracingMode"}, "Active"]}
    stage = STACK.template["Resources"]["PlacardApi"]["Properties"]["TracingEnabled"]
    assert stage == {"Fn::If": ["TracingActive", True, False]}
    # And what runs once per sheet or run (ingest, report, callback, reconciler) is traced
    assert {tracing[name] for name in FUNCTIONS.keys() - per_job} == {"Active"}


def test_the_api_has_one_stage_throttled_and_logged() -> None:
    # SAM adds a stage named "Stage" beside the named one unless an OpenAPI version is set.
    assert STACK.template["Globals"]["Api"]["OpenApiVersion"]
    (api,) = STACK.of_type("AWS::Serverless::Api").values()
    props = api["Properties"]
    assert props["StageName"] == "live"
    assert props["MethodSettings"][0]["ThrottlingRateLimit"] == {"Ref": "ApiRateLimit"}
    log_group = STACK.resources[ref(props["AccessLogSetting"]["DestinationArn"])]
    assert log_group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert "$context.requestId" in props["AccessLogSetting"]["Format"]


def test_every_function_is_bounded_by_a_reservation_or_its_queue() -> None:
    for logical_id, function in FUNCTIONS.items():
        props = function["Properties"]
        sqs = [e["Properties"] for e in props.get("Events", {}).values() if e["Type"] == "SQS"]
        if sqs:
            assert all(e["ScalingConfig"]["MaximumConcurrency"] for e in sqs), logical_id
        else:  # nothing queues in front of it: the API, ingest, the reconciler
            assert props["ReservedConcurrentExecutions"], logical_id


def test_no_function_without_a_policy_and_no_unused_grant() -> None:
    for logical_id, function in FUNCTIONS.items():
        assert function["Properties"].get("Policies"), logical_id
    worker_actions = [
        action
        for policy in FUNCTIONS["WorkerFunction"]["Properties"]["Policies"]
        for statement in policy.get("Statement", [])
        for action in (statement["Action"] if isinstance(statement["Action"], list)
                       else [statement["Action"]])
    ]  # fmt: skip
    assert "dynamodb:ConditionCheckItem" not in worker_actions


def test_readers_of_source_images_may_list_campaigns_so_missing_is_404() -> None:
    for logical_id in ("ApiFunction", "WorkerFunction", "IngestFunction", "ReportFunction"):
        statements = [
            s
            for policy in FUNCTIONS[logical_id]["Properties"]["Policies"]
            for s in policy.get("Statement", [])
            if s["Action"] == "s3:ListBucket"
        ]
        (listing,) = statements
        assert "-uploads-" in listing["Resource"]["Fn::Sub"], logical_id
        assert listing["Condition"] == {"StringLike": {"s3:prefix": "campaigns/*"}}


def test_both_buckets_refuse_requests_without_tls() -> None:
    policies = STACK.of_type("AWS::S3::BucketPolicy").values()
    guarded = {
        ref(p["Properties"]["Bucket"])
        for p in policies
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    }
    assert guarded == set(STACK.of_type("AWS::S3::Bucket")) == {"UploadsBucket", "AssetsBucket"}


def test_every_checkov_skip_says_why() -> None:
    skips = [
        skip
        for resource in STACK.resources.values()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]
    assert skips
    assert all(skip["id"].startswith("CKV") and len(skip["comment"]) > 20 for skip in skips)
