"""Image providers by name, built from Settings."""

from __future__ import annotations

from placard.domain.errors import InvalidInput
from placard.providers.base import DRAFT, NAMES, PAID, ImageProvider
from placard.settings import Settings

__all__ = ["DRAFT", "NAMES", "PAID", "make_provider"]


def make_provider(settings: Settings) -> ImageProvider:
    name = settings.provider
    if name == DRAFT:
        from placard.providers.draft import DraftProvider

        return DraftProvider()
    if name not in NAMES:
        raise InvalidInput(
            "provider", f"unknown provider {name!r}; choose one of {', '.join(NAMES)}"
        )

    from placard.aws.secrets import api_key
    from placard.providers.http import HttpCaller, Timeouts, shared_client

    caller = HttpCaller(shared_client(Timeouts(read=settings.http_read_timeout)))
    if name == "openai":
        from placard.providers.openai import OpenAIProvider

        key = api_key("OPENAI_API_KEY", settings.secret_name)
        return OpenAIProvider(caller, settings.openai_base_url, key, settings.image_model)
    from placard.providers.prospolabs import ProspolabsProvider

    if not settings.prospolabs_base_url:
        raise InvalidInput("provider", "set PROSPOLABS_BASE_URL to use prospolabs")
    key = api_key("PROSPOLABS_API_KEY", settings.secret_name)
    return ProspolabsProvider(caller, settings.prospolabs_base_url, key)
