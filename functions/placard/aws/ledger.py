"""DynamoDB: the ledger, one item per image attempt, campaign items under one partition key."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from boto3.dynamodb.types import DYNAMODB_CONTEXT, TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from placard.domain.keys import IMAGES_PREFIX, campaign_pk, job_images_prefix, job_lost_prefix
from placard.domain.ledger_items import LedgerItem, Status
from placard.domain.proofs import Proof, Review

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import QueryOutputTypeDef

# The ledger table's sparse index of what is not settled yet (template.yaml, LedgerTable):
# an item is in it while it carries `open` and `open_at` (when it went in, which a later put
# of it keeps: a write that moved it would be one more index write), so the reconciler reads
# what is left, never the whole table: a reservation until the put that settles it, an
# upload's run (aws/progress.py) until its reports are claimed.
OPEN_INDEX, OPEN, OPEN_AT = "Open", "open", "open_at"
OPEN_RESERVED, OPEN_RUN = "RESERVED", "RUN"
T = TypeVar("T")

_to_dynamo = TypeSerializer().serialize
_typed = TypeDeserializer().deserialize


def _serialise(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _to_dynamo(v) for k, v in item.items()}


def stored(item: LedgerItem) -> dict[str, Any]:
    """The item as the table keeps it: a reservation is in the open index too, until the put
    that settles it replaces it without."""
    kept = item.to_item()
    if item.status is Status.RESERVED:
        kept.update({OPEN: OPEN_RESERVED, OPEN_AT: item.created_at or item.updated_at})
    return _serialise(kept)


def condition_failed(exc: ClientError) -> bool:
    """A conditional write refused: the item was not as the condition asked."""
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def typed_key(key: dict[str, str]) -> dict[str, dict[str, str]]:
    """A key from domain/keys.py as the DynamoDB client takes it."""
    return {name: {"S": value} for name, value in key.items()}


def _from_dynamo(value: dict[str, Any]) -> Any:
    """boto3's TypeDeserializer, the strings and numbers that are most of an item taken
    first: a 100,000-row report reads some 30 values an item, each through its dispatch."""
    if (text := value.get("S")) is not None:
        return text
    if (number := value.get("N")) is not None:
        return DYNAMODB_CONTEXT.create_decimal(number)
    return _typed(value)  # type: ignore[arg-type]  # the dict is an AttributeValue


def _deserialise(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _from_dynamo(v) for k, v in item.items()}


def _items_of(pages: Iterator[QueryOutputTypeDef]) -> Iterator[LedgerItem]:
    for page in pages:
        for item in page.get("Items", []):
            yield LedgerItem.from_item(_deserialise(item))


def read_ahead(pages: Iterator[T]) -> Iterator[T]:
    """Each page of `pages`, the next one already asked for in a thread of its own: a
    page's wait on DynamoDB (tens of ms on AWS, more on the local cloud) overlaps the
    reader's work on the page before. At most two pages are held at once."""
    with ThreadPoolExecutor(1, thread_name_prefix="read-ahead") as pool:
        ahead = pool.submit(next, pages, None)
        while (page := ahead.result()) is not None:
            ahead = pool.submit(next, pages, None)
            yield page


class DynamoLedger:
    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self._db = dynamodb
        self.table = table

    def _pages(self, pk: str, prefix: str) -> Iterator[QueryOutputTypeDef]:
        paginator = self._db.get_paginator("query")
        return iter(paginator.paginate(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={":pk": {"S": pk}, ":prefix": {"S": prefix}},
            ConsistentRead=True,
        ))  # fmt: skip

    def _query(self, pk: str, prefix: str) -> Iterator[LedgerItem]:
        return _items_of(self._pages(pk, prefix))

    def job_items(self, campaign: str, job_id: str, lost: bool = False) -> list[LedgerItem]:
        items = list(self._query(campaign_pk(campaign), job_images_prefix(job_id)))
        if lost:  # IMAGE#LOST#<job>#...: beside the campaign's images, outside the job's
            items += self._query(campaign_pk(campaign), job_lost_prefix(job_id))
        return items

    def campaign_items(self, campaign: str) -> list[LedgerItem]:
        return list(self._query(campaign_pk(campaign), IMAGES_PREFIX))

    def each_campaign_item(self, campaign: str) -> Iterator[LedgerItem]:
        """campaign_items as the query's pages come (1 MB each): the report of a large
        upload reads them without holding them all, and asks for each page while it reads
        the one before (read_ahead)."""
        return _items_of(read_ahead(self._pages(campaign_pk(campaign), IMAGES_PREFIX)))

    def reserve(self, items: Sequence[LedgerItem]) -> bool:
        """Reserve each image; False when another delivery already charged one of them.

        One conditional put per image rather than a transaction: each image stands alone
        (a job's charged images are skipped on a redelivery), and a transaction would buy
        nothing but cost (moto copies whole tables for every transaction)."""
        return all(self._put(item, "<>", Status.CHARGED) for item in items)

    def save(self, item: LedgerItem) -> None:
        """Settle an item; a charged item is final and never overwritten. One newly charged
        is added to its campaign's spend (#17), once: the conditional put is the guard."""
        if self._put(item, "<>", Status.CHARGED):
            self._count_charge(item)

    def settle(self, item: LedgerItem) -> bool:
        written = self._put(item, "=", Status.RESERVED)
        if written:
            self._count_charge(item)
        return written

    def _count_charge(self, item: LedgerItem) -> None:
        """A newly charged item into its campaign's spend, once: after the put that wrote it."""
        if item.status is Status.CHARGED:
            from placard.aws.progress import DynamoProgress  # here: it imports this module

            DynamoProgress(self._db, self.table).charged(item)

    def record_proof(self, item: LedgerItem, proof: Proof) -> None:
        self._update_charged(
            item,
            "SET proof = :proof, proof_fields = :fields",
            {":proof": proof.verdict.value, ":fields": proof.to_json()},
        )

    def record_review(self, item: LedgerItem, review: Review, note: str) -> bool:
        return self._update_charged(
            item,
            "SET review = :review, review_note = :note",
            {":review": review.value, ":note": note},
            # the very same decision again changes nothing, and says so
            "AND (attribute_not_exists(review) OR review <> :review OR review_note <> :note)",
        )

    def _update_charged(
        self, item: LedgerItem, update: str, values: dict[str, str], condition: str = ""
    ) -> bool:
        """Update a charged item's own attributes; False when the condition refused it."""
        try:
            self._db.update_item(
                TableName=self.table,
                Key=typed_key(item.key),
                UpdateExpression=update,
                ConditionExpression=f"#s = :charged {condition}".strip(),
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues=_serialise({":charged": Status.CHARGED.value, **values}),
            )
        except ClientError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    def _put(self, item: LedgerItem, test: str, status: Status) -> bool:
        """Put the item where none is, or over one whose status `test`s (= or <>) `status`;
        False, writing nothing, when the one there does not."""
        try:
            self._db.put_item(
                TableName=self.table,
                Item=stored(item),
                ConditionExpression=f"attribute_not_exists(sk) OR #s {test} :status",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":status": {"S": status.value}},
            )
        except ClientError as exc:
            if condition_failed(exc):
                return False
            raise
        return True
