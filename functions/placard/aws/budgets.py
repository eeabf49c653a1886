"""DynamoDB: a campaign's budget, one item in the ledger table, reserved from atomically.

`remaining` only ever moves by conditional or additive updates, never read-modify-write, so
no number of concurrent workers can reserve past it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from placard.aws.ledger import condition_failed, typed_key
from placard.domain.keys import budget_key

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def _number(value: Decimal) -> dict[str, str]:
    return {"N": str(value)}


class DynamoBudgets:
    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self._db = dynamodb
        self.table = table

    def set_limit(self, campaign: str, limit: Decimal, spent: Decimal) -> None:
        """Give the campaign a budget of `limit` USD, of which `spent` is already gone; a new
        limit for a campaign that has one moves what remains by the difference."""
        key = typed_key(budget_key(campaign))
        while True:
            item = self._item(campaign)
            try:
                if item is None:
                    self._db.put_item(
                        TableName=self.table,
                        Item={
                            **key,
                            "limit_usd": _number(limit),
                            "remaining_usd": _number(limit - spent),
                        },
                        ConditionExpression="attribute_not_exists(pk)",
                    )
                else:
                    old = Decimal(item["limit_usd"]["N"])
                    self._db.update_item(
                        TableName=self.table,
                        Key=key,
                        UpdateExpression="SET limit_usd = :new ADD remaining_usd :delta",
                        ConditionExpression="limit_usd = :old",
                        ExpressionAttributeValues={
                            ":new": _number(limit),
                            ":old": _number(old),
                            ":delta": _number(limit - old),
                        },
                    )
                return
            except ClientError as exc:
                if not condition_failed(exc):
                    raise  # else another writer got there first: read again

    def take(self, campaign: str, amount: Decimal) -> Decimal | None:
        """Reserve `amount`: what is now held, or None when the campaign's budget would be
        exceeded. A campaign without a budget always has room, and nothing is held."""
        try:
            self._db.update_item(
                TableName=self.table,
                Key=typed_key(budget_key(campaign)),
                UpdateExpression="ADD remaining_usd :minus",
                ConditionExpression="remaining_usd >= :amount",
                ExpressionAttributeValues={
                    ":amount": _number(amount),
                    ":minus": _number(-amount),
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if not condition_failed(exc):
                raise
            return None if "Item" in exc.response else Decimal(0)  # no item: no budget
        return amount

    def give_back(self, campaign: str, amount: Decimal) -> None:
        """Return what a reservation did not spend (a failure, or a cheaper image)."""
        if not amount:
            return
        try:
            self._db.update_item(
                TableName=self.table,
                Key=typed_key(budget_key(campaign)),
                UpdateExpression="ADD remaining_usd :amount",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":amount": _number(amount)},
            )
        except ClientError as exc:
            if not condition_failed(exc):  # else the campaign has no budget
                raise

    def limit(self, campaign: str) -> Decimal | None:
        item = self._item(campaign)
        return Decimal(item["limit_usd"]["N"]) if item else None

    def remaining(self, campaign: str) -> Decimal | None:
        """What is left to reserve; None for a campaign without a budget."""
        item = self._item(campaign)
        return Decimal(item["remaining_usd"]["N"]) if item else None

    def _item(self, campaign: str) -> dict[str, Any] | None:
        reply = self._db.get_item(
            TableName=self.table, Key=typed_key(budget_key(campaign)), ConsistentRead=True
        )
        return reply.get("Item")
