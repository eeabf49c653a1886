"""moto's server in a process of its own, so the embedded cloud does not share the handlers'
interpreter lock: `python -m placard_local.moto_server` prints its endpoint, and exits when its
standard input closes (when the process that started it ends, however it ends).

moto's app is served by waitress, which keeps connections open between requests; moto's own
development server opens a connection and a thread for every request.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import string
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from moto import backends
from moto.core import responses as moto_responses
from moto.core import utils as moto_utils
from moto.core.base_backend import BackendDict
from moto.core.serialize import BaseJSONSerializer, XFormedAttributePicker
from moto.core.utils import camelcase_to_underscores, unix_time
from moto.dynamodb import responses as dynamodb_responses
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, LimitedSizeDict
from moto.dynamodb.models.utilities import dynamo_to_dict
from moto.moto_api._internal import mock_random
from moto.moto_api._internal.moto_random import MotoRandom
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.sqs import models as sqs_models
from moto.sqs.models import Queue
from waitress.parser import HTTPRequestParser
from waitress.server import create_server

from placard_local import moto_query


class _QueueAttributes(Mapping[str, Any]):
    """A queue's attributes, each worked out only when it is read."""

    def __init__(self, queue: Queue) -> None:
        self._queue = queue
        names = list(queue.BASE_ATTRIBUTES)
        if queue.fifo_queue:
            names += queue.FIFO_ATTRIBUTES
        if queue.kms_master_key_id:  # type: ignore[attr-defined]
            names += queue.KMS_ATTRIBUTES
        self._names = dict.fromkeys(names)

    def __getitem__(self, name: str) -> Any:
        if name not in self._names:
            raise KeyError(name)
        value = getattr(self._queue, camelcase_to_underscores(name))
        if name == "RedrivePolicy" and value:
            return json.dumps(value)
        return str(value).lower() if isinstance(value, bool) else value

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


_QUEUE_LOCKS = tuple(threading.Lock() for _ in range(16))  # striped: a queue hashes to one
_ITEM_LOCKS = tuple(threading.Lock() for _ in range(64))  # striped: an item hashes to one


