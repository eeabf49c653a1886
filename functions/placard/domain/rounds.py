"""A round of a job: one attempt at some of its images (docs/design.md §7).

The first round makes every image; a re-roll round makes again the images whose words failed
their proof, or the image a person asked to re-roll. A round travels with its job on the jobs
queue and on to the proof function, so each function knows which attempt it is handling.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Cause(StrEnum):
    FIRST = "first"
    PROOF = "proof"  # the previous attempt's words failed their proof
    REVIEW = "review"  # a person asked for another attempt


@dataclass(frozen=True)
class Round:
    attempt: int = 1
    images: tuple[int, ...] = ()  # the image indices made in this round; () = every one
    cause: Cause = Cause.FIRST

    def indices(self, n: int) -> list[int]:
        return list(self.images) if self.images else list(range(n))

    def to_dict(self) -> dict[str, Any]:
        return {"attempt": self.attempt, "images": list(self.images), "cause": self.cause.value}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Round:
        """A message without a round is a job's first (as ingest and the API queue it)."""
        if not data:
            return cls()
        return cls(
            attempt=int(data.get("attempt", 1)),
            images=tuple(int(i) for i in data.get("images", ())),
            cause=Cause(data.get("cause", Cause.FIRST)),
        )

    def next(self, images: tuple[int, ...], cause: Cause) -> Round:
        return Round(self.attempt + 1, images, cause)
