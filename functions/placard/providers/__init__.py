"""Image providers by name."""

from __future__ import annotations

from placard.errors import InvalidInput
from placard.providers.base import ImageProvider

NAMES = ("draft",)


def make_provider(name: str) -> ImageProvider:
    if name == "draft":
        from placard.providers.draft import DraftProvider

        return DraftProvider()
    raise InvalidInput("provider", f"unknown provider {name!r}; choose one of {', '.join(NAMES)}")
