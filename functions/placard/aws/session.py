"""The boto3 session the functions' clients come from, reading DynamoDB's pages as sent.

botocore walks every attribute value of every item it is sent against the service model, and
for DynamoDB the only values it changes are binary ones (base64 to bytes); all else comes out
as the JSON went in. That walk was most of a large report's time: 0.22 ms an item, 33 s for
the ~150,000 ledger items of a 100,000-row campaign, where reading the JSON takes a twentieth.
So a Query or Scan page with no binary value in it, and nothing but items, counts and the
last key, is taken as the JSON it is; every other answer botocore parses as ever.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import boto3
import botocore.session
from botocore.parsers import JSONParser, ResponseParserFactory

# A binary value anywhere ("B" or "BS" as a key; a string "B" too, which only costs the walk)
_BINARY = re.compile(rb'"BS?"')
_PAGES = frozenset({"QueryOutput", "ScanOutput"})
_AS_SENT = frozenset({"Items", "Count", "ScannedCount", "LastEvaluatedKey"})


@cache
def session() -> boto3.session.Session:
    """One a process: clients share its loaded models (and a local fault layer hooks it)."""
    core = botocore.session.get_session()
    core.register_component("response_parser_factory", _Parsers())
    return boto3.session.Session(botocore_session=core)


# botocore's stubs leave out the parsers' private methods, which these override
class _PagesAsSent(JSONParser):
    def _handle_json_body(self, raw_body: bytes, shape: Any) -> Any:
        if shape is None or shape.name not in _PAGES or _BINARY.search(raw_body):
            return super()._handle_json_body(raw_body, shape)  # type: ignore[misc]
        page = self._parse_body_as_json(raw_body)  # type: ignore[attr-defined]
        return page if page.keys() <= _AS_SENT else self._parse_shape(shape, page)  # type: ignore[attr-defined]


class _Parsers(ResponseParserFactory):
    def create_parser(self, protocol_name: str) -> Any:
        if protocol_name == "json":
            return _PagesAsSent(**self._defaults)  # type: ignore[attr-defined]
        return super().create_parser(protocol_name)
