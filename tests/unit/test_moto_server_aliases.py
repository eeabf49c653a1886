"""The local moto server works out once which keys of a result it reads for each member of a
response (issue #17), and answers exactly as moto would."""

from __future__ import annotations

from typing import Any

import pytest
from moto.core.serialize import XFormedAttributePicker, get_serializer_class
from moto.core.utils import get_service_model

from placard_local.moto_server import _aliases_once


class _Counted(XFormedAttributePicker):
    """moto's picker, counting how often it works the keys out."""

    worked_out = 0

    def get_possible_keys(self, context: Any) -> Any:
        _Counted.worked_out += 1
        return super().get_possible_keys(context)


def keeper() -> XFormedAttributePicker:
    """A picker that keeps the keys, with nothing kept yet."""

    class Once(_Counted):
        get_possible_keys = _aliases_once(_Counted.get_possible_keys)

    return Once()


class _Row:
    """A result that is an object, not a dict: its keys are read off its attributes."""

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)


def serialize(service: str, operation: str, result: Any, picker: XFormedAttributePicker) -> Any:
    model = get_service_model(service)
    serializer = get_serializer_class(service, model.protocol)(
        operation_model=model.operation_model(operation),
        pretty_print=False,
        value_picker=picker,
    )
    return serializer.serialize(result)


SENT = {
    "Successful": [
        {
            "Id": str(i),
            "MessageId": f"m-{i}",
            "MD5OfMessageBody": "9e107d9d372bb6826bd81d3542a419d6",
        }
        for i in range(10)
    ],
    "Failed": [{"Id": "10", "SenderFault": False, "Code": "InternalError", "Message": "later"}],
}
ATTRIBUTES = {"Attributes": {"ApproximateNumberOfMessages": "3", "VisibilityTimeout": "30"}}
QUEUES = {"QueueUrls": ["http://q/1", "http://q/2"], "NextToken": "t"}


@pytest.mark.parametrize(
    ("service", "operation", "result"),
    [
        ("sqs", "SendMessageBatch", SENT),
        ("sqs", "GetQueueAttributes", ATTRIBUTES),
        ("sqs", "ListQueues", QUEUES),
        ("sqs", "SendMessage", _Row(message_id="m-1", md5_of_message_body="d41d8cd9")),
    ],
)
def test_each_answer_is_the_one_moto_gives(service: str, operation: str, result: Any) -> None:
    # Given a result as moto's SQS responses build it
    # When it is serialised by moto's own picker, and twice by the one that keeps the keys
    expected = serialize(service, operation, result, XFormedAttributePicker())
    once = keeper()
    # Then both answers are moto's, byte for byte
    assert serialize(service, operation, result, once) == expected
    assert serialize(service, operation, result, once) == expected


def test_a_dicts_keys_are_worked_out_once_for_each_member() -> None:
    # Given the picker that keeps the keys, and moto's
    once, moto = keeper(), _Counted()
    # When a batch of ten sent messages is answered twice by each
    _Counted.worked_out = 0
    for _ in range(2):
        serialize("sqs", "SendMessageBatch", SENT, once)
    kept = _Counted.worked_out
    _Counted.worked_out = 0
    for _ in range(2):
        serialize("sqs", "SendMessageBatch", SENT, moto)
    # Then the keeper worked out each member of each shape once (the result's 2, a sent
    # entry's 6, a failed one's 4), where moto does it for every member of every entry
    assert kept == 2 + 6 + 4
    assert _Counted.worked_out == 2 * (2 + 10 * 6 + 1 * 4)
