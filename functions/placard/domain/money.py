"""Amounts of money as people type them: a budget on the command line or on an upload."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation


def parse_usd(text: str) -> Decimal | None:
    """The amount `text` gives in USD, or None when it is not a number of 0 or more.
    Decimal all the way (docs/design.md, invariant 3): "7.10" is 7.10, never 7.0999999."""
    try:
        amount = Decimal(text)
    except InvalidOperation:
        return None
    return amount if amount.is_finite() and amount >= 0 else None
