"""What AWS bills for one image, against the image's price: the model behind docs/cost.md.

Inputs, none of them typed twice:
- template.yaml: each function's MemorySize, Architectures and Timeout (Globals merged), the
  SQS event sources' BatchSize, Tracing (TracingMode's default for the per-image functions,
  or `--tracing-mode`), and the jobs queue's maxReceiveCount;
- bench/aws_calls.json: the AWS calls each function makes for a job, counted by
  tests/integration/test_aws_calls.py on the handlers' own clients (the test fails when the
  code makes other calls), with the bytes a job logs and the largest DynamoDB item;
- functions/placard/domain/prices.json: what each image costs (the reseller flat; OpenAI's
  token bill estimated from its output-token table and a typical prompt);
- the seconds each function runs, from the benchmarks (figures below, with their source);
- AWS's us-east-1 list prices (below).

    python bench/aws_cost.py [--wait low=10,medium=50,high=120] [--proof-seconds 0.45]
        [--traced 1.0] [--tracing-mode Active|PassThrough] [--batch-fill full|1]
"""

from __future__ import annotations

import argparse
import json
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "local")]

from placard_local.stack import Stack  # noqa: E402

CALLS = ROOT / "bench" / "aws_calls.json"
PRICES = ROOT / "functions" / "placard" / "domain" / "prices.json"

# AWS list prices, us-east-1, USD (aws.amazon.com/<service>/pricing, December 2026).
LAMBDA_GB_S = {"x86_64": 0.0000166667, "arm64": 0.0000133334}
LAMBDA_REQUEST = 0.20 / 1e6
DYNAMODB_WRITE_UNIT = 0.625 / 1e6  # on-demand: 1 KB written; a transaction's item costs 2
DYNAMODB_READ_UNIT = 0.125 / 1e6  # on-demand: 4 KB read strongly consistent (counted so)
SQS_REQUEST = 0.40 / 1e6  # standard queue, per 64 KB of payload
S3_PUT = 0.005 / 1000  # PUT, COPY, POST, LIST
S3_GET = 0.0004 / 1000  # GET, HEAD and the rest
S3_GB_MONTH = 0.023  # S3 Standard, first 50 TB
API_GATEWAY_REQUEST = 3.50 / 1e6  # REST API, first 333 million a month
XRAY_TRACE = 5.00 / 1e6  # traces recorded
LOGS_GB = 0.50  # CloudWatch Logs ingestion (standard class)

# Seconds a function runs per invocation or per image, from the benchmarks.
# Per 1024x1024 image on one vCPU: 0.75 s on an idle machine (bench/proof.py, 2026-12-02,
# f10c260), then 40% less CPU with the detector at 512 px and lines read unpadded (6229d0f:
# 0.45 s a read against 0.75 over bench/proof_accuracy.py's 240 reads, in the same run).
PROOF_SECONDS = 0.45
DERIVATIVE_SECONDS = 0.10  # per image, web WebP and thumbnail (docs/performance.md)
WORKER_OVERHEAD = 0.3  # per job beyond the provider's wait: ledger, S3 puts, the queue
INGEST_SECONDS = 0.5  # a one-row sheet, warm
REPORT_SECONDS = 1.0  # an upload's results.csv and contact sheet, warm
API_SECONDS = 0.15  # a signed POST /v1/jobs, warm
WAIT = {"low": 10.0, "medium": 50.0, "high": 120.0}  # the provider's answer (issue #15)
# What Lambda itself logs per invocation (START, END, REPORT with its X-Ray line) and what
# Powertools Metrics prints (an EMF document), beside the functions' own lines.
PLATFORM_LOG_BYTES = 700
# Bytes kept per image: a 1024x1024 PNG as the image APIs return it, its web WebP and thumb.
STORED_BYTES = 1_600_000 + 150_000 + 20_000
PROMPT_TOKENS = 120  # a typical template's prompt, for OpenAI's estimate


def function_settings(stack: Stack) -> dict[str, dict[str, Any]]:
    """MemorySize (MB), architecture, Timeout and SQS BatchSize of every function."""
    defaults = stack.template.get("Globals", {}).get("Function", {})
    settings = {}
    for name, resource in stack.of_type("AWS::Serverless::Function").items():
        props = {**defaults, **resource["Properties"]}
        sqs = [e["Properties"] for e in props.get("Events", {}).values() if e["Type"] == "SQS"]
        settings[name] = {
            "memory_gb": int(props.get("MemorySize", 128)) / 1024,
            "arch": props.get("Architectures", ["x86_64"])[0],
            "timeout": int(props.get("Timeout", 3)),
            "batch": int(sqs[0].get("BatchSize", 10)) if sqs else 1,
            # PassThrough (Lambda's default) records no trace of its own: its segments join a
            # trace its caller's sampling recorded, which is counted there.
            "traced": stack.resolve(props.get("Tracing", "PassThrough")) == "Active",
        }
    return settings


