"""One ledger item per image attempt (docs/design.md §5), as plain data."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from decimal import Decimal
from enum import StrEnum
from functools import cached_property
from typing import Any

from placard.domain.keys import campaign_pk, image_sk, lost_image_sk
from placard.domain.proofs import Proof, Review
from placard.domain.statuses import said_over_budget


class Status(StrEnum):
    RESERVED = "reserved"
    CHARGED = "charged"
    REFUNDED = "refunded"
    FAILED = "failed"


@dataclass(frozen=True)
class LedgerItem:
    campaign: str
    job_id: str
    image_index: int
    template: str
    template_version: str
    provider: str
    model: str
    quality: str
    size: str
    unit_price: Decimal
    cost_usd: Decimal
    status: Status
    created_at: str
    updated_at: str
    upload: str = ""
    row: int = 0
    row_id: str = ""
    generation_id: str = ""
    s3_key: str = ""
    sha256: str = ""
    reason: str = ""
    raw_s3_key: str = ""  # edits: the provider's own output, beside the composite
    http_attempts: int = 0  # HTTP requests the image took, throttled ones included
    unknown_outcomes: int = 0  # attempts sent whose answer never came (the provider may bill)
    usage: dict[str, int] = field(default_factory=dict)
    over_budget: bool = False  # failed: the campaign's budget refused it before the call
    estimated: bool = False  # charged: the answer reported no usage, so its reservation was
    token_prices: dict[str, str] = field(default_factory=dict)  # USD per 1M tokens it was priced at
    # charged: its share of what the answer billed above its reservation (issue #15)
    overshoot_usd: Decimal = Decimal(0)
    # What placard estimated before the call (its share): beside cost_usd, the drift (#15)
    estimate_usd: Decimal = Decimal(0)
    attempt: int = 1  # which attempt at this image: 1, then each re-roll (docs/design.md §7)
    proof: str = ""  # the image's Verdict once read back; "" until then
    proof_fields: str = ""  # Proof.to_json(): each field's verdict and what was read
    review: str = ""  # a person's Review of the delivered attempt; "" reads as pending
    review_note: str = ""
    # A call whose outcome is unknown, set aside (no image; #16): reserved, the budget holding
    # it, until a person settles it from the provider's bill (services/settle.py)
    lost: bool = False

    @property
    def key(self) -> dict[str, str]:
        return {
            "pk": campaign_pk(self.campaign),
            "sk": lost_image_sk(self.job_id, self.image_index, self.attempt, self.created_at)
            if self.lost
            else image_sk(self.job_id, self.image_index, self.attempt),
        }

    def to_item(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if v not in ("", None, {}, 0) or k in _KEEP}
        data["status"] = self.status.value
        return {**self.key, **data}

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> LedgerItem:
        # to_item drops empty strings (DynamoDB keeps no empty key attributes and items stay
        # small), so any text field may be missing: it was "" (a failed edit has no size).
        values: dict[str, Any] = dict.fromkeys(_TEXT, "")
        values.update((k, v) for k, v in item.items() if k in cls.__dataclass_fields__)
        values["status"] = Status(values["status"])
        values["image_index"] = int(values["image_index"])
        for name in ("row", "http_attempts", "unknown_outcomes"):
            values[name] = int(values.get(name, 0))
        values["attempt"] = int(values.get("attempt", 1))
        values["usage"] = {k: int(v) for k, v in (values.get("usage") or {}).items()}
        # Items refused for budget before the flag was stored say so only in their reason.
        over_budget = bool(values.get("over_budget")) or said_over_budget(values["reason"])
        values["over_budget"] = over_budget
        values["estimated"] = bool(values.get("estimated", False))
        values["lost"] = bool(values.get("lost", False))
        values["token_prices"] = {k: str(v) for k, v in (values.get("token_prices") or {}).items()}
        values["overshoot_usd"] = Decimal(str(values.get("overshoot_usd") or 0))
        values["estimate_usd"] = Decimal(str(values.get("estimate_usd") or 0))
        return cls(**values)

    def but(self, **changes: Any) -> LedgerItem:
        return replace(self, **changes)

    @property
    def held(self) -> bool:
        """A call of unknown outcome, set aside and not yet settled from the bill."""
        return self.lost and self.status is Status.RESERVED

    @cached_property  # read from JSON once: a report reads it for the CSV and the card
    def proved(self) -> Proof | None:
        """The proof read back, or None before the image was read."""
        return Proof.from_json(self.proof, self.proof_fields) if self.proof else None

    @property
    def review_state(self) -> Review:
        return Review(self.review) if self.review else Review.PENDING


_KEEP = frozenset({"unit_price", "cost_usd", "image_index", "attempt"})
# Every text field, required ones included: old stored items may lack any of them.
_TEXT = tuple(f.name for f in fields(LedgerItem) if f.type == "str")
