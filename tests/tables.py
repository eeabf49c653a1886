"""DynamoDB on in-process moto for tests that make their own tables, keyed as placard's are
(pk, sk: strings)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from moto import mock_aws

from placard_local.cloud import LOCAL_ENV


@contextmanager
def moto_dynamodb() -> Iterator[Any]:
    """A client of moto's DynamoDB, whatever endpoint a local cloud left in the environment
    (boto3 would send there, past moto)."""
    with pytest.MonkeyPatch.context() as env:
        env.delenv("AWS_ENDPOINT_URL", raising=False)
        for name, value in LOCAL_ENV.items():
            env.setenv(name, value)
        with mock_aws():
            yield boto3.client("dynamodb")


def keyed_table(dynamodb: Any, name: str) -> None:
    dynamodb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
    )
