"""DynamoDB: signatures already used, so a captured request cannot be sent again.

A signature is remembered a little longer than the window it is valid in; the table's TTL
forgets it after. One conditional put: two copies sent at once cannot both pass.

A client's retry within the same second is signed identically. When the first use came with an
Idempotency-Key, the same signature under the same key passes again: idempotency answers it with
the job the first made. Under another key, or without one, it is a replay."""

from __future__ import annotations

import hashlib
import time
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from placard.aws.ledger import condition_failed
from placard.domain.keys import signature_id

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class DynamoReplayGuard:
    def __init__(self, dynamodb: DynamoDBClient, table: str, remember_seconds: int) -> None:
        self._db = dynamodb
        self.table = table
        self.remember_seconds = remember_seconds

    def first_use(self, signature: str, idempotency_key: str | None = None) -> bool:
        """True when the signature is new, or comes again under the key it first came with."""
        digest = hashlib.sha256(signature.encode()).hexdigest()
        item = {
            "id": {"S": signature_id(digest)},
            "expiration": {"N": str(int(time.time()) + self.remember_seconds)},
        }
        condition, extra = "attribute_not_exists(id)", dict[str, Any]()
        if idempotency_key is not None:
            key = {"S": hashlib.sha256(idempotency_key.encode()).hexdigest()}
            item["idempotency_key"] = key
            condition += " OR idempotency_key = :key"
            extra["ExpressionAttributeValues"] = {":key": key}
        try:
            self._db.put_item(
                TableName=self.table, Item=item, ConditionExpression=condition, **extra
            )
        except ClientError as exc:
            if condition_failed(exc):
                return False
            raise
        return True
