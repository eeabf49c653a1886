"""API keys: from the environment on a laptop, from Secrets Manager on Lambda (cached by
Powertools Parameters). A key is never logged or put in an error message."""

from __future__ import annotations

import os
from collections.abc import Callable

from placard.providers.base import ProviderUnavailable

CACHE_SECONDS = 300


class MissingKey(ProviderUnavailable):
    """Not permanent: once the key is set, a redriven job goes through."""


def api_key(env_name: str, secret_name: str) -> Callable[[], str]:
    """A function returning the key, read when first needed (and re-read as the cache ages).

    The secret is a JSON object whose fields are named like the environment variables,
    e.g. {"OPENAI_API_KEY": "...", "PROSPOLABS_API_KEY": "..."}."""

    def read() -> str:
        if secret_name:
            from aws_lambda_powertools.utilities import parameters

            secret = parameters.get_secret(secret_name, transform="json", max_age=CACHE_SECONDS)
            value = secret.get(env_name) if isinstance(secret, dict) else None
            where = f"field {env_name} of secret {secret_name}"
        else:
            value = os.environ.get(env_name)
            where = f"environment variable {env_name}"
        if not value:
            raise MissingKey(f"no API key: set the {where}")
        return str(value)

    return read
