"""Powertools' DynamoDB idempotency store, whose in-progress marker names the put that wrote it.

Issue #16: under load a PutItem may land and its answer be lost (a read timeout). botocore
retries the same request; Powertools' condition then meets the marker that first attempt wrote
and, taking it for a twin delivery's, refuses the job (IdempotencyAlreadyInProgressError). The
marker lives until the invocation's deadline, so each redelivery before it met it again: on AWS
the job came back an hour later (the queue's visibility timeout), and the local runner, which
redelivers within seconds, dead-lettered it unmade.

Each put here carries a token of its own, and its condition also admits the item bearing that
token: a retry of the same put rewrites its own marker and the job goes on in the same
invocation, waiting for nothing. A twin's put bears another token and is refused as before,
so a running job is still never made twice. A put that fails every try withdraws the marker
it may have left (only one bearing its token). Chosen over making redeliveries wait out the
marker (the job would still wait up to the invocation's deadline, or an hour on AWS) and over a
shorter marker (it must still cover the longest job, so the wait would only shrink)."""

from __future__ import annotations

import contextlib
import uuid
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import BotoCoreError, ClientError

from placard.aws.ledger import condition_failed

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
    from mypy_boto3_dynamodb import DynamoDBClient

WRITER = "writer"  # the attribute holding the token of the put that wrote the record


def idempotency_store(table: str, dynamodb: DynamoDBClient) -> DynamoDBPersistenceLayer:
    """The store one handler's idempotency records live in."""
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    signed = cast("DynamoDBClient", _SignedPuts(dynamodb))
    return DynamoDBPersistenceLayer(table_name=table, key_attr=KEY, boto3_client=signed)


KEY = "id"  # the table's partition key (template.yaml), Powertools' default


class _SignedPuts:
    """The client Powertools is given: its put_item (only the in-progress marker's) is signed
    with a token per call, which botocore's retries of that call share; every other
    operation is the client's own."""

    def __init__(self, dynamodb: DynamoDBClient) -> None:
        self._db = dynamodb

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)

    def put_item(self, **params: Any) -> Any:
        token = {"S": uuid.uuid4().hex}
        condition = params.get("ConditionExpression")
        params["Item"] = {**params["Item"], WRITER: token}
        if condition:
            params["ConditionExpression"] = f"({condition}) OR #writer = :writer"
            params["ExpressionAttributeNames"] = {
                **params.get("ExpressionAttributeNames", {}),
                "#writer": WRITER,
            }
            params["ExpressionAttributeValues"] = {
                **params.get("ExpressionAttributeValues", {}),
                ":writer": token,
            }
        try:
            return self._db.put_item(**params)
        except ClientError as exc:
            if not condition_failed(
                exc
            ):  # a throttle or a 5xx last: an earlier try may have landed
                self._withdraw(params, token)
            raise
        except BotoCoreError:  # every try's answer lost: any of them may have landed
            self._withdraw(params, token)
            raise

    def _withdraw(self, params: dict[str, Any], token: dict[str, str]) -> None:
        """Delete the marker this put may have left, and only it: Powertools takes the put as
        failed and runs nothing under it, so it would only refuse this job's redeliveries until
        the invocation's deadline. If the delete fails too, the marker expires then."""
        # Refused: it never landed (or a twin's replaced it); unreachable: it expires.
        with contextlib.suppress(ClientError, BotoCoreError):
            self._db.delete_item(
                TableName=params["TableName"],
                Key={KEY: params["Item"][KEY]},
                ConditionExpression="#writer = :writer",
                ExpressionAttributeNames={"#writer": WRITER},
                ExpressionAttributeValues={":writer": token},
            )
