"""The local moto server turns a query's items into its answer a whole item at a time where
every value is plain (issue #17: a 100,000-row report reads 150,000 of them), and answers
exactly as moto would, for every type of value."""

from __future__ import annotations

import base64
import datetime
from typing import Any

from moto.core.serialize import XFormedAttributePicker, get_serializer_class
from moto.core.utils import get_service_model
from moto.dynamodb.models.dynamo_type import DynamoType, LimitedSizeDict
from moto.dynamodb.models.utilities import dynamo_to_dict

from placard_local.moto_server import (
    _attribute_maps_as_stored,
    _attribute_values_as_stored,
    _plain_values_at_once,
    _request_id_only_in_xml,
)


def stored(values: dict[str, Any]) -> LimitedSizeDict:
    """An item's attributes as moto keeps them."""
    attrs = LimitedSizeDict()
    for name, value in values.items():
        attrs[name] = DynamoType(value)
    return attrs


PLAIN = {
    "pk": {"S": "CAMPAIGN#summer"},
    "cost_usd": {"N": "0.0072"},
    "lost": {"BOOL": False},
    "nothing": {"NULL": True},
    "empty": {"S": ""},
}
EVERY_TYPE = {
    **PLAIN,
    "tags": {"SS": ["a", "b"]},
    "counts": {"NS": ["1", "2.5"]},
    "usage": {"M": {"input_tokens": {"N": "12"}, "raw": {"B": base64.b64encode(b"\x00").decode()}}},
    "list": {"L": [{"S": "a"}, {"N": "1"}, {"M": {}}, {"BOOL": True}]},
    "blob": {"B": b"\x00\x01"},
    "blob_sent": {"B": base64.b64encode(b"\x02").decode()},
    "blobs": {"BS": [b"\x03", base64.b64encode(b"\x04").decode()]},
}


def query_result(*items: dict[str, Any]) -> dict[str, Any]:
    """A query's result as moto's DynamodbHandler.query builds it, before it is answered."""
    return {
        "Count": len(items),
        "ScannedCount": len(items),
        "ConsumedCapacity": {"TableName": "ledger", "CapacityUnits": 1.0},
        "Items": [stored(item) for item in items],
        "LastEvaluatedKey": {"pk": DynamoType({"S": "CAMPAIGN#summer"})},
        "When": datetime.datetime(2026, 12, 2, tzinfo=datetime.UTC),
    }


def test_a_result_is_turned_into_what_motos_turning_gives() -> None:
    # Given a query's result: plain items, and one with a value of every type
    result = query_result(PLAIN, EVERY_TYPE, PLAIN)
    # When it is turned into plain Python before it is answered
    ours = _plain_values_at_once(dynamo_to_dict)(result)
    # Then it is moto's own, value for value and type for type
    assert ours == dynamo_to_dict(result)
    assert repr(ours) == repr(dynamo_to_dict(result))


def answer(result: Any, *patches: Any) -> Any:
    """The Query answer moto's JSON serialiser gives, with the server's patches or without."""
    model = get_service_model("dynamodb")
    base = get_serializer_class("dynamodb", model.protocol)
    methods = {}
    if patches:
        structure, mapping = base._serialize_type_structure, base._serialize_type_map
        methods = {
            "_serialize_type_structure": _attribute_values_as_stored(structure),
            "_serialize_type_map": _attribute_maps_as_stored(mapping),
        }
    serializer = type("Serializer", (base,), methods)(
        operation_model=model.operation_model("Query"),
        pretty_print=False,
        value_picker=XFormedAttributePicker(),
    )
    return serializer.serialize(result)


def test_a_query_is_answered_byte_for_byte_as_moto_answers_it() -> None:
    # Given a query's result with plain items and one of every type, as it is answered
    result = dynamo_to_dict(query_result(PLAIN, EVERY_TYPE, PLAIN))
    # When the server answers it, plain items whole
    ours = answer(result, "patched")
    # Then the answer is moto's, byte for byte
    assert ours == answer(result)
    assert '"cost_usd": {"N": "0.0072"}' in ours["body"]


def test_every_answer_is_enriched_as_moto_enriches_it() -> None:
    # Given moto's last touch on an answer, and the server's, which skips a body with no
    # request id to write
    from moto.core.responses import BaseResponse

    ours = _request_id_only_in_xml(BaseResponse._enrich_response)
    xml = "<Response><RequestId>old</RequestId><X>1</X></Response>"
    for body in (xml, '{"Items": [{"S": "<RequestId>"}]}', '{"Items": []}', b"\x00bytes", ""):
        # When each is enriched by both, with the same request id
        theirs_headers, theirs = BaseResponse._enrich_response({"status": 200}, body)
        headers, found = ours({"status": 200}, body)
        request_id = theirs_headers["x-amzn-requestid"]
        # Then the body is moto's, its request id aside, and so are the headers
        if isinstance(found, str):
            found = found.replace(headers["x-amzn-requestid"], request_id)
        assert found == theirs
        assert headers.keys() == theirs_headers.keys() and headers["status"] == "200"
