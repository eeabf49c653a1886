"""The worker's peak memory (RSS, as Lambda bills it), to size WorkerFunction's MemorySize.

Each case runs the worker handler in a fresh interpreter, as a Lambda container runs it: the
handler imported (Lambda's init), then one invocation with the case's SQS batch, against the
image-API emulator (OpenAI's wire, the worker's largest answers: base64 in JSON) and the local
cloud's moto server, which runs in a process of its own so its objects are not counted. The
child reports `ru_maxrss`, the peak resident set of its whole life, imports included.

Cases: the largest edit placard allows (a 3840x2160 photo-like source and its mask, composited
back), N of them in one invocation, one among nine one-image jobs, one asking for ten images
and two of those together, 4-image jobs, and N one-image jobs in one invocation (a batch,
however the handler runs its records: one after another, or at once).

The child runs with WorkerFunction's MALLOC_ settings from template.yaml, as deployed
(`--glibc-defaults`: without them).

    python bench/worker_memory.py [--latency S] [--batches 1,5,10] [--glibc-defaults]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import resource
import subprocess
import sys
import time
from itertools import count as counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "functions"), str(ROOT / "local"), str(ROOT / "emulator")]

from placard_emulator.process import running  # noqa: E402

KEY = "bench-key"
EDIT_SIZE = (3840, 2160)  # the largest size placard accepts (docs/design.md §6)
# Every job measured is new: a job's id is its content's, and a job already done is not redone.
_ROW = counter()


def child() -> None:
    """In a fresh interpreter: import the worker (its init), run one invocation with the
    messages on stdin, print the peak RSS and the reply as JSON."""
    messages = json.load(sys.stdin)
    started = time.perf_counter()
    from handlers import worker
    from placard_local.cloud import LocalContext, sqs_event

    init = resource.getrusage(resource.RUSAGE_SELF)
    event = sqs_event(messages, os.environ["BENCH_QUEUE_ARN"], "us-east-1")
    reply = worker.handler(event, LocalContext("WorkerFunction", 600))
    done = resource.getrusage(resource.RUSAGE_SELF)
    print(
        json.dumps(
            {
                "init_mb": init.ru_maxrss / 1024,
                "peak_mb": done.ru_maxrss / 1024,
                "seconds": time.perf_counter() - started,
                # The invocation's CPU, init excluded: what Lambda's share of a vCPU must give.
                "cpu_s": done.ru_utime + done.ru_stime - init.ru_utime - init.ru_stime,
                "failures": len(reply["batchItemFailures"]),
            }
        )
    )


def emulator(latency: float) -> contextlib.AbstractContextManager[str]:
    return running(
        "--latency", str(latency), "--api-key", KEY,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path[:3])},
    )  # fmt: skip


def photo(width: int, height: int) -> bytes:
    """A photo-like PNG (gradients and grain, so it compresses as a photo does, not as a flat
    colour would), and its mask: opaque, with a transparent sign-sized area to edit."""
    from PIL import Image

    rng = random.Random(7)
    small = Image.new("RGB", (width // 8, height // 8))
    small.putdata(
        [
            (x * 255 // (width // 8), y * 255 // (height // 8), rng.randrange(256))
            for y in range(height // 8)
            for x in range(width // 8)
        ]
    )
    image = small.resize((width, height), Image.Resampling.BICUBIC)
    grain = Image.effect_noise((width, height), 24).convert("RGB")
    image = Image.blend(image, grain, 0.15)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def mask(width: int, height: int) -> bytes:
    from PIL import Image, ImageDraw

    image = Image.new("RGBA", (width, height), (0, 0, 0, 255))
    ImageDraw.Draw(image).rectangle((width // 4, height // 3, width // 2, height // 2), fill=0)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def jobs_for(case: str, count: int) -> list[Any]:
    from placard.domain.jobs import MAX_IMAGES_PER_JOB, Job, Mode, Quality, Size
    from placard.domain.templates import default_catalogue

    catalogue = default_catalogue()
    if case == "mixed":  # one largest edit among one-image jobs
        return jobs_for("edit", 1) + jobs_for("one", count - 1)
    if case in ("edit", "edit-n"):
        template = catalogue["sign-text-swap"]
        return [
            Job(
                campaign="bench",
                template=template.name,
                template_version=template.version,
                variables={"new_text": "Grand opening Saturday"},
                quality=Quality.HIGH,
                size=None,
                mode=Mode.EDIT,
                row_id=f"edit-{next(_ROW)}",
                source_image="campaigns/bench/source.png",
                mask="campaigns/bench/mask.png",
                n=MAX_IMAGES_PER_JOB if case == "edit-n" else 1,
            )
            for _ in range(count)
        ]
    template = catalogue["social-square"]
    width, height, n = {"4x1024": (1024, 1024, 4), "4x1536": (1024, 1536, 4)}.get(
        case, (1024, 1024, 1)
    )
    return [
        Job(
            campaign="bench",
            template=template.name,
            template_version=template.version,
            variables={"product": "Cold brew", "headline": "Summer in a Can", "cta": "Try it"},
            quality=Quality.LOW,
            size=Size.parse(f"{width}x{height}"),
            n=n,
            row_id=f"{case}-{next(_ROW)}",
        )
        for _ in range(count)
    ]


def measure(cloud: Any, case: str, count: int, malloc: dict[str, str]) -> dict[str, Any]:
    """Queue `count` jobs of the case, take them as Lambda's poller would, and run them in
    one invocation of a fresh worker process with glibc's `malloc` settings."""
    sqs, queue = cloud.client("sqs"), cloud.stack.physical["JobsQueue"]
    jobs = jobs_for(case, count)
    for job in jobs:
        sqs.send_message(QueueUrl=queue, MessageBody=job.to_json())
    messages: list[dict[str, Any]] = []
    while len(messages) < count:
        messages += sqs.receive_message(
            QueueUrl=queue, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"]
        ).get("Messages", [])
    env = {**os.environ, **malloc, "BENCH_QUEUE_ARN": cloud.stack.arn("JobsQueue")}
    env["PYTHONPATH"] = os.pathsep.join(sys.path[:3])
    done = subprocess.run(
        [sys.executable, __file__, "--child"],
        input=json.dumps(messages),
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    for message in messages:
        sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=2.0, help="the emulator's s an image")
    parser.add_argument("--batches", default="1,5,10", help="one-image jobs an invocation")
    parser.add_argument("--edits", default="5,10", help="largest edits an invocation")
    parser.add_argument(
        "--worst-only", action="store_true", help="only the N-edit batches (--edits)"
    )
    parser.add_argument(
        "--glibc-defaults",
        action="store_true",
        help="without the MALLOC_ settings WorkerFunction has in template.yaml",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child()
        return
    from placard_local.cloud import local_cloud
    from placard_local.stack import Stack

    # glibc reads these when a process starts, so the child is given them as Lambda gives
    # the deployed worker its environment.
    deployed = Stack.load(ROOT / "template.yaml").functions()["WorkerFunction"].environment
    malloc = {k: v for k, v in deployed.items() if k.startswith("MALLOC_")}
    malloc = {} if args.glibc_defaults else malloc
    for name in [n for n in os.environ if n.startswith("MALLOC_")]:
        del os.environ[name]  # only the template's, or none

    with emulator(args.latency) as url:
        os.environ.update(
            {
                "OPENAI_BASE_URL": f"{url}/v1",
                "OPENAI_API_KEY": KEY,
                "PLACARD_PROVIDER": "openai",
            }
        )
        with local_cloud({"Provider": "openai"}) as cloud:
            cloud.client("s3").put_object(
                Bucket=cloud.uploads_bucket,
                Key="campaigns/bench/source.png",
                Body=photo(*EDIT_SIZE),
            )
            cloud.client("s3").put_object(
                Bucket=cloud.uploads_bucket, Key="campaigns/bench/mask.png", Body=mask(*EDIT_SIZE)
            )
            cases = [
                ("edit 3840x2160, source and mask", "edit", 1),
                ("1 edit 3840x2160 and 9 jobs of 1 image in one invocation", "mixed", 10),
                *[(f"{n} edits 3840x2160 in one invocation", "edit", n) for n in edits(args)],
                ("1 edit 3840x2160 of 10 images", "edit-n", 1),
                ("2 edits 3840x2160 of 10 images in one invocation", "edit-n", 2),
                ("4 images 1024x1024", "4x1024", 1),
                ("4 images 1024x1536", "4x1536", 1),
                *[(f"{n} jobs of 1 image in one invocation", "one", n) for n in batches(args)],
            ]
            if args.worst_only:
                cases = [c for c in cases if c[1] in ("edit", "edit-n") and c[2] > 1]
            print(
                f"emulator latency {args.latency} s an image, OpenAI's wire, "
                f"python {sys.version.split()[0]}, "
                f"glibc: {' '.join(f'{k}={v}' for k, v in malloc.items()) or 'defaults'}\n"
            )
            print("| case | peak RSS MB | after init MB | s | CPU s | failed records |")
            print("|---|---:|---:|---:|---:|---:|")
            for title, case, count in cases:
                r = measure(cloud, case, count, malloc)
                print(
                    f"| {title} | {r['peak_mb']:.0f} | {r['init_mb']:.0f} | "
                    f"{r['seconds']:.1f} | {r['cpu_s']:.1f} | {r['failures']} |",
                    flush=True,
                )


def batches(args: argparse.Namespace) -> list[int]:
    return [int(n) for n in args.batches.split(",") if n]


def edits(args: argparse.Namespace) -> list[int]:
    return [int(n) for n in args.edits.split(",") if n]


if __name__ == "__main__":
    main()
