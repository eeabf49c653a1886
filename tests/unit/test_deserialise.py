"""The ledger's reads turn DynamoDB's typed values into Python ones exactly as boto3's
TypeDeserializer does, strings and numbers by a shorter way (aws/ledger.py _from_dynamo)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from boto3.dynamodb.types import Binary, TypeDeserializer

from placard.aws.ledger import _deserialise

ITEM = {
    "pk": {"S": "CAMPAIGN#summer"},
    "empty": {"S": ""},
    "cost_usd": {"N": "0.041372"},
    "huge": {"N": "12345678901234567890123456789012345678"},
    "negative": {"N": "-1E-7"},
    "lost": {"BOOL": True},
    "nothing": {"NULL": True},
    "usage": {"M": {"input_tokens": {"N": "12"}, "note": {"S": "x"}}},
    "tags": {"SS": ["a", "b"]},
    "counts": {"NS": ["1", "2.5"]},
    "list": {"L": [{"S": "a"}, {"N": "1"}, {"M": {}}]},
    "blob": {"B": b"\x00\x01"},
}


def test_every_type_reads_as_boto3_reads_it() -> None:
    # Given an item with a value of every DynamoDB type
    # When it is read, Then each value is boto3's, of boto3's type
    expected = {k: TypeDeserializer().deserialize(v) for k, v in ITEM.items()}
    found = _deserialise(ITEM)
    assert found == expected
    assert {k: type(v) for k, v in found.items()} == {k: type(v) for k, v in expected.items()}
    assert found["cost_usd"] == Decimal("0.041372") and isinstance(found["blob"], Binary)


def test_a_number_past_dynamodbs_precision_is_refused_as_boto3_refuses_it() -> None:
    # Given a number of 39 significant digits (DynamoDB keeps 38)
    # When it is read, Then it is refused, not rounded, as boto3 would
    with pytest.raises(Exception) as ours:
        _deserialise({"n": {"N": "1" * 39}})
    with pytest.raises(Exception) as theirs:
        TypeDeserializer().deserialize({"N": "1" * 39})
    assert type(ours.value) is type(theirs.value)