def image_price(provider: str, quality: str) -> float:
    table = json.loads(PRICES.read_text(encoding="utf-8"))["providers"][provider]
    if table["flat"]:
        return float(Decimal(table["per_image"][quality]))
    per_million = {k: float(v) for k, v in table["tokens_per_million"].items()}
    tokens = table["output_tokens"][table["reference_size"]][quality]
    return (
        tokens * per_million["output_tokens"] + PROMPT_TOKENS * per_million["input_text_tokens"]
    ) / 1e6


def seconds(function: str, images: int, quality: str, args: argparse.Namespace) -> float:
    """One invocation's duration, for a job of `images` images of this quality."""
    return {
        "WorkerFunction": args.wait[quality] + WORKER_OVERHEAD,
        "ProofFunction": images * args.proof_seconds + 0.1,
        "DerivativesFunction": images * DERIVATIVE_SECONDS,
        "IngestFunction": INGEST_SECONDS,
        "ReportFunction": REPORT_SECONDS,
        "ApiFunction": API_SECONDS,
    }.get(function, 1.0)


def job_cost(
    scenario: str, quality: str, args: argparse.Namespace, settings: dict[str, dict[str, Any]]
) -> dict[str, float]:
    """USD by AWS service for one job of the scenario, its batches as full as `--batch-fill`."""
    model = json.loads(CALLS.read_text(encoding="utf-8"))
    calls, item_kb = model["calls"][scenario], model["item_kb"]
    images = int(scenario.split(", ")[1].split()[0])
    write_units = max(item_kb.values())
    cost = dict.fromkeys(SERVICES, 0.0)
    for function, counted in calls.items():
        s = settings[function]
        # A batched function's invocation serves `fill` jobs; its duration is one job's (the
        # records wait together), so each job pays its share of the invocation.
        fill = s["batch"] if args.batch_fill == "full" else 1
        fill = min(fill, s["batch"])
        invocations = counted["invocations"] / fill
        gb_s = counted["invocations"] * seconds(function, images, quality, args) * s["memory_gb"]
        if function != "DerivativesFunction":  # whose records run one after another
            gb_s /= fill
        cost["Lambda GB-s"] += gb_s * LAMBDA_GB_S[s["arch"]]
        cost["Lambda requests"] += invocations * LAMBDA_REQUEST
        ops = {k: v for k, v in counted.items() if k != "invocations"}
        writes = sum(v for k, v in ops.items() if k in WRITES) * write_units
        writes += ops.get("dynamodb.TransactWriteItems items", 0) * 2 * write_units
        reads = sum(v for k, v in ops.items() if k in READS)
        cost["DynamoDB"] += writes * DYNAMODB_WRITE_UNIT + reads * DYNAMODB_READ_UNIT
        sends = sum(v for k, v in ops.items() if k.startswith("sqs."))
        if function not in ("IngestFunction", "ApiFunction"):
            sends += 2 * invocations  # the poller's ReceiveMessage and DeleteMessageBatch
        cost["SQS"] += sends * SQS_REQUEST
        cost["S3 requests"] += ops.get("s3.PutObject", 0) * S3_PUT
        cost["S3 requests"] += (ops.get("s3.GetObject", 0) + ops.get("s3.HeadObject", 0)) * S3_GET
        if s["traced"]:
            cost["X-Ray"] += invocations * args.traced * XRAY_TRACE
        cost["CloudWatch Logs"] += invocations * PLATFORM_LOG_BYTES / 1e9 * LOGS_GB
    cost["CloudWatch Logs"] += model["log_bytes"][scenario] / 1e9 * LOGS_GB
    if scenario.startswith("api"):
        cost["API Gateway"] += API_GATEWAY_REQUEST
    else:
        cost["S3 requests"] += S3_PUT  # the sheet's own upload
    return cost


SERVICES = ("Lambda GB-s", "Lambda requests", "DynamoDB", "SQS", "S3 requests", "API Gateway")
SERVICES += ("X-Ray", "CloudWatch Logs")
# An item going into or out of the ledger's Open index is a write there too (keys only: 1 unit)
WRITES = {"dynamodb.PutItem", "dynamodb.UpdateItem", "dynamodb.DeleteItem"}
WRITES |= {"dynamodb.Open index writes"}
READS = {"dynamodb.GetItem", "dynamodb.Query"}


