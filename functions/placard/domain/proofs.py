"""An image read back and its words judged (docs/design.md §7), as plain data.

A field's verdict says whether the words the sheet asked for are the words in the image; an
image's verdict follows from its fields'. A review is what a person decided about a delivered
image. Both are StrEnums: the same word in the ledger, results.csv, the API and the page.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

Region = tuple[int, int, int, int]  # an area of an image: x, y, width, height in pixels
DEFAULT_REROLLS = 2  # a template's `proof.rerolls` unless its front matter says otherwise
MAX_REROLLS = 5  # an upload or a call may ask for more re-rolls, never past this


class Verdict(StrEnum):
    PASS = "pass"  # noqa: S105 (a verdict, not a password)
    FAIL = "fail"
    UNCHECKED = "unchecked"  # not read: a script the reader cannot read, or no reader ran


class Review(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    REROLL = "reroll"  # one more attempt asked for; the new one is pending in its turn


@dataclass(frozen=True)
class ReadLine:
    """One line of text the reader found: what it read, how sure it is, and where."""

    text: str
    score: float
    box: Region


@dataclass(frozen=True)
class FieldProof:
    name: str  # the template's `text` field, e.g. "headline"
    expected: str  # the copy as the row gave it
    verdict: Verdict
    read: str = ""  # what the reader read where the field should be ("" when nothing matched)
    problems: tuple[str, ...] = ()  # for people: "missing 'Sunrise'", "$4.80 where $4.50"

    def describe(self) -> str:
        said = f"{self.name}: {self.verdict}"
        if self.read:
            said += f", read {self.read!r}"
        if self.problems:
            said += f" ({'; '.join(self.problems)})"
        return said


@dataclass(frozen=True)
class Proof:
    verdict: Verdict
    fields: tuple[FieldProof, ...] = ()

    @classmethod
    def of(cls, fields: Sequence[FieldProof]) -> Proof:
        """Fail when any field fails, pass when every field passes; otherwise unchecked: a
        field nobody could read is never claimed to pass."""
        verdicts = {f.verdict for f in fields}
        if Verdict.FAIL in verdicts:
            verdict = Verdict.FAIL
        elif verdicts == {Verdict.PASS}:
            verdict = Verdict.PASS
        else:
            verdict = Verdict.UNCHECKED
        return cls(verdict, tuple(fields))

    @property
    def detail(self) -> str:
        """results.csv's `proof_detail`: each field's verdict and what was read."""
        return "; ".join(f.describe() for f in self.fields)

    def to_json(self) -> str:
        return json.dumps(
            [
                {
                    "name": f.name,
                    "expected": f.expected,
                    "verdict": f.verdict.value,
                    "read": f.read,
                    "problems": list(f.problems),
                }
                for f in self.fields
            ],
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, verdict: str, data: str) -> Proof:
        fields: list[dict[str, Any]] = json.loads(data) if data else []
        return cls(
            Verdict(verdict),
            tuple(
                FieldProof(
                    name=f["name"],
                    expected=f["expected"],
                    verdict=Verdict(f["verdict"]),
                    read=f.get("read", ""),
                    problems=tuple(f.get("problems", ())),
                )
                for f in fields
            ),
        )
