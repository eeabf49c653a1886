"""Errors a person can read: each names the field it is about."""

from __future__ import annotations


class PlacardError(Exception):
    """Base of every error placard raises on purpose."""


class InvalidInput(PlacardError):
    """A value a user gave is not acceptable; `field` names it."""

    def __init__(self, field: str, reason: str, value: object = None) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason
        self.value = value


class UnknownTemplate(InvalidInput):
    def __init__(self, name: str) -> None:
        super().__init__("template", f"no template named {name!r}", name)