def worst_case(settings: dict[str, dict[str, Any]], stack: Stack) -> tuple[int, float]:
    """A job whose every delivery runs the worker to its Timeout, alone in its invocation,
    until the queue's maxReceiveCount sends it to the dead-letter queue."""
    deliveries = int(stack.parameter("JobMaxReceives"))
    w = settings["WorkerFunction"]
    per = w["timeout"] * w["memory_gb"] * LAMBDA_GB_S[w["arch"]] + LAMBDA_REQUEST
    per += 3 * SQS_REQUEST  # receive, the visibility's lapse
    per += XRAY_TRACE if w["traced"] else 0.0
    return deliveries, deliveries * per + SQS_REQUEST  # and the move to the dead-letter queue


def micro(usd: float) -> str:
    return f"{usd * 1e6:,.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wait", default=",".join(f"{k}={v:g}" for k, v in WAIT.items()))
    parser.add_argument("--proof-seconds", type=float, default=PROOF_SECONDS)
    parser.add_argument("--traced", type=float, default=1.0, help="share of traces recorded")
    parser.add_argument("--tracing-mode", choices=["Active", "PassThrough"], help="TracingMode")
    parser.add_argument("--batch-fill", choices=["full", "1"], default="full")
    args = parser.parse_args()
    args.wait = {k: float(v) for k, v in (p.split("=") for p in args.wait.split(","))}
    overrides = {"TracingMode": args.tracing_mode} if args.tracing_mode else {}
    stack = Stack.load(ROOT / "template.yaml", overrides)
    settings = function_settings(stack)
    worker, proof = settings["WorkerFunction"], settings["ProofFunction"]
    print(
        f"WorkerFunction {worker['memory_gb'] * 1024:.0f} MB {worker['arch']}, batches of "
        f"{worker['batch']} ({args.batch_fill}); ProofFunction {proof['memory_gb'] * 1024:.0f} MB "
        f"{proof['arch']}, {args.proof_seconds} s an image; traced (Active): "
        f"{', '.join(n for n, s in settings.items() if s['traced'])}, their traces recorded: "
        f"{args.traced:.0%}; wait {args.wait}\n"
    )
    scenarios = ["api, 1 image", "sheet, 1 image", "sheet, 4 images"]
    print("AWS cost per image, micro-USD, and its share of the image's price")
    print()
    print(
        "| quality | provider | image USD | "
        + " | ".join(scenarios)
        + " | share (api / sheet / 4) |"
    )
    print("|---|---|---:|" + "---:|" * len(scenarios) + "---|")
    for quality in WAIT:
        for provider in ("prospolabs", "openai"):
            price = image_price(provider, quality)
            per_image = [
                sum(job_cost(s, quality, args, settings).values())
                / int(s.split(", ")[1].split()[0])
                for s in scenarios
            ]
            # three decimals: the line is 1%, and a share just under it must not print as 1.00%
            shares = " / ".join(f"{c / price:.3%}" for c in per_image)
            print(
                f"| {quality} | {provider} | {price:.5f} | "
                + " | ".join(micro(c) for c in per_image)
                + f" | {shares} |"
            )
    print("\nWhere it goes: a one-image API job and a one-row sheet, low quality, micro-USD")
    print()
    api, sheet = (
        job_cost("api, 1 image", "low", args, settings),
        job_cost("sheet, 1 image", "low", args, settings),
    )
    print("| AWS service | api, 1 image | sheet, 1 image |")
    print("|---|---:|---:|")
    for service in api:
        print(f"| {service} | {micro(api[service])} | {micro(sheet[service])} |")
    print(f"| **total** | **{micro(sum(api.values()))}** | **{micro(sum(sheet.values()))}** |")
    rerolled = sum(job_cost("sheet, 1 image re-rolled once", "low", args, settings).values())
    print(f"\nA low image re-rolled once (made twice, read twice): {micro(rerolled)} micro-USD")
    deliveries, worst = worst_case(settings, stack)
    print(
        f"Worst case, a job delivered {deliveries} times, each running the worker to its "
        f"{worker['timeout']} s Timeout alone: {worst:.4f} USD "
        f"({worst / image_price('prospolabs', 'low'):.0f}x a low image's price)"
    )
    storage = STORED_BYTES / 1e9 * S3_GB_MONTH
    print(
        f"Storage: {STORED_BYTES / 1e6:.2f} MB an image (original and derivatives), "
        f"{micro(storage)} micro-USD a month ({storage / image_price('prospolabs', 'low'):.2%} "
        "of a low image's price, every month it is kept in S3 Standard)"
    )
    largest = max(json.loads(CALLS.read_text(encoding="utf-8"))["item_kb"].values())
    print(f"Largest DynamoDB item: {largest} KB, so {largest} write unit a write")


if __name__ == "__main__":
    main()
