"""A missing source photo is "not there" even where S3 answers 403 for it.

S3 answers a missing key 403, not 404, to a reader that may not list where the key would be.
template.yaml grants the API and the worker s3:ListBucket under campaigns/ only; these tests
hold the adapter to telling missing from refused whichever S3 answers, on in-process moto.
"""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from handlers import api
from placard import bootstrap
from placard.api.signing import signed_headers
from placard.aws.assets import S3Uploads
from placard_local.cloud import LocalContext, rest_api_event
from placard_local.stack import Stack
from tests.api_secrets import put_api_secrets

SECRET = "uploads-access-secret"
MISSING = "campaigns/store-12/nowhere.jpg"


def forbidden(operation: str) -> ClientError:
    return ClientError({"Error": {"Code": "403", "Message": "Forbidden"}}, operation)


class Unlisted:
    """The uploads bucket as S3 answers a reader without list rights: HeadObject on a missing
    key is a 403; `list_refused` also refuses listing (no rights under campaigns/ either)."""

    def __init__(self, s3: Any, *, list_refused: bool = False, head_refused: bool = False) -> None:
        self._s3, self._list_refused, self._head_refused = s3, list_refused, head_refused

    def head_object(self, **kwargs: Any) -> Any:
        if self._head_refused:
            raise forbidden("HeadObject")
        try:
            return self._s3.head_object(**kwargs)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "404":
                raise forbidden("HeadObject") from exc
            raise

    def list_objects_v2(self, **kwargs: Any) -> Any:
        if self._list_refused:
            raise forbidden("ListObjectsV2")
        return self._s3.list_objects_v2(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._s3, name)


def uploads(stack: Stack, **refusals: bool) -> S3Uploads:
    bucket = stack.physical["UploadsBucket"]
    return S3Uploads(Unlisted(boto3.client("s3"), **refusals), bucket)  # type: ignore[arg-type]


def test_a_missing_key_answered_403_is_not_there(stack: Stack) -> None:
    # Given the uploads bucket holding a photo whose name begins like the missing one's
    boto3.client("s3").put_object(
        Bucket=stack.physical["UploadsBucket"], Key=MISSING + ".bak", Body=b"x"
    )
    # When the adapter asks for the missing key and S3 answers 403
    # Then it is not there
    assert uploads(stack).exists(MISSING) is False


def test_a_stored_key_answered_403_is_a_refusal_not_an_absence(stack: Stack) -> None:
    # Given a photo that is in the bucket but whose HeadObject is refused
    boto3.client("s3").put_object(Bucket=stack.physical["UploadsBucket"], Key=MISSING, Body=b"x")
    # When the adapter asks for it, Then the refusal is raised, not read as "missing"
    with pytest.raises(ClientError, match="Forbidden"):
        uploads(stack, head_refused=True).exists(MISSING)


def test_a_403_that_cannot_be_told_apart_is_raised(stack: Stack) -> None:
    # Given a reader refused both the object and the listing
    # When the adapter asks for a key, Then the refusal is raised: it cannot say "missing"
    with pytest.raises(ClientError, match="ListObjectsV2"):
        uploads(stack, list_refused=True).exists(MISSING)


def test_an_api_edit_naming_a_missing_photo_is_a_400_naming_source_image(
    stack: Stack, parts: bootstrap.Parts
) -> None:
    # Given the API wired to an uploads bucket that answers a missing key 403
    put_api_secrets(stack, SECRET)
    parts = dataclasses.replace(parts, uploads=uploads(stack))
    body = {
        "campaign": "store-12",
        "template": "price-tag-edit",
        "variables": {"price": "$1.99"},
        "quality": "low",
        "source_image": "nowhere.jpg",  # under campaigns/store-12/, as the API keys it
        "mask_box": "10,10,100,50",
    }
    # When an edit naming a photo that is not there is posted
    raw = json.dumps(body).encode()
    signed = signed_headers(SECRET, "POST", "/live/v1/jobs", raw, now=time.time())
    event = rest_api_event("POST", "/v1/jobs", signed, raw)
    reply = api.process(event, LocalContext("ApiFunction", 29), parts)
    # Then it is a 400 naming source_image and the key, not a 500
    assert reply["statusCode"] == 400, reply
    (detail,) = json.loads(reply["body"])["error"]["details"]
    assert detail["field"] == "source_image"
    assert detail["reason"] == f"{MISSING} is not in the uploads bucket", detail
