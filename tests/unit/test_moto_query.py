"""The local cloud's partition query gives the pages moto's own query gives, page by page."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from moto.dynamodb.models.table import Table

from placard_local import moto_query
from tests.tables import keyed_table, moto_dynamodb

TABLE = "ledger"


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with moto_dynamodb() as client:
        keyed_table(client, TABLE)
        yield client


def fill(client: Any, count: int, seed: int) -> None:
    """Items in three partitions, keys in no order, some large enough to end a 1 MB page."""
    draw = random.Random(seed)
    for n in draw.sample(range(count * 3), count):
        client.put_item(
            TableName=TABLE,
            Item={
                "pk": {"S": f"CAMPAIGN#{n % 3}"},
                "sk": {"S": f"{draw.choice(['IMAGE#', 'JOB#', 'IMAGE#LOST#'])}{n:06d}"},
                "body": {"S": "x" * draw.choice([10, 1000, 300_000])},
                "tokens": {"M": {"n": {"N": str(n)}}},
            },
        )


def pages(client: Any, start: Any = None, **query: Any) -> list[tuple[list[str], Any]]:
    """Every page of the query (after `start`): its keys and the key it ended on."""
    found = []
    while True:
        page = client.query(
            TableName=TABLE, **query, **({"ExclusiveStartKey": start} if start else {})
        )
        found.append(([item["sk"]["S"] for item in page["Items"]], page.get("LastEvaluatedKey")))
        start = page.get("LastEvaluatedKey")
        if not start:
            return found


QUERIES = [
    {"KeyConditionExpression": "pk = :pk", "Limit": 7},
    {"KeyConditionExpression": "pk = :pk"},
    {"KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)", "Limit": 5},
    {"KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)"},
    {"KeyConditionExpression": "pk = :pk AND sk > :prefix", "Limit": 4},
    {"KeyConditionExpression": "pk = :pk", "Limit": 6, "ScanIndexForward": False},
    {
        "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
        "ScanIndexForward": False,
        "FilterExpression": "attribute_exists(tokens)",
        "ProjectionExpression": "sk",
        "Limit": 3,
    },
]


@pytest.mark.parametrize("query", QUERIES)
def test_each_page_is_the_page_moto_gives(dynamodb: Any, query: dict[str, Any]) -> None:
    # Given a table of three partitions, and a query with its values
    fill(dynamodb, 60, seed=len(str(query)))
    values = {":pk": {"S": "CAMPAIGN#1"}, ":prefix": {"S": "IMAGE#"}}
    used = {k: v for k, v in values.items() if k in str(query)}
    asked = {**query, "ExpressionAttributeValues": used}
    # When it is read page by page by moto's own query, then by the partition's alone
    theirs = pages(dynamodb, **asked)
    moto_query.install()
    try:
        with mock.patch.object(Table, "all_items", side_effect=AssertionError("moto's query")):
            ours = pages(dynamodb, **asked)
    finally:
        uninstall()
    # Then every page holds the same items and ends on the same key
    assert ours == theirs
    assert sum(len(keys) for keys, _ in ours) > 0


def test_items_put_or_deleted_between_pages_are_seen(dynamodb: Any) -> None:
    # Given a partition read one page in, its order kept
    fill(dynamodb, 30, seed=1)
    moto_query.install()
    try:
        asked = {
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": "CAMPAIGN#0"}},
            "Limit": 2,
        }
        start = dynamodb.query(TableName=TABLE, **asked)["LastEvaluatedKey"]
        # When an item is put after the page, the rest is read; then one of the rest deleted
        dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": "CAMPAIGN#0"}, "sk": {"S": "ZZZ"}})
        after_put = [key for page, _ in pages(dynamodb, start, **asked) for key in page]
        gone = {"pk": {"S": "CAMPAIGN#0"}, "sk": {"S": after_put[0]}}
        dynamodb.delete_item(TableName=TABLE, Key=gone)
        after_delete = [key for page, _ in pages(dynamodb, start, **asked) for key in page]
    finally:
        uninstall()
    # Then the new item is read, and the deleted one is not
    assert after_put[-1] == "ZZZ"
    assert after_delete == after_put[1:]


ORIGINAL = (Table.query, Table.put_item)


def uninstall() -> None:
    Table.query, Table.put_item = ORIGINAL  # type: ignore[method-assign]
