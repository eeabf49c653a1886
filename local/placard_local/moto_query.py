"""moto's table Query, read from the one partition it names, in key order kept between pages.

For every page, moto lists every item of the table, sorts them, and compares each from the
first against ExclusiveStartKey to find where the last page ended: quadratic in a partition's
size. A 100,000-row campaign's ledger is one partition of ~150,000 items, ~150 pages of 1 MB,
and its report spent minutes there, where DynamoDB answers each page in milliseconds.

Here a query of the table itself (no index, no legacy filter) bisects to its start in the
partition's keys, sorted once and kept until an item is put into the table,
and stops once it is past a `begins_with` prefix. The page is the one moto builds: the same
items, sizes, limit, LastEvaluatedKey, filter and projection; its items are copied one level
deep (the attributes, which a write replaces), not value by value (two thirds of the time).
Anything else goes to moto's own query.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Iterator
from typing import Any

from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
from moto.dynamodb.models.table import RESULT_SIZE_LIMIT, Table

_GENERATION = threading.Lock()  # a table's generation moves under it, so none is lost


def install() -> None:
    """Once: later calls find it in place."""
    if getattr(Table.query, "by_partition", False):
        return
    Table.put_item = _changes_keys(Table.put_item)  # type: ignore[method-assign]
    Table.query = _by_partition(Table.query)  # type: ignore[method-assign]
    Table.query.by_partition = True  # type: ignore[attr-defined]


def _changes_keys(method: Callable[..., Any]) -> Callable[..., Any]:
    """A put that may add a key: every order kept for the table is out of date once it is
    done (a query that read the generation before sorts again next time). A deleted key
    needs none of this: it is skipped where it no longer finds its item."""

    def write(table: Table, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(table, *args, **kwargs)
        finally:
            with _GENERATION:
                table._placard_generation = getattr(table, "_placard_generation", 0) + 1  # type: ignore[attr-defined]

    return write


def _keys_in_order(table: Table, hash_key: DynamoType) -> tuple[list[DynamoType], list[Any]]:
    """The partition's range keys in order, and the values they sort by."""
    with _GENERATION:
        generation = getattr(table, "_placard_generation", 0)
    orders: dict[DynamoType, Any] = table.__dict__.setdefault("_placard_orders", {})
    kept = orders.get(hash_key)
    if kept and kept[0] == generation:
        return kept[1], kept[2]
    keys = sorted(table.items.get(hash_key) or {}, key=lambda key: key.cast_value)
    values = [key.cast_value for key in keys]
    orders[hash_key] = (generation, keys, values)
    return keys, values


def _by_partition(method: Callable[..., Any]) -> Callable[..., Any]:
    def query(
        table: Table,
        hash_key: DynamoType | None,
        range_comparison: str | None,
        range_objs: list[DynamoType],
        limit: int,
        exclusive_start_key: dict[str, Any] | None,
        scan_index_forward: bool,
        projection_expressions: list[list[str]] | None,
        index_name: str | None = None,
        consistent_read: bool = False,
        filter_expression: Any = None,
        hash_key_conditions: Any = None,
        range_key_conditions: list[tuple[str, str, list[DynamoType]]] | None = None,
        **filter_kwargs: Any,
    ) -> tuple[list[Item], int, dict[str, Any] | None]:
        start = _start(table, hash_key, exclusive_start_key)
        if (
            index_name
            or filter_kwargs
            or hash_key is None
            or table.range_key_attr is None
            or len(range_key_conditions or ()) > 1
            or start is _ELSEWHERE
        ):
            return method(  # type: ignore[no-any-return]
                table, hash_key, range_comparison, range_objs, limit, exclusive_start_key,
                scan_index_forward, projection_expressions, index_name, consistent_read,
                filter_expression, hash_key_conditions=hash_key_conditions,
                range_key_conditions=range_key_conditions, **filter_kwargs,
            )  # fmt: skip
        partition = table.items.get(hash_key) or {}
        results: list[Item] = []
        size = 0
        last_key = None
        for item in _in_order(table, hash_key, partition, start, scan_index_forward):
            item_size = _size(item)
            if len(results) == limit or size + item_size > RESULT_SIZE_LIMIT:
                last_key = table._get_last_evaluated_key(results[-1], None)
                break
            if range_comparison is None or item.range_key.compare(range_comparison, range_objs):  # type: ignore[union-attr]
                results.append(item)
                size += item_size
            elif range_comparison == "BEGINS_WITH" and scan_index_forward and results:
                break  # keys sort by value: none further on begins with the prefix
        scanned = len(results)
        results = [_snapshot(item) for item in results]
        if filter_expression is not None:
            results = [item for item in results if filter_expression.expr(item)]
        if projection_expressions:
            results = [item.project(projection_expressions) for item in results]
        return results, scanned, last_key

    return query


_ELSEWHERE = object()  # a start key in another partition: moto's own query decides


def _start(table: Table, hash_key: DynamoType | None, start_key: dict[str, Any] | None) -> Any:
    """The sort value the page starts after, None for the first page."""
    if not start_key:
        return None
    given, sort = start_key.get(table.hash_key_attr), start_key.get(table.range_key_attr or "")
    if hash_key is None or given is None or sort is None or DynamoType(given) != hash_key:
        return _ELSEWHERE
    return DynamoType(sort).cast_value


def _in_order(
    table: Table, hash_key: DynamoType, partition: dict[DynamoType, Item], start: Any, forward: bool
) -> Iterator[Item]:
    keys, values = _keys_in_order(table, hash_key)
    if forward:
        positions: Iterator[int] = iter(
            range(0 if start is None else bisect.bisect_right(values, start), len(keys))
        )
    else:
        positions = iter(
            range((len(keys) if start is None else bisect.bisect_left(values, start)) - 1, -1, -1)
        )
    for position in positions:
        item = partition.get(keys[position])
        if item is not None:  # deleted since the keys were sorted
            yield item


def _size(item: Item) -> int:
    """moto's Item.size, strings and numbers (nearly every value) worked out here."""
    total = 0
    for name, value in item.attrs.items():
        total += len(name.encode())
        if value.type == "S":
            total += len(value.value.encode())
        elif value.type == "N":
            total += len(str(value.value))
        else:
            total += value.size()
    return total


def _snapshot(item: Item) -> Item:
    """The item with attributes of its own, so a write after the query leaves the page as
    it was read (moto's deepcopy, one level down)."""
    copied: Item = Item.__new__(Item)  # type: ignore[assignment]
    copied.__dict__.update(item.__dict__)
    attrs = LimitedSizeDict.__new__(LimitedSizeDict)
    dict.update(attrs, item.attrs)  # not through its __setitem__, which sizes the item
    copied.attrs = attrs
    return copied
