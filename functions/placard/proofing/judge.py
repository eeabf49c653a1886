"""Judging the words read back from an image against the copy (docs/design.md §7).

Pure Python: the reader's lines in, a Proof out. Both sides are brought to the same form
first, so that what a reader alone explains passes: Unicode forms (NFKC), case, spacing
(OCR drops and adds spaces), line breaks, punctuation that carries no meaning, emoji. What
is left, the field's letters, digits and signs, must then be found in what was read, in
order and whole: digits, currency signs, % and a number's inner separators ("4.50",
"12/05") exactly, and never inside another word ("SALE" is not in "WHOLESALE").

A field may wrap over several lines, and the reader may list a line of another field
between its pieces (two columns side by side): a field is found when its pieces are a line's
end, whole lines, then a line's start, in the reader's order.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum

from placard.domain.proofs import FieldProof, Proof, ReadLine, Verdict

# Punctuation that carries no meaning: left out on both sides (and marks a word boundary).
# Between two digits the separators among them are kept: they are part of the number.
_QUIET = set(".,!?:;'\"`·•‧∙…¡¿、。，！？：；«»‹›‘’‚‛“”„‟()[]{}")
_NUMBER_SEPARATORS = set(".,/:-'")  # dashes are "-" by then
# Scripts written without spaces between words: every character is a boundary.
_UNSPACED = ("CJK", "HIRAGANA", "KATAKANA", "IDEOGRAPHIC", "THAI", "LAO", "KHMER", "MYANMAR")
_EMOJI_PARTS = {"\u200d", "\ufe0e", "\ufe0f", "\u20e3"}  # joiner, presentation, keycap


class _Kind(Enum):
    LETTER = "letter"  # letters and marks of spaced scripts
    UNSPACED = "unspaced"  # a letter of a script without spaces (Chinese, Japanese, Thai)
    DIGIT = "digit"
    SEPARATOR = "separator"  # . , / : - ' between two digits
    SIGN = "sign"  # currency signs and % (must be there, exactly)
    SYMBOL = "symbol"  # anything else kept: & + # @ / *

    @property
    def strict(self) -> bool:
        return self in (_Kind.DIGIT, _Kind.SEPARATOR, _Kind.SIGN)


@dataclass(frozen=True)
class _Atom:
    """One character compared: its folded form, its kind, and where it came from."""

    char: str  # NFKC, case-folded
    kind: _Kind
    gap_before: bool  # a space, a quiet punctuation mark or a line break before it
    start: int  # span in the source string
    end: int


# ---------------------------------------------------------------------------------------
# bringing text to the compared form


def _pictograph(char: str) -> bool:
    """Emoji, pictographs and picture-like signs (So: ☔ ★ ™ ©), and the parts that build
    emoji sequences: no reader reads them back."""
    code = ord(char)
    return (
        unicodedata.category(char) == "So"
        or char in _EMOJI_PARTS
        or 0x1F3FB <= code <= 0x1F3FF  # skin tones
        or 0xE0020 <= code <= 0xE007F  # tags
    )


def _kind(char: str) -> _Kind | None:
    """How a compared character counts; None for what is left out (spaces, quiet marks)."""
    category = unicodedata.category(char)
    if char in _QUIET or category[0] in "ZC" or category == "Pd" or char.isspace():
        return None
    if category == "Nd":
        return _Kind.DIGIT
    if category == "Sc" or char in "%‰":
        return _Kind.SIGN
    if category[0] in "LMN":
        name = unicodedata.name(char, "")
        return _Kind.UNSPACED if name.startswith(_UNSPACED) else _Kind.LETTER
    return _Kind.SYMBOL


def _atoms(text: str) -> list[_Atom]:
    """The compared characters of text, each with its source span."""
    # (char, kind or None, start, end) before separators are decided
    chars: list[tuple[str, _Kind | None, int, int]] = []
    index = 0
    while index < len(text):
        end = index + 1  # a character and its combining marks are normalised together
        while end < len(text) and unicodedata.combining(text[end]):
            end += 1
        cluster = text[index:end]
        if not _pictograph(cluster[0]):
            for char in unicodedata.normalize("NFKC", cluster).casefold():
                if _pictograph(char):
                    continue
                if unicodedata.category(char) == "Pd":
                    char = "-"  # an en dash and a hyphen: one range, whatever the dash
                chars.append((char, _kind(char), index, end))
        index = end

    def digit_beside(position: int, step: int, spaces: bool) -> bool:
        position += step
        while spaces and 0 <= position < len(chars) and chars[position][0].isspace():
            position += step
        return 0 <= position < len(chars) and chars[position][1] is _Kind.DIGIT

    atoms: list[_Atom] = []
    gap = True
    for position, (char, kind, start, end) in enumerate(chars):
        spaced = char == "-"  # a range may be set "6:00 - 18:00"; "4, 5" is not "4,5"
        if (
            char in _NUMBER_SEPARATORS
            and digit_beside(position, -1, spaced)
            and digit_beside(position, 1, spaced)
        ):
            kind = _Kind.SEPARATOR
        if kind is None:
            gap = True
            continue
        atoms.append(_Atom(char, kind, gap, start, end))
        gap = False
    return atoms


def _same(expected: _Atom, read: _Atom) -> bool:
    return expected.char == read.char


def _joined(a: _Atom, b: _Atom) -> bool:
    """Whether a and b, next to each other without a gap, belong to one word or number:
    a copy that stops between them would be a piece of that word."""
    if b.gap_before:
        return False
    kinds = {a.kind, b.kind}
    return kinds <= {_Kind.LETTER} or kinds <= {_Kind.DIGIT, _Kind.SEPARATOR, _Kind.SIGN}


# ---------------------------------------------------------------------------------------
# finding a field in what was read


@dataclass(frozen=True)
class _Piece:
    line: int
    start: int  # atom indices in that line, end exclusive
    end: int


def _find(
    expected: Sequence[_Atom], lines: Sequence[Sequence[_Atom]], used: set[tuple[int, int]]
) -> list[_Piece] | None:
    """The pieces of the read lines that spell exactly the expected atoms, or None."""

    def free(line: int, start: int, end: int) -> bool:
        return all((line, i) not in used for i in range(start, end))

    def match(at: int, line: int, start: int) -> int:
        """How many expected atoms from `at` the line spells from `start`."""
        atoms = lines[line]
        count = 0
        while (
            at + count < len(expected)
            and start + count < len(atoms)
            and _same(expected[at + count], atoms[start + count])
        ):
            count += 1
        return count

    def rest(at: int, after: int) -> list[_Piece] | None:
        """Expected atoms from `at` on, as whole lines then a line's start, below `after`."""
        for line in range(after + 1, len(lines)):
            atoms = lines[line]
            count = match(at, line, 0)
            if count == 0:
                continue
            end = count
            if at + count == len(expected):  # done: the field must not stop inside a word
                if (end == len(atoms) or not _joined(atoms[end - 1], atoms[end])) and free(
                    line, 0, end
                ):
                    return [_Piece(line, 0, end)]
            elif end == len(atoms) and free(line, 0, end):
                more = rest(at + count, line)
                if more is not None:
                    return [_Piece(line, 0, end), *more]
        return None

    for line, atoms in enumerate(lines):
        for start in range(len(atoms)):
            if start and _joined(atoms[start - 1], atoms[start]):
                continue  # would start inside a word
            count = match(0, line, start)
            if count == 0:
                continue
            end = start + count
            if count == len(expected):
                if (end == len(atoms) or not _joined(atoms[end - 1], atoms[end])) and free(
                    line, start, end
                ):
                    return [_Piece(line, start, end)]
            elif end == len(atoms) and free(line, start, end):
                more = rest(count, line)
                if more is not None:
                    return [_Piece(line, start, end), *more]
    return None