def _given_key(backend: Any, table: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    return json.dumps(args[0] if args else kwargs["key"], sort_keys=True, default=str)


def _put_key(backend: Any, table: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    item = args[0] if args else kwargs["item_attrs"]
    schema = backend.get_table(table)
    names = [n for n in (schema.hash_key_attr, schema.range_key_attr) if n]
    return json.dumps({n: item.get(n) for n in names}, sort_keys=True, default=str)


def _per_item(method: Callable[..., Any], key_of: Callable[..., str]) -> Callable[..., Any]:
    def locked(backend: Any, table: str, *args: Any, **kwargs: Any) -> Any:
        try:
            key = key_of(backend, table, args, kwargs)
        except Exception:  # let moto raise its own error for a malformed call
            key = ""
        with _ITEM_LOCKS[hash((table, key)) % len(_ITEM_LOCKS)]:
            return method(backend, table, *args, **kwargs)

    return locked


def _all_items(method: Callable[..., Any]) -> Callable[..., Any]:
    def locked(*args: Any, **kwargs: Any) -> Any:
        with contextlib.ExitStack() as held:
            for lock in _ITEM_LOCKS:  # always in the same order: no deadlock
                held.enter_context(lock)
            return method(*args, **kwargs)

    return locked


READ_ATTEMPTS = 3


def _read_again_if_raced(method: Callable[..., Any]) -> Callable[..., Any]:
    """A query or scan, read again when a write changed an item while it was read.

    moto sizes each item of a page by walking its attributes, with no lock, while an
    UpdateItem on another thread may add one: "dictionary changed size during iteration", a
    500 that botocore sends again (a bench run saw it under load). A read has no effect, so
    it is read again here, without the round trip."""

    def read(*args: Any, **kwargs: Any) -> Any:
        for _ in range(READ_ATTEMPTS - 1):
            try:
                return method(*args, **kwargs)
            except RuntimeError as exc:
                if "changed size during iteration" not in str(exc):
                    raise
        return method(*args, **kwargs)

    return read


def _one_queue_at_a_time(method: Callable[..., Any]) -> Callable[..., Any]:
    """The method, under the lock every change to this queue's message list takes."""

    def locked(queue: Queue, *args: Any, **kwargs: Any) -> Any:
        with _QUEUE_LOCKS[hash(queue.name) % len(_QUEUE_LOCKS)]:
            return method(queue, *args, **kwargs)

    return locked


def _known_accounts() -> tuple[Callable[..., Any], Any]:
    """BackendDict's item lookup and reset, with lookups of a known account taking no lock.

    moto checks the account and scans its list of every service's backends, under one lock all
    requests share, on each lookup (twice a request): a sixth of its samples under load."""
    known: set[tuple[int, str]] = set()
    lookup, reset = BackendDict.__getitem__, BackendDict.reset.__func__  # type: ignore[attr-defined]

    def getitem(self: BackendDict[Any], account_id: str) -> Any:
        if (id(self), account_id) in known:
            return dict.__getitem__(self, account_id)
        found = lookup(self, account_id)
        known.add((id(self), account_id))
        return found

    def forget(cls: type[BackendDict[Any]]) -> None:
        known.clear()  # reset empties every BackendDict
        reset(cls)

    return getitem, classmethod(forget)


_AS_STORED = frozenset({"S", "N", "BOOL", "NULL", "SS", "NS"})  # binary ones need base64


def _stored_as_is(value: Any) -> bool:
    """An attribute value the wire's JSON carries as moto keeps it."""
    return type(value) is dict and value.keys() <= _AS_STORED


def _attribute_values_as_stored(method: Callable[..., Any]) -> Callable[..., Any]:
    """The JSON serialiser's method for structures, passing DynamoDB's plain attribute values
    through as they are.

    moto keeps items as the wire's JSON ({"S": ...}, {"N": ...}) and would rebuild each value
    member by member, trying six aliases for each of its ten members: half of a query's
    time, about 3 ms an item. Maps, lists and binary values still go member by member."""

    def serialize(self: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
        if key and shape.name == "AttributeValue" and _stored_as_is(value):
            self._default_serialize(serialized, value, shape, key)
        else:
            method(self, serialized, value, shape, key)

    return serialize


def _attribute_maps_as_stored(method: Callable[..., Any]) -> Callable[..., Any]:
    """The JSON serialiser's method for maps: an item whose values are all plain (strings,
    numbers, booleans, nulls and their sets) is taken whole, not value by value, each value
    as _attribute_values_as_stored would have passed it. A 100,000-row report reads
    150,000 items of 25 values; the rest of a query's answer is serialised as ever."""

    def serialize(self: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
        member = shape.value
        if member.name == "AttributeValue" and all(map(_stored_as_is, value.values())):
            self._default_serialize(
                serialized, {self.get_serialized_name(member, k): v for k, v in value.items()},
                shape, key,
            )  # fmt: skip
        else:
            method(self, serialized, value, shape, key)

    return serialize


_PLAIN = frozenset({"S", "N", "BOOL", "NULL"})


def _plain_values_at_once(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """moto's dynamo_to_dict, which turns each value of a result into {type: value} by five
    type checks on the value and five more on what it holds: a plain value (a string, a
    number, a boolean, a null) turned at once; any other goes to moto's."""

    def dynamo_to_dict(obj: Any) -> Any:
        kind = type(obj)
        if kind is DynamoType and obj.type in _PLAIN:
            return {obj.type: obj.value}
        if kind is dict or kind is LimitedSizeDict:
            return {k: dynamo_to_dict(v) for k, v in obj.items()}
        if kind is list:
            return [dynamo_to_dict(v) for v in obj]
        return convert(obj)

    return dynamo_to_dict


def _request_id_only_in_xml(
    enrich: Callable[[dict[str, str], Any], tuple[dict[str, str], Any]],
) -> Callable[[dict[str, str], Any], tuple[dict[str, str], Any]]:
    """moto's last touch on every answer, which writes the request id into an XML body by a
    regular expression run over the whole body: for a 1 MB page of a JSON query, a tenth of
    the server's time, to find nothing. A body with no <RequestId> is left as it is; the
    headers are moto's either way."""

    def enrich_response(headers: dict[str, str], body: Any) -> tuple[dict[str, str], Any]:
        if isinstance(body, str) and "<RequestId>" in body:
            return enrich(headers, body)
        headers, _ = enrich(headers, "")
        return headers, body

    return enrich_response


def _random_string(
    self: MotoRandom, length: int = 20, include_digits: bool = True, lower_case: bool = False
) -> str:
    pool = string.ascii_letters + (string.digits if include_digits else "")
    text = "".join(self.choices(pool, k=length))  # moto's draws one character per call
    return text.lower() if lower_case else text


def _receipt_handle() -> str:
    return "".join(mock_random.choices(string.ascii_lowercase, k=185))


def _unix_time_millis(dt: Any = None) -> float:
    # moto's own goes through two datetime objects; SQS asks it for every message it scans.
    return time.time() * 1000.0 if dt is None else unix_time(dt) * 1000.0


def _nothing_to_continue(method: Callable[..., Any]) -> Callable[..., Any]:
    """waitress's header parser, answering `Expect: 100-continue` only when a body follows.

    boto3 sends that header with every PutObject. For an empty object (Content-Length: 0)
    waitress sent "100 Continue" and then marked the already complete request incomplete,
    waiting for a body that never comes: the upload hung for good. With no body there is
    nothing to continue (RFC 9110 §10.1.1 lets a server skip it), so the request is served."""

    def parse_header(self: HTTPRequestParser, header_plus: bytes) -> None:
        method(self, header_plus)
        if self.expect_continue and not self.chunked and self.content_length == 0:
            self.expect_continue = False

    return parse_header


def _aliases_once(method: Callable[..., Any]) -> Callable[..., Any]:
    """XFormedAttributePicker's list of keys to try for a member of a response, worked out
    once per member where the value is a plain dict.

    For every member of every result moto builds six alias providers and asks each whether
    it has an alias, each answer read off the shapes' names and the object's class alone:
    half of a SendMessageBatch's serialising, a tenth of the server's time while ingest
    sends. A dict has no Meta and one class name, and within a service a shape's name and
    its parent's name fix every other thing the providers read, so the list is the same
    each time: kept, and tried in the same order."""
    known: dict[tuple[Any, ...], tuple[str, ...]] = {}

    def get_possible_keys(self: Any, context: Any) -> Any:
        if type(context.obj) is not dict:
            return method(self, context)
        shape, service = context.shape, context.service_model
        parent = getattr(shape, "parent", None)
        key = (
            tuple(self.alias_providers),
            service.service_name if service is not None else None,
            context.key,
            shape.name if shape is not None else None,
            getattr(parent, "name", None),
        )
        found = known.get(key)
        if found is None:
            found = known[key] = tuple(method(self, context))
        return found

    return get_possible_keys


def atomic_dynamodb_writes() -> None:
    """DynamoDB applies each write to an item atomically, its condition included; moto reads,
    checks and writes in Python, so two threads can both pass a condition only one should.
    A lock per item, as DynamoDB's atomicity is (one lock for all was a convoy: 0.87 against
    0.99 in bench/throughput); a transaction takes them all. For the server, and for the
    tests' in-process moto, whose handlers run a batch's records in threads too. Once."""
    if getattr(DynamoDBBackend.put_item, "atomic", False):
        return
    DynamoDBBackend.put_item = _per_item(DynamoDBBackend.put_item, _put_key)  # type: ignore[method-assign]
    DynamoDBBackend.update_item = _per_item(DynamoDBBackend.update_item, _given_key)  # type: ignore[method-assign]
    DynamoDBBackend.delete_item = _per_item(DynamoDBBackend.delete_item, _given_key)  # type: ignore[method-assign]
    DynamoDBBackend.transact_write_items = _all_items(DynamoDBBackend.transact_write_items)  # type: ignore[method-assign]
    DynamoDBBackend.put_item.atomic = True  # type: ignore[attr-defined]


def _speed_up_moto() -> None:
    # moto lists its own package folder on disk for every request, under a lock all requests
    # share; the list never changes while the process runs, so read it once.
    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules
    # moto builds every attribute of a queue, message counts included, for each message it
    # sends or hands out, to read one of them: build each only when it is read.
    # moto rebuilds a queue's message list on every delete without a lock: two deletes at
    # once (waitress serves requests on many threads) can bring a deleted message back, in
    # flight for the visibility timeout, and a send meanwhile can be lost.
    Queue.add_message = _one_queue_at_a_time(Queue.add_message)  # type: ignore[method-assign]
    Queue.delete_message = _one_queue_at_a_time(Queue.delete_message)  # type: ignore[method-assign]
    atomic_dynamodb_writes()
    moto_query.install()
    DynamoDBBackend.query = _read_again_if_raced(DynamoDBBackend.query)  # type: ignore[method-assign]
    DynamoDBBackend.scan = _read_again_if_raced(DynamoDBBackend.scan)  # type: ignore[method-assign]
    Queue.attributes = property(_QueueAttributes)  # type: ignore[assignment,method-assign]
    sqs_models.unix_time_millis = _unix_time_millis  # type: ignore[attr-defined]
    # Per request, moto also matches the host against every service's URL patterns (under
    # one lock), lists each response class's methods, and draws ids a character at a time.
    DomainDispatcherApplication.get_backend_for_host = functools.cache(  # type: ignore[method-assign]
        DomainDispatcherApplication.get_backend_for_host
    )
    method_names = functools.cache(moto_utils.method_names_from_class)
    moto_responses.method_names_from_class = method_names  # type: ignore[attr-defined]
    MotoRandom.get_random_string = _random_string  # type: ignore[method-assign]
    sqs_models.generate_receipt_handle = _receipt_handle  # type: ignore[attr-defined]
    BaseJSONSerializer._serialize_type_structure = _attribute_values_as_stored(  # type: ignore[method-assign]
        BaseJSONSerializer._serialize_type_structure
    )
    # A query's items, each turned and serialised value by value: three quarters of moto's
    # time answering a 1 MB page (profiled)
    BaseJSONSerializer._serialize_type_map = _attribute_maps_as_stored(  # type: ignore[method-assign]
        BaseJSONSerializer._serialize_type_map
    )
    dynamodb_responses.dynamo_to_dict = _plain_values_at_once(dynamo_to_dict)  # type: ignore[assignment,attr-defined]
    moto_responses.BaseResponse._enrich_response = staticmethod(  # type: ignore[assignment]
        _request_id_only_in_xml(moto_responses.BaseResponse._enrich_response)
    )
    BackendDict.__getitem__, BackendDict.reset = _known_accounts()  # type: ignore[method-assign]
    # For each member of each result moto asks six alias providers which keys to read, the
    # same answer every time for a dict: a tenth of its time taking ingest's batches.
    XFormedAttributePicker.get_possible_keys = _aliases_once(  # type: ignore[method-assign]
        XFormedAttributePicker.get_possible_keys
    )


def main() -> None:
    logging.getLogger("waitress").setLevel(logging.ERROR)
    _speed_up_moto()
    HTTPRequestParser.parse_header = _nothing_to_continue(HTTPRequestParser.parse_header)
    app = DomainDispatcherApplication(create_backend_app)
    server = create_server(app, host="127.0.0.1", port=0, threads=32, connection_limit=1000)
    host, port = server.socket.getsockname()[:2]
    threading.Thread(target=server.run, daemon=True).start()
    print(f"http://{host}:{port}", flush=True)
    sys.stdin.read()  # until the parent closes it or dies
    # Out at once: closing the server under a request in flight (a long poll) made its thread
    # write to the closed wake-up pipe and log "Bad file descriptor"; nobody awaits its answer.
    os._exit(0)


if __name__ == "__main__":
    main()
