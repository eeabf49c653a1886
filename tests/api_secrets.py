"""The API's shared secrets in the Secrets Manager secret template.yaml names, as a deployer
puts them there before the first call."""

from __future__ import annotations

import json

import boto3

from placard.api.callbacks import new_secret
from placard_local.stack import Stack


def put_api_secrets(stack: Stack, webhook_secret: str) -> Stack:
    boto3.client("secretsmanager").create_secret(
        Name=stack.parameter("ProviderSecretName"),
        SecretString=json.dumps(
            {"PLACARD_WEBHOOK_SECRET": webhook_secret, "PLACARD_CALLBACK_SECRET": new_secret()}
        ),
    )
    return stack
