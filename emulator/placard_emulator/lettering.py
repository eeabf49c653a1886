"""The words an emulated image carries: the copy its prompt quotes, and the slips a model
makes in a chosen share of images.

A prompt's copy is the text between straight ("...") or curly (“...”) double quotes, in the
order it appears. Which images are misspelt is decided by a per-image counter: with a share
p, image k (counting from 1, images with copy only) is misspelt when floor(k p) > floor((k-1)
p), so 1/3 misspells images 3, 6, 9, ... and N images in a row hold floor(N p) or ceil(N p)
misspelt ones (exactly floor(N p) from the first). What the slip is comes from a draw seeded
with (seed, k): one of

- ``letter``: two letters of one word swapped, one dropped, or one replaced;
- ``digit``: one digit of a number or a price changed;
- ``line``: one quoted line left out;
- ``currency``: one currency sign dropped.

A slip is only made where a reader could see it: the word, number or line changed must not
still appear elsewhere in what is drawn (another line, or the draft's "DRAFT" caption), and
a replaced letter is one no reader confuses with the one it replaces.
"""

from __future__ import annotations

import math
import random
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Final

_QUOTED: Final = re.compile(r'"([^"]*)"|“([^”]*)”')
_DIGITS: Final = "0123456789"
# Replacement letters unlike every other letter in print: a reader never takes one for the
# letter it replaced (an "l" for a "1", an "rn" for an "m"), so a slip is always a slip.
_FAR_LETTERS: Final = "xzqk"
# Punctuation a reader may lose or add without changing the words (SPEC §7).
_LOOSE: Final = ".,!?:;'\"‘’“”«»-–—·…()[]"
CAPTION_WORDS: Final = ("draft",)
"""Words the draft renderer draws besides the copy (its caption): a slip must not be
hidden by them."""

KINDS: Final = ("letter", "digit", "line", "currency")


def quoted(prompt: str) -> list[str]:
    """The copy the prompt quotes, in order; empty quotes carry none."""
    found = (straight or curly for straight, curly in _QUOTED.findall(prompt))
    return [text.strip() for text in found if text.strip()]


def share_of(misspell: float) -> Fraction:
    """The share as a small fraction (0.333... is 1/3), so counts come out exact."""
    return Fraction(misspell).limit_denominator(1000)


def is_misspelt(share: Fraction, k: int) -> bool:
    """Whether image k (from 1) of a run is misspelt at this share."""
    return math.floor(k * share) > math.floor((k - 1) * share)


@dataclass(frozen=True)
class Slip:
    """A misspelling: the copy as drawn, and what was changed."""

    drawn: tuple[str, ...]
    kind: str
    how: str


def _word(token: str) -> str:
    return unicodedata.normalize("NFKC", token).strip(_LOOSE).casefold()


def _words(lines: Sequence[str]) -> list[str]:
    return [w for line in lines for w in (_word(t) for t in line.split()) if w]


@dataclass(frozen=True)
class _Candidate:
    kind: str
    drawn: tuple[str, ...]
    how: str
    lost: tuple[str, ...]  # words of the asked copy that must be gone from what is drawn


def _visible(candidate: _Candidate) -> bool:
    """The change shows: some word it took away is nowhere else in the image."""
    present = set(_words(candidate.drawn)) | set(CAPTION_WORDS)
    return any(word not in present for word in candidate.lost if word)


def _replace_token(
    copy: Sequence[str], line: int, index: int, new: str
) -> tuple[tuple[str, ...], str]:
    tokens = copy[line].split()
    old = tokens[index]
    tokens[index] = new
    changed = list(copy)
    changed[line] = " ".join(tokens)
    return tuple(changed), old


def _letter_changes(token: str, rng: random.Random) -> list[tuple[str, str]]:
    """(new token, what was done) for each letter slip the token allows."""
    letters = [i for i, ch in enumerate(token) if ch.isalpha()]
    if not letters:
        return []
    changes = []
    pairs = [
        i
        for i in letters
        if i + 1 < len(token)
        and token[i + 1].isalpha()
        and token[i].casefold() != token[i + 1].casefold()
    ]
    if pairs:
        i = rng.choice(pairs)
        swapped = token[:i] + token[i + 1] + token[i] + token[i + 2 :]
        changes.append((swapped, "two letters swapped"))
    if len(letters) > 1:
        i = rng.choice(letters)
        changes.append((token[:i] + token[i + 1 :], f"{token[i]!r} dropped"))
    i = rng.choice(letters)
    far = rng.choice([ch for ch in _FAR_LETTERS if ch != token[i].casefold()])
    new = far.upper() if token[i].isupper() else far
    changes.append((token[:i] + new + token[i + 1 :], f"{token[i]!r} replaced by {new!r}"))
    return changes


def _token_candidates(
    copy: Sequence[str],
    kind: str,
    change: Callable[[str], list[tuple[str, str]]],
) -> list[_Candidate]:
    found = []
    for line, text in enumerate(copy):
        for index, token in enumerate(text.split()):
            for new, what in change(token):
                drawn, old = _replace_token(copy, line, index, new)
                how = f"{what}: {old!r} drawn as {new!r} in line {line + 1}"
                found.append(_Candidate(kind, drawn, how, (_word(old),)))
    return found


def _digit_change(rng: random.Random) -> Callable[[str], list[tuple[str, str]]]:
    def change(token: str) -> list[tuple[str, str]]:
        digits = [i for i, ch in enumerate(token) if ch in _DIGITS]
        if not digits:
            return []
        i = rng.choice(digits)
        new = rng.choice([d for d in _DIGITS if d != token[i]])
        return [(token[:i] + new + token[i + 1 :], f"digit {token[i]!r} changed to {new!r}")]

    return change


def _currency_change(token: str) -> list[tuple[str, str]]:
    signs = [i for i, ch in enumerate(token) if unicodedata.category(ch) == "Sc"]
    return [(token[:i] + token[i + 1 :], f"{token[i]!r} dropped") for i in signs]


def _line_candidates(copy: Sequence[str]) -> list[_Candidate]:
    return [
        _Candidate(
            "line",
            tuple(copy[:line]) + tuple(copy[line + 1 :]),
            f"line {line + 1} left out: {copy[line]!r}",
            tuple(_words([copy[line]])),
        )
        for line in range(len(copy))
    ]


def misspell(copy: Sequence[str], rng: random.Random) -> Slip | None:
    """One slip in the copy, of a kind drawn among those the copy allows (None: no copy)."""
    by_kind = {
        "letter": _token_candidates(copy, "letter", lambda token: _letter_changes(token, rng)),
        "digit": _token_candidates(copy, "digit", _digit_change(rng)),
        "line": _line_candidates(copy),
        "currency": _token_candidates(copy, "currency", _currency_change),
    }
    usable = {kind: [c for c in found if _visible(c)] for kind, found in by_kind.items()}
    kinds = [kind for kind in KINDS if usable[kind]]
    if not kinds:
        return None
    chosen = rng.choice(usable[rng.choice(kinds)])
    return Slip(chosen.drawn, chosen.kind, chosen.how)
