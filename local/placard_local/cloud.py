"""The embedded cloud: moto behind a local endpoint, built from template.yaml, with a small
event loop that delivers S3 and SQS events to the same handlers Lambda runs.
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import json
import logging
import math
import os
import queue
import subprocess
import sys
import threading
import time
import uuid
import warnings
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import boto3
from aws_lambda_powertools import Metrics

from placard import bootstrap
from placard.domain.errors import PlacardError
from placard_local.faults import FaultLayer, install_from_env
from placard_local.function_process import READY
from placard_local.stack import Function, Stack, repo_root, s3_filter_matches

LOCAL_ENV = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
}
# Lambda waits out the visibility timeout before a retry; a laptop waits a second or a few.
MAX_RETRY_PAUSE_SECONDS = 5
INIT_SECONDS = 10  # Lambda's limit on a function's init phase
IDLE_WAIT_SECONDS = 1  # an idle queue is long-polled, as Lambda's pollers do
SQS_MAX_BATCH = 10  # the most one receive or one batch delete takes
EMPTY_METRICS_WARNING = "No application metrics to publish"  # Powertools' words
log = logging.getLogger(__name__)


@dataclass
class LocalContext:
    """What Powertools reads from a Lambda context."""

    function_name: str
    timeout_seconds: int
    memory_limit_in_mb: int = 1024
    function_version: str = "$LATEST"

    def __post_init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())
        self.invoked_function_arn = (
            f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"
        )
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + self.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def retry_pause(received: int, max_receives: int | None, invocation_left: float) -> int:
    """Seconds before a failed record is received again. Lambda waits out the queue's
    visibility timeout (an hour for jobs), past any in-progress marker the failed invocation
    left (Powertools keeps one until that invocation's deadline); a laptop waits a second or a
    few, but never lets a record's last receive come before that deadline: a marker whose
    owner is gone (its put or delete failed every retry) would refuse the last delivery too,
    and the job would be dead-lettered unmade (issue #16)."""
    pause = min(received, MAX_RETRY_PAUSE_SECONDS)
    if max_receives is not None and received + 1 >= max_receives:
        pause = max(pause, math.ceil(invocation_left))
    return pause


def call_handler(path: str, event: dict[str, Any], name: str, timeout: int) -> Any:
    """Invoke the handler at `module.attribute` as Lambda would, in this process."""
    module, attribute = path.rsplit(".", 1)
    handler = getattr(importlib.import_module(module), attribute)
    # Metrics are off locally, so a handler's @log_metrics may flush an empty set, and
    # Powertools then warns on the terminal, in the middle of the progress bar (on Lambda it
    # goes to the function's log). Set on every call, not once: a filter added later (a
    # caller's catch_warnings) would otherwise come first.
    warnings.filterwarnings("ignore", EMPTY_METRICS_WARNING, UserWarning)
    try:
        return handler(event, LocalContext(name, timeout))
    finally:
        # Metrics are off here, so nothing flushes them; yet Powertools prints a metric's
        # 100th value on standard output all the same (add_metric does not look at
        # POWERTOOLS_METRICS_DISABLED). Drop them as Lambda's flush would.
        Metrics().clear_metrics()


class LocalCloud:
    """The stack's buckets, queues and tables on a moto server, and its functions in-process."""

    def __init__(self, stack: Stack, root: Path) -> None:
        self.stack = stack
        self.root = root
        self._server: subprocess.Popen[str] | None = None
        self.endpoint = ""
        self.functions: dict[str, Function] = {}
        self._processes: dict[str, FunctionProcesses] = {}  # background functions'
        self.faults: FaultLayer | None = None  # AWS faults PLACARD_AWS_FAULTS asked for

    def start(self) -> None:
        self._server = subprocess.Popen(
            [sys.executable, "-m", "placard_local.moto_server"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._server.stdout is not None
        self.endpoint = self._server.stdout.readline().strip()
        if not self.endpoint.startswith("http://"):
            raise PlacardError("the embedded AWS emulator (moto) did not start")
        os.environ.update({**LOCAL_ENV, "AWS_ENDPOINT_URL": self.endpoint})
        os.environ.update(provision(self.stack, self.root))
        self.functions = self.stack.functions()
        self._processes = {
            name: FunctionProcesses(function)
            for name, function in self.functions.items()
            if function.background
        }
        self.faults = install_from_env()  # before the functions make their clients
        bootstrap.forget()

    def stop(self) -> None:
        for processes in self._processes.values():
            processes.close()
        if self._server is not None:
            assert self._server.stdin is not None
            self._server.stdin.close()
            try:
                self._server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                # Still freeing what it held (gigabytes, after a 100,000-row campaign): its
                # state goes with it either way, so it is stopped rather than waited for.
                self._server.kill()
                self._server.wait()

    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.endpoint)  # type: ignore[call-overload]

    # Functions and their event sources.

    def invoke(self, function: Function, event: dict[str, Any]) -> Any:
        if function.background:
            return self._processes[function.logical_id].invoke(event)
        return call_handler(function.handler, event, function.logical_id, function.timeout)

    @property
    def uploads_bucket(self) -> str:
        """The bucket whose ObjectCreated events start the pipeline."""
        for function in self.functions.values():
            for source in function.events:
                if source.kind == "S3":
                    return self.stack.physical[source.resource]
        raise PlacardError("no function of the stack listens to an uploads bucket")

    def put_file(self, path: Path, key: str, metadata: dict[str, str] | None = None) -> None:
        """Upload without an event: source images and masks a sheet refers to."""
        extra = {"Metadata": metadata} if metadata else None
        self.client("s3").upload_file(str(path), self.uploads_bucket, key, ExtraArgs=extra)

    def put_upload(self, path: Path, key: str, metadata: dict[str, str] | None = None) -> list[Any]:
        """Upload a file and deliver the ObjectCreated event to the functions it matches;
        returns what each answered."""
        self.put_file(path, key, metadata)
        event = s3_put_event(self.uploads_bucket, key, path.stat().st_size, self.stack.region)
        triggered = [
            function
            for function in self.functions.values()
            for source in function.events
            if source.kind == "S3" and s3_filter_matches(source, key)
        ]
        if not triggered:
            raise PlacardError(f"{key}: no function of the stack is triggered by this upload")
        return [self.invoke(function, event) for function in triggered]

    def drain(self, on_settled: Callable[[int], None] = lambda n: None) -> None:
        """Deliver queued messages to their functions, as concurrently as the template allows,
        until every queue is empty. `on_settled` hears how many messages left the queue."""
        with self.draining(on_settled):
            pass

    @contextmanager
    def draining(
        self, on_settled: Callable[[int], None] = lambda n: None, counted: str = "JobsQueue"
    ) -> Iterator[None]:
        """Deliver queued messages while the body runs, as Lambda's pollers take jobs while
        ingest is still sending them; on leaving, go on until every queue is empty and no
        function runs. `on_settled` hears how many messages left the `counted` queue."""
        producing = threading.Event()
        producing.set()
        pumps = [
            _QueuePump(self, function, source.resource, source.properties)
            for function in self.functions.values()
            for source in function.events
            if source.kind == "SQS"
        ]
        with ThreadPoolExecutor(max_workers=max(1, len(pumps))) as pool:
            running = [
                pool.submit(
                    pump.run,
                    on_settled if pump.queue_id == counted else lambda n: None,
                    producing,
                    pumps,
                )
                for pump in pumps
            ]
            try:
                yield
            finally:
                producing.clear()
                for future in running:
                    future.result()


def provision(stack: Stack, root: Path) -> dict[str, str]:
    """Create the stack's buckets, queues and tables from the template's own properties, with
    whatever AWS endpoint boto3 is configured for; returns the functions' environment."""
    s3, sqs, dynamodb = boto3.client("s3"), boto3.client("sqs"), boto3.client("dynamodb")
    for logical_id, resource in stack.of_type("AWS::S3::Bucket").items():
        props, name = resource.get("Properties", {}), stack.physical_name(logical_id)
        s3.create_bucket(Bucket=name)
        if props.get("VersioningConfiguration"):
            s3.put_bucket_versioning(
                Bucket=name, VersioningConfiguration=props["VersioningConfiguration"]
            )
        if props.get("PublicAccessBlockConfiguration"):
            s3.put_public_access_block(
                Bucket=name, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"]
            )
        stack.physical[logical_id] = name
    queues = stack.of_type("AWS::SQS::Queue")
    for logical_id, resource in queues.items():
        props = resource.get("Properties", {})
        attributes = {
            key: str(props[key])
            for key in ("VisibilityTimeout", "MessageRetentionPeriod")
            if key in props
        }
        url = sqs.create_queue(
            QueueName=stack.physical_name(logical_id),
            Attributes=attributes,  # type: ignore[arg-type]
        )
        stack.physical[logical_id] = url["QueueUrl"]
    for logical_id, resource in queues.items():  # redrive once every queue exists
        redrive = resource.get("Properties", {}).get("RedrivePolicy")
        if redrive:
            policy = {k: stack.resolve(v) for k, v in redrive.items()}
            sqs.set_queue_attributes(
                QueueUrl=stack.physical[logical_id],
                Attributes={"RedrivePolicy": json.dumps(policy)},
            )
    for logical_id, resource in stack.of_type("AWS::DynamoDB::Table").items():
        props, name = resource["Properties"], stack.physical_name(logical_id)
        table: dict[str, Any] = {
            "TableName": name,
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
            "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
        }
        if props.get("GlobalSecondaryIndexes"):
            table["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
        dynamodb.create_table(**table)
        if props.get("TimeToLiveSpecification"):
            dynamodb.update_time_to_live(
                TableName=name, TimeToLiveSpecification=props["TimeToLiveSpecification"]
            )
        stack.physical[logical_id] = name

    environment: dict[str, str] = {}
    opt = stack.layer_content(root)
    for function in stack.functions().values():
        for name, value in function.environment.items():
            # The layer Lambda mounts under /opt is the repo folder it is built from.
            if opt and (value == "/opt" or value.startswith("/opt/")):
                value = str(opt / value.removeprefix("/opt").lstrip("/"))
            environment[name] = value
    return environment


class FunctionProcesses:
    """A background function's processes (placard_local.function_process), started as invocations
    need them, each answering one invocation at a time, and stopped at the function's
    Timeout."""

    def __init__(self, function: Function) -> None:
        self.function = function
        self._idle: queue.SimpleQueue[subprocess.Popen[str]] = queue.SimpleQueue()
        self._started: list[subprocess.Popen[str]] = []

    def invoke(self, event: dict[str, Any]) -> Any:
        try:
            process = self._idle.get_nowait()
        except queue.Empty:
            process = self._start()
        assert process.stdin is not None and process.stdout is not None
        name, timeout = self.function.logical_id, self.function.timeout
        expired = threading.Event()

        def expire() -> None:  # as Lambda does at the function's Timeout
            expired.set()
            process.kill()

        timer = threading.Timer(timeout, expire)
        timer.start()
        try:
            process.stdin.write(json.dumps(event) + "\n")
            process.stdin.flush()
            line = process.stdout.readline()
        finally:
            timer.cancel()
        if expired.is_set() or not line:
            code = process.wait()
            if expired.is_set():
                raise PlacardError(f"{name} timed out after {timeout} seconds")
            raise PlacardError(f"{name}'s process ended, exit code {code}")
        self._idle.put(process)
        answer = json.loads(line)
        if "error" in answer:
            raise PlacardError(f"{name}: {answer['error']}")
        return answer["reply"]

    def _start(self) -> subprocess.Popen[str]:
        function = self.function
        command = [sys.executable, "-m", "placard_local.function_process", function.handler,
                   function.logical_id, str(function.timeout)]  # fmt: skip
        process = subprocess.Popen(  # noqa: S603 (placard's own module, the template's handler)
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, encoding="utf-8"
        )
        self._started.append(process)  # list.append is atomic: no lock
        assert process.stdout is not None
        # Init is not the invocation's time, as on Lambda; bounded all the same.
        timer = threading.Timer(max(INIT_SECONDS, function.timeout), process.kill)
        timer.start()
        try:
            ready = process.stdout.readline().strip()
        finally:
            timer.cancel()
        if ready != READY:
            code = process.wait()
            raise PlacardError(f"{function.logical_id} failed to start, exit code {code}")
        return process

    def close(self) -> None:
        for process in self._started:
            assert process.stdin is not None
            process.stdin.close()
        for process in self._started:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                # Still busy (a model loading, an invocation nobody waits for any more): the
                # cloud is going away, as Lambda ends a sandbox.
                process.kill()
                process.wait()


class _QueuePump:
    """One event source mapping: long-polls its queue ten messages at a time, as Lambda's
    pollers do, invokes the function with batches of its BatchSize, and deletes what succeeded
    ten at a time."""

    def __init__(
        self, cloud: LocalCloud, function: Function, queue_id: str, props: dict[str, Any]
    ) -> None:
        self.cloud = cloud
        self.function = function
        self.sqs = cloud.client("sqs")
        self.queue_id = queue_id
        self.url = cloud.stack.physical[queue_id]
        self.running: set[Future[int]] = set()
        self.held: deque[dict[str, Any]] = deque()  # received, not yet handed to an invocation
        self.arn = cloud.stack.arn(queue_id)
        self.batch = int(props.get("BatchSize", 10))
        scaling = props.get("ScalingConfig", {}).get("MaximumConcurrency")
        self.concurrency = int(cloud.stack.resolve(scaling)) if scaling else 10
        queue = cloud.stack.resources[queue_id].get("Properties", {})
        most = queue.get("RedrivePolicy", {}).get("maxReceiveCount")
        self.max_receives = int(cloud.stack.resolve(most)) if most is not None else None
        self._deletes: list[str] = []  # receipt handles of messages whose invocation succeeded
        self._deletes_lock = threading.Lock()

    def run(
        self,
        on_settled: Callable[[int], None],
        producing: threading.Event,
        pumps: list[_QueuePump],
    ) -> None:
        """Until nothing produces, no pump has work in hand and every queue is empty: a job
        that ends may still ask another function for something."""
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            while True:
                while len(self.running) < self.concurrency and (messages := self._take(0)):
                    self.running.add(pool.submit(self._deliver, messages))
                if self.running:
                    done, self.running = wait(self.running, timeout=1, return_when=FIRST_COMPLETED)
                    self._delete(everything=not self.running)
                    for future in done:
                        on_settled(future.result())
                elif not producing.is_set() and all(pump.idle() for pump in pumps):
                    return
                elif messages := self._take(IDLE_WAIT_SECONDS):  # a long poll costs nothing
                    self.running.add(pool.submit(self._deliver, messages))

    def idle(self) -> bool:
        return not self.running and not self.held and self._queue_empty()

    def _take(self, wait_seconds: int) -> list[dict[str, Any]]:
        """The next batch: from the messages held, else from one receive of up to ten."""
        if not self.held:
            self.held.extend(self._receive(wait_seconds))
        return [self.held.popleft() for _ in range(min(self.batch, len(self.held)))]

    def _receive(self, wait_seconds: int) -> list[dict[str, Any]]:
        reply = self.sqs.receive_message(
            QueueUrl=self.url,
            MaxNumberOfMessages=SQS_MAX_BATCH,
            WaitTimeSeconds=wait_seconds,
            MessageSystemAttributeNames=["All"],
        )
        messages: list[dict[str, Any]] = reply.get("Messages", [])
        return messages

    def _queue_empty(self) -> bool:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return all(int(v) == 0 for v in attributes.values())

    def _deliver(self, messages: list[dict[str, Any]]) -> int:
        """Invoke once with a batch; what succeeded is deleted, the rest comes back after a
        pause. Returns how many messages left the queue."""
        event = sqs_event(messages, self.arn, self.cloud.stack.region)
        deadline = time.monotonic() + self.function.timeout  # the invocation's, as Lambda's
        try:
            reply = self.cloud.invoke(self.function, event) or {}
            failed = {f["itemIdentifier"] for f in reply.get("batchItemFailures", [])}
        except Exception:  # a whole-batch failure, as Lambda treats an unhandled error
            log.exception("%s failed a batch of %d", self.function.logical_id, len(messages))
            failed = {m["MessageId"] for m in messages}
        succeeded = [m["ReceiptHandle"] for m in messages if m["MessageId"] not in failed]
        with self._deletes_lock:
            self._deletes.extend(succeeded)
        self._delete(everything=False)
        for message in messages:
            if message["MessageId"] in failed:
                received = int(message.get("Attributes", {}).get("ApproximateReceiveCount", 1))
                left = deadline - time.monotonic()
                self.sqs.change_message_visibility(
                    QueueUrl=self.url,
                    ReceiptHandle=message["ReceiptHandle"],
                    VisibilityTimeout=retry_pause(received, self.max_receives, left),
                )
        return len(succeeded)

    def _delete(self, *, everything: bool) -> None:
        """Delete succeeded messages in batches of ten; `everything` sends a last short one."""
        with self._deletes_lock:
            pending = len(self._deletes)
            cut = pending if everything else pending - pending % SQS_MAX_BATCH
            handles, self._deletes = self._deletes[:cut], self._deletes[cut:]
        for start in range(0, len(handles), SQS_MAX_BATCH):
            chunk = handles[start : start + SQS_MAX_BATCH]
            self.sqs.delete_message_batch(
                QueueUrl=self.url,
                Entries=[{"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(chunk)],
            )


def s3_put_event(bucket: str, key: str, size: int, region: str) -> dict[str, Any]:
    """The ObjectCreated notification S3 sends, key URL-encoded as S3 encodes it."""
    record = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": region,
        "eventTime": datetime.now(UTC).isoformat(),
        "eventName": "ObjectCreated:Put",
        "s3": {
            "s3SchemaVersion": "1.0",
            "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
            # S3 gives every PUT a new sequencer; a redelivered event carries the same one.
            "object": {"key": quote_plus(key), "size": size, "sequencer": f"{time.time_ns():X}"},
        },
    }
    return {"Records": [record]}


def rest_api_event(
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes,
    stage: str = "live",
    query: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The proxy event API Gateway's REST API sends: `path` without the stage, the request
    context's path with it."""
    try:
        text, encoded = body.decode(), False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(body).decode(), True
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": path,
            "httpMethod": method,
            "path": f"/{stage}{path}" if stage else path,
            "stage": stage,
            "requestId": str(uuid.uuid4()),
            "identity": {"sourceIp": "127.0.0.1"},
        },
        "body": text or None,
        "isBase64Encoded": encoded,
    }


def sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """The event Lambda's SQS poller sends for messages from ReceiveMessage."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": {},
                "md5OfBody": hashlib.md5(m["Body"].encode()).hexdigest(),  # noqa: S324 (SQS's)
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for m in messages
        ]
    }


# On a laptop, keys come from the environment, never Secrets Manager, and these template
# parameters follow the environment variables a user sets (docs/design.md §6).
LOCAL_PARAMETERS = {"ProviderSecretName": ""}
PARAMETERS_FROM_ENV = {
    "OpenAIBaseUrl": "OPENAI_BASE_URL",
    "ProspolabsBaseUrl": "PROSPOLABS_BASE_URL",
    "ImageModel": "PLACARD_IMAGE_MODEL",
    "HttpReadTimeout": "PLACARD_HTTP_READ_TIMEOUT",
}


def local_parameters(overrides: dict[str, str] | None = None) -> dict[str, str]:
    from_env = {p: os.environ[v] for p, v in PARAMETERS_FROM_ENV.items() if os.environ.get(v)}
    return {**LOCAL_PARAMETERS, **from_env, **(overrides or {})}


@contextmanager
def local_cloud(
    overrides: dict[str, str] | None = None, root: Path | None = None
) -> Iterator[LocalCloud]:
    root = root or repo_root()
    cloud = LocalCloud(Stack.load(root / "template.yaml", local_parameters(overrides)), root)
    cloud.start()
    try:
        yield cloud
    finally:
        cloud.stop()
