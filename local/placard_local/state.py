"""The local cloud's buckets and tables kept in a folder between commands.

The embedded cloud lives as long as one command: `placard run` starts a fresh moto and stops
it at the end. `placard review` must act on what that run made (its ledger, its images, the job
kept beside them), so `run` saves the stack's buckets and tables beside its results, and
`review` starts a fresh cloud from them and saves it again when done.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from placard.domain.errors import PlacardError
from placard_local.cloud import LocalCloud

STATE = ".placard-state"  # inside --out: the local cloud as the last command left it


def save(cloud: LocalCloud, out: Path) -> Path:
    """Every object (latest version, with its metadata) and every table item, into out/STATE."""
    folder = out / STATE
    fresh = out / (STATE + ".new")  # written whole, then swapped in: never half a state
    shutil.rmtree(fresh, ignore_errors=True)
    s3, db = cloud.client("s3"), cloud.client("dynamodb")
    for logical_id in cloud.stack.of_type("AWS::S3::Bucket"):
        bucket = cloud.stack.physical[logical_id]
        objects: dict[str, dict[str, Any]] = {}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for found in page.get("Contents", []):
                key = found["Key"]
                got = s3.get_object(Bucket=bucket, Key=key)
                target = fresh / "s3" / logical_id / f"{len(objects):06d}"
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(got["Body"].read())
                objects[target.name] = {
                    "key": key,
                    "content_type": got.get("ContentType", "binary/octet-stream"),
                    "metadata": got.get("Metadata", {}),
                }
        _write_json(fresh / "s3" / f"{logical_id}.json", objects)
    for logical_id in cloud.stack.of_type("AWS::DynamoDB::Table"):
        table = cloud.stack.physical[logical_id]
        items = [
            item
            for page in db.get_paginator("scan").paginate(TableName=table)
            for item in page.get("Items", [])
        ]
        _write_json(fresh / "dynamodb" / f"{logical_id}.json", items)
    shutil.rmtree(folder, ignore_errors=True)
    fresh.rename(folder)
    return folder


def restore(cloud: LocalCloud, out: Path) -> None:
    """Put back what `save` kept in out/STATE; PlacardError when nothing was kept there."""
    folder = out / STATE
    if not folder.is_dir():
        raise PlacardError(
            f"{out}: holds no local cloud from `placard run` ({STATE} is missing); the local "
            "cloud lasts one command, so review the results.csv of a run made with this "
            "version of placard, in the folder that run wrote"
        )
    s3, db = cloud.client("s3"), cloud.client("dynamodb")
    for logical_id in cloud.stack.of_type("AWS::S3::Bucket"):
        index = folder / "s3" / f"{logical_id}.json"
        objects: dict[str, dict[str, Any]] = (
            json.loads(index.read_text()) if index.is_file() else {}
        )
        for name, about in objects.items():
            s3.put_object(
                Bucket=cloud.stack.physical[logical_id],
                Key=about["key"],
                Body=(folder / "s3" / logical_id / name).read_bytes(),
                ContentType=about["content_type"],
                Metadata=about["metadata"],
            )
    for logical_id in cloud.stack.of_type("AWS::DynamoDB::Table"):
        dump = folder / "dynamodb" / f"{logical_id}.json"
        for item in json.loads(dump.read_text()) if dump.is_file() else []:
            db.put_item(TableName=cloud.stack.physical[logical_id], Item=item)


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
