"""The functions' clients read DynamoDB's pages as sent: the same items botocore would give."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from botocore.parsers import JSONParser

from placard.aws.session import session
from tests.tables import keyed_table, moto_dynamodb

TABLE = "ledger"
ITEMS = [
    {"pk": {"S": "p"}, "sk": {"S": "IMAGE#1"}, "cost": {"N": "0.011"}, "done": {"BOOL": True}},
    {
        "pk": {"S": "p"},
        "sk": {"S": "IMAGE#2"},
        "usage": {"M": {"input": {"N": "12"}, "text": {"L": [{"S": "a"}, {"NULL": True}]}}},
        "tags": {"SS": ["x", "y"]},
        "sizes": {"NS": ["1", "2.5"]},
    },
]
RAW = {"pk": {"S": "p"}, "sk": {"S": "IMAGE#3"}, "raw": {"B": b"\x00\xffbytes"}}


@pytest.fixture
def clients() -> Iterator[tuple[Any, Any]]:
    with moto_dynamodb() as plain:
        keyed_table(plain, TABLE)
        yield plain, session().client("dynamodb")


def read(client: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    page = client.query(
        TableName=TABLE,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "p"}},
        Limit=1,
    )
    scan = client.scan(TableName=TABLE)
    for answer in (page, scan):
        answer.pop("ResponseMetadata")
    return page, scan


def test_a_page_without_binary_values_is_the_json_as_sent(clients: tuple[Any, Any]) -> None:
    # Given items of every kind of value but binary
    plain, ours = clients
    for item in ITEMS:
        plain.put_item(TableName=TABLE, Item=item)
    # When botocore's client and ours read the same pages, ours walking no attribute value
    theirs = read(plain)
    walk = mock.patch.object(JSONParser, "_handle_structure", side_effect=AssertionError)
    with mock.patch.object(JSONParser, "_handle_map", side_effect=AssertionError), walk:
        mine = read(ours)
    # Then the answers are equal, the last key of the first page too
    assert mine == theirs
    assert mine[0]["LastEvaluatedKey"] == {"pk": {"S": "p"}, "sk": {"S": "IMAGE#1"}}


def test_a_page_with_a_binary_value_is_parsed_by_botocore(clients: tuple[Any, Any]) -> None:
    # Given an item holding bytes, which the wire carries as base64
    plain, ours = clients
    for item in (*ITEMS, RAW):
        plain.put_item(TableName=TABLE, Item=item)
    # When both clients read it
    mine, theirs = read(ours), read(plain)
    # Then ours gives the bytes, as botocore does
    assert mine == theirs
    assert mine[1]["Items"][-1]["raw"] == {"B": b"\x00\xffbytes"}