# ---------------------------------------------------------------------------------------
# what went wrong, in words a person can act on


def _swap_cost(a: _Atom, b: _Atom) -> int:
    """0 for the same character; a letter for a letter costs less than a letter for a digit
    (which is rather one missing and one extra: "$14.50" is "$4.50" with a 1 added)."""
    if _same(a, b):
        return 0
    return 2 if a.kind is b.kind else 4


def _align(
    expected: Sequence[_Atom], stream: Sequence[_Atom], late: bool
) -> list[tuple[int | None, int | None]]:
    """The cheapest alignment of the expected atoms with any stretch of the stream (edit
    distance, free start and end in the stream): pairs of (expected index, stream index),
    None on the side that has nothing there. Of equally cheap ones, extra atoms read go as
    late as they can (`late`) or as early: "Past The" is "Past" and "The" only one way."""
    rows, cols = len(expected), len(stream)
    cost = [[0] * (cols + 1) for _ in range(rows + 1)]
    for i in range(1, rows + 1):
        cost[i][0] = 2 * i
        for j in range(1, cols + 1):
            cost[i][j] = min(
                cost[i - 1][j - 1] + _swap_cost(expected[i - 1], stream[j - 1]),
                cost[i - 1][j] + 2,  # expected atom missing
                cost[i][j - 1] + 2,  # an extra atom read
            )
    j = min(range(cols + 1), key=lambda col: (cost[rows][col], -col))  # ties: read more
    pairs: list[tuple[int | None, int | None]] = []
    i = rows
    while i > 0:
        if late and j > 0 and cost[i][j] == cost[i][j - 1] + 2:
            pairs.append((None, j - 1))
            j -= 1
        elif j > 0 and cost[i][j] == cost[i - 1][j - 1] + _swap_cost(
            expected[i - 1], stream[j - 1]
        ):
            pairs.append((i - 1, j - 1))
            i, j = i - 1, j - 1
        elif j > 0 and cost[i][j] == cost[i][j - 1] + 2:
            pairs.append((None, j - 1))
            j -= 1
        else:
            pairs.append((i - 1, None))
            i -= 1
    return pairs[::-1]


@dataclass
class _Word:
    text: str  # as the copy writes it
    atoms: list[int]  # expected atom indices
    read: list[int] = field(default_factory=list)  # stream indices aligned to it
    matched: int = 0
    extra: int = 0  # atoms read inside it that the copy does not have
    missing_signs: str = ""

    @property
    def edits(self) -> int:
        return len(self.atoms) - self.matched + self.extra

    @property
    def misread(self) -> bool:
        """Close enough to be this word read wrong ("Pakr" for "Park"), rather than this
        word missing."""
        return self.matched * 2 >= len(self.atoms) and self.edits <= max(2, len(self.atoms) // 2)


def _words(copy: str, expected: Sequence[_Atom]) -> list[_Word]:
    """The copy's words (split at its spaces), each with its atoms."""
    words: list[_Word] = []
    position = 0
    for raw in copy.split():
        start = copy.index(raw, position)
        position = start + len(raw)
        atoms = [i for i, a in enumerate(expected) if start <= a.start < position]
        if atoms:
            words.append(_Word(raw.strip("".join(_QUIET) + "-–—"), atoms))
    return words


def _problems(
    copy: str,
    expected: Sequence[_Atom],
    lines: Sequence[Sequence[_Atom]],
    texts: Sequence[str],
) -> tuple[str, tuple[str, ...]]:
    """(the best-matching stretch of what was read, the problems found there): of the two
    ways to place what was read but not written, the one with fewer problems."""
    stream = [(n, atom) for n, line in enumerate(lines) for atom in line]
    atoms = [atom for _, atom in stream]
    said = [
        _said(copy, expected, stream, texts, _align(expected, atoms, late) if stream else [])
        for late in (False, True)
    ]
    # fewer problems, then fewer edits inside the copy's words ("The" is a word of its own)
    best = min(said, key=lambda found: (len(found[1]), found[2]))
    return best[0], best[1]


def _said(
    copy: str,
    expected: Sequence[_Atom],
    stream: Sequence[tuple[int, _Atom]],
    texts: Sequence[str],
    pairs: Sequence[tuple[int | None, int | None]],
) -> tuple[str, tuple[str, ...], int]:
    """What was read for the copy, its problems, and how many edits its words took."""
    words = _words(copy, expected)
    owner = {atom: word for word in words for atom in word.atoms}
    extras: list[list[int]] = []  # runs of atoms read between the copy's words
    last: _Word | None = None
    in_extra = False
    for e, r in pairs:
        if e is not None:
            last, in_extra = owner[e], False
            if r is not None:
                last.read.append(r)
                last.matched += _same(expected[e], stream[r][1])
            elif expected[e].kind in (_Kind.SIGN, _Kind.SYMBOL):
                last.missing_signs += expected[e].char
        elif r is not None:
            gap = stream[r][1].gap_before
            if in_extra and not gap:
                extras[-1].append(r)
            elif last is not None and last.read and not gap:  # inside the word it touches
                last.read.append(r)
                last.extra += 1
            else:
                extras.append([r])
                in_extra = True
    matched = sum(w.matched for w in words)
    if matched * 2 < len(expected) or not any(w.misread or not w.edits for w in words):
        return "", (f"missing {copy!r}",), len(expected)
    found = [w for w in words if w.read and (w.misread or not w.edits)]

    def source(indices: Sequence[int]) -> str:
        return _source(stream, texts, min(indices), max(indices))

    problems: list[str] = []
    for word in words:
        if word not in found:
            problems.append(f"missing {word.text!r}")
        elif not word.edits:
            continue
        elif word.missing_signs and word.edits == len(word.missing_signs):
            problems.append(f"missing {word.missing_signs!r}")
        elif any(expected[a].kind.strict for a in word.atoms):
            problems.append(f"{source(word.read)} where {word.text}")
        else:
            problems.append(f"{source(word.read)!r} where {word.text!r}")
    first = min(r for w in found for r in w.read)
    last_read = max(r for w in found for r in w.read)
    for extra in extras:
        if first < extra[0] and extra[-1] < last_read:
            problems.append(f"extra {source(extra)!r}")
    if not problems:  # spelt right, but only as a piece of a longer word or of another field
        whole_first, whole_last = first, last_read
        while whole_first > 0 and _joined(stream[whole_first - 1][1], stream[whole_first][1]):
            whole_first -= 1
        while whole_last + 1 < len(stream) and _joined(
            stream[whole_last][1], stream[whole_last + 1][1]
        ):
            whole_last += 1
        if (whole_first, whole_last) != (first, last_read):
            problems.append(f"{source([whole_first, whole_last])!r} where {copy!r}")
        else:
            problems.append(f"{copy!r} read only as part of another field")
    edits = sum(w.edits for w in words)
    return _source(stream, texts, first, last_read), tuple(problems), edits


def _source(
    stream: Sequence[tuple[int, _Atom]], texts: Sequence[str], first: int, last: int
) -> str:
    """The text as read from stream atom `first` to `last`, its lines joined by spaces."""
    parts: list[str] = []
    for line in sorted({n for n, _ in stream[first : last + 1]}):
        atoms = [a for i, (n, a) in enumerate(stream) if n == line and first <= i <= last]
        parts.append(texts[line][atoms[0].start : atoms[-1].end])
    return " ".join(parts)


# ---------------------------------------------------------------------------------------
# the verdict


def judge(
    fields: Sequence[tuple[str, str]],
    lines: Sequence[ReadLine],
    reads: Callable[[str], bool],
) -> Proof:
    """Each field's verdict, what was read for it and what is wrong; the image's verdict.

    `fields` are (name, copy) as Template.texts gives them; `lines` what the reader read, in
    its order; `reads(copy)` whether the reader can read that copy's script.
    """
    texts = [line.text for line in lines]
    read = [_atoms(text) for text in texts]
    expected = {name: _atoms(copy) for name, copy in fields}
    used: set[tuple[int, int]] = set()
    proofs: dict[int, FieldProof] = {}
    # longest first, so that a short field ("Sale") cannot take the words of a longer one
    order = sorted(range(len(fields)), key=lambda i: -len(expected[fields[i][0]]))
    for index in order:
        name, copy = fields[index]
        atoms = expected[name]
        if not atoms or not reads(copy):
            proofs[index] = FieldProof(name, copy, Verdict.UNCHECKED)
            continue
        pieces = _find(atoms, read, used)
        if pieces is None:
            said, problems = _problems(copy, atoms, read, texts)
            proofs[index] = FieldProof(name, copy, Verdict.FAIL, said, problems)
            continue
        for piece in pieces:
            used.update((piece.line, i) for i in range(piece.start, piece.end))
        said = " ".join(
            texts[p.line][read[p.line][p.start].start : read[p.line][p.end - 1].end] for p in pieces
        )
        proofs[index] = FieldProof(name, copy, Verdict.PASS, said)
    return Proof.of([proofs[i] for i in range(len(fields))])
