"""`index.html`: a contact sheet to review a campaign in a browser.

One card per spreadsheet row: its row number, status (succeeded, failed, rejected,
over_budget, needs_review; by colour and by word), the template, the copy that went into it,
what it cost (every attempt charged) beside what placard estimated it would, a cost charged at
an estimate marked as such (#15), and, when it did not succeed, why. Each thumbnail opens
the web-sized image; a link beside it opens the provider's original. Under the copy, each
image's proof (docs/design.md §7): its verdict, each text field's copy beside what was read
with the differing words marked, its attempts (earlier originals linked) and its review.
A header names the campaign and the upload, counts the rows by status, by failed proof (any
attempt failed) and by pending review (click a count to show only those rows) and gives the
campaign's total cost; beside it, once any charge kept an estimate, the estimate, the drift
(USD and %) and how many images were charged at an estimate.

The page is one self-contained file: inline CSS, no scripts, fonts or anything else from
elsewhere, so it works from a local folder, from S3 behind presigned URLs, and offline.
Everything a user wrote (copy, names, reasons) is escaped by Jinja's autoescape, and hrefs
are escaped as attributes; an href that is neither http(s) nor relative is made relative,
so no campaign name can turn a link into `javascript:`. Same entries, same bytes.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from functools import cache

from jinja2 import Environment, StrictUndefined, Template
from markupsafe import Markup

from placard.domain.proofs import FieldProof, Review, Verdict
from placard.domain.spend import CostBasis, Spend
from placard.domain.statuses import RowStatus

STATUSES: tuple[RowStatus, ...] = tuple(RowStatus)  # each with its colour, in this order
THUMB_BOX: int = 320  # the thumbnails' box, px: derivatives.THUMB_EDGE

_REVIEW_FILTERS = ("proof-failed", "review-pending")  # an Entry's failed_proof and pending
_FOUR_PLACES = Decimal("0.0001")
_SCHEME = re.compile(r"^\s*([A-Za-z][A-Za-z0-9+.\-]*):")
_SAFE_SCHEMES = frozenset({"http", "https"})


@dataclass(frozen=True)
class Attempt:
    """An attempt at an image other than the one delivered."""

    number: int
    verdict: str  # a Verdict, or "" when it was never read (no image came back)
    original: str = ""  # href; "" when the attempt left no image


@dataclass(frozen=True)
class Shot:
    """One image of a row: the delivered attempt's links, its proof and its review."""

    thumbnail: str  # href (relative path locally, presigned URL on AWS)
    web: str
    original: str
    verdict: str = Verdict.UNCHECKED  # not read back yet is unchecked
    fields: Sequence[FieldProof] = ()  # each text field: the copy, what was read, problems
    attempt: int = 1  # the delivered attempt's number
    others: Sequence[Attempt] = ()  # every other attempt, first to last
    review: str = Review.PENDING
    review_note: str = ""

    @property
    def attempts(self) -> int:
        return len(self.others) + 1

    @property
    def failed_proof(self) -> bool:
        """Any attempt at it failed its proof, the delivered one or one re-rolled."""
        verdicts = [self.verdict, *(a.verdict for a in self.others)]
        return Verdict.FAIL in verdicts


@dataclass(frozen=True)
class Entry:
    row: int
    status: RowStatus  # another word still renders, in neutral grey
    template: str
    copy: Mapping[str, str]
    cost_usd: Decimal  # every attempt charged
    reason: str
    images: Sequence[Shot]
    note: str = ""  # e.g. the same job as an earlier row, whose cost is counted there
    spend: Spend = field(default_factory=Spend)  # its charges beside their estimates

    @property
    def estimated(self) -> bool:
        """Its cost was charged, in part at least, at an estimate: no usage was reported."""
        return self.spend.basis is CostBasis.ESTIMATE

    @property
    def failed_proof(self) -> bool:
        return any(shot.failed_proof for shot in self.images)

    @property
    def pending(self) -> bool:
        return any(shot.review == Review.PENDING for shot in self.images)


@dataclass
class Totals:
    """The header's figures, added up one entry at a time (the cards need not be held)."""

    rows: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    failed_proof: int = 0
    pending: int = 0
    total: Decimal = Decimal(0)
    spend: Spend = field(default_factory=Spend)
    images: int = 0
    attempts: int = 0

    def add(self, entry: Entry) -> None:
        self.rows += 1
        self.counts[entry.status] += 1
        self.failed_proof += entry.failed_proof
        self.pending += entry.pending
        self.total += entry.cost_usd
        self.spend += entry.spend
        self.images += len(entry.images)
        self.attempts += sum(shot.attempts for shot in entry.images)

    def filters(self) -> list[tuple[str, str, int]]:
        """(filter id, label, rows) of every filter with rows, "all" first: the statuses
        in their order, then failed proof and pending review."""
        statuses = [*STATUSES, *sorted(set(self.counts) - set(STATUSES))]
        return [
            ("all", "All rows", self.rows),
            *(
                (s, _status_label(s).capitalize(), self.counts[s])
                for s in statuses
                if s in STATUSES
            ),
            (_REVIEW_FILTERS[0], "Failed proof", self.failed_proof),
            (_REVIEW_FILTERS[1], "Pending review", self.pending),
        ]

    def header(self) -> dict[str, object]:
        statuses = [*STATUSES, *sorted(set(self.counts) - set(STATUSES))]
        return {
            "row_count": self.rows,
            "counts": [(status, self.counts[status]) for status in statuses],
            # (filter id, label, rows): beside the statuses, one radio group with them
            "reviews": [
                (_REVIEW_FILTERS[0], "Failed proof", self.failed_proof),
                (_REVIEW_FILTERS[1], "Pending review", self.pending),
            ],
            "total": self.total,
            "spend": self.spend,
            "images": self.images,
            "attempts": self.attempts,
        }


def matches(filter_id: str, entry: Entry) -> bool:
    """Whether a card belongs in the filter's pages (Totals.filters names them)."""
    if filter_id == "all":
        return True
    if filter_id == _REVIEW_FILTERS[0]:
        return entry.failed_proof
    if filter_id == _REVIEW_FILTERS[1]:
        return entry.pending
    return entry.status == filter_id


@dataclass(frozen=True)
class Nav:
    """Where a page of a paged contact sheet sits: hrefs of each filter's first page, of
    the index, of the pages beside it; on the index, every filter's pages (`lists`)."""

    links: Mapping[str, str]
    current: str = ""  # the filter this page shows; "" on the index
    label: str = ""
    page: int = 0
    pages: int = 0
    first_row: int = 0
    last_row: int = 0
    index: str = ""
    previous: str = ""
    next: str = ""
    # (filter id, label, [(page number, first row, last row, href)])
    lists: Sequence[tuple[str, str, Sequence[tuple[int, int, int, str]]]] = ()


def card(entry: Entry) -> str:
    """One row's card, as HTML (escaped), to be placed on one or more pages."""
    return _templates()[1].render(entry=entry, box=THUMB_BOX, fail=Verdict.FAIL)


def page(
    campaign: str, upload: str, totals: Totals, cards: Iterable[str], nav: Nav | None = None
) -> bytes:
    """A whole page: the header with `totals`, then `cards` as given (already HTML). Without
    `nav`, the one page of a small upload, filtered by CSS; with it, a page of a paged sheet
    (or its index, which lists pages and holds no card)."""
    html = _templates()[0].render(
        campaign=campaign,
        upload=upload,
        cards=[Markup(text) for text in cards],  # noqa: S704 (card() escaped them)
        known=STATUSES,
        # (radio id, class of the cards it shows): the CSS that makes each count a filter
        filters=[(s, _status_class(s)) for s in STATUSES] + [(r, r) for r in _REVIEW_FILTERS],
        paged=nav,
        **totals.header(),
    )
    return html.encode("utf-8")


def contact_sheet(campaign: str, upload: str, entries: Iterable[Entry]) -> bytes:
    """The contact sheet as one page of UTF-8 HTML, cards in row order (entries with the same
    row keep their order). Hrefs are used as given: the caller URL-encodes paths and signs
    URLs. reporting/pages.py splits a large upload's sheet into pages."""
    rows = sorted(entries, key=lambda entry: entry.row)
    totals = Totals()
    for entry in rows:
        totals.add(entry)
    return page(campaign, upload, totals, (card(entry) for entry in rows))


def usd(amount: Decimal) -> str:
    """ "$0.0072", "$0.028", "$1.50", "$1,234.00": rounded to four decimal places, then
    trailing zeros dropped down to two."""
    text = f"{amount.quantize(_FOUR_PLACES, rounding=ROUND_HALF_UP):,.4f}"
    text = text.rstrip("0")
    whole, _, fraction = text.partition(".")
    text = f"{whole}.{fraction.ljust(2, '0')}"
    return f"-${text[1:]}" if text.startswith("-") else f"${text}"


def signed_usd(amount: Decimal) -> str:
    """A drift: "+$0.0021", "-$0.097", "$0.00"."""
    return (
        f"+{usd(amount)}"
        if amount.quantize(_FOUR_PLACES, rounding=ROUND_HALF_UP) > 0
        else usd(amount)
    )


def _percent(share: Decimal) -> str:
    """ "+1.7%", "-23.6%": Decimal's own formatting, never a float's."""
    return f"{share:+.1f}%"


def _href(value: str) -> str:
    """http(s) and relative hrefs as given; any other scheme (javascript:, data:, a
    campaign folder named "x:") made a relative path, so it cannot run anything."""
    match = _SCHEME.match(value)
    if match and match.group(1).lower() not in _SAFE_SCHEMES:
        return "./" + value.lstrip()
    return value


def _words(text: str) -> set[str]:
    return {w for w in (_word(token) for token in text.split()) if w}


def _word(token: str) -> str:
    """A word as compared for marking: NFKC, case folded, punctuation around it dropped."""
    folded = unicodedata.normalize("NFKC", token).casefold().strip()
    start, end = 0, len(folded)
    while start < end and unicodedata.category(folded[start])[0] == "P":
        start += 1
    while end > start and unicodedata.category(folded[end - 1])[0] == "P":
        end -= 1
    return folded[start:end]


def _marked(text: str, other: str) -> list[tuple[str, bool]]:
    """`text` in pieces, each word marked when `other` lacks it: the copy's words the image
    got wrong, or the words read that the copy does not have. Only a help for the eye; the
    judge's problems, shown beside, say exactly what failed."""
    theirs = _words(other)
    return [
        (piece, bool(_word(piece)) and _word(piece) not in theirs)
        for piece in re.split(r"(\s+)", text)
        if piece
    ]


def _status_class(status: str) -> str:
    return f"s-{status}" if status in STATUSES else "s-other"


def _status_label(status: str) -> str:
    return status.replace("_", " ")


@cache
def _templates() -> tuple[Template, Template]:
    """The page and the card."""
    env = Environment(
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        usd=usd,
        signed_usd=signed_usd,
        percent=_percent,
        href=_href,
        status_class=_status_class,
        label=_status_label,
        marked=_marked,
    )
    return env.from_string(_PAGE), env.from_string(_CARD)


_CSS = """
:root {
  color-scheme: light;
  --ink: #1c2430; --muted: #5b6677; --line: #e3e7ee; --page: #f5f7fa; --card: #fff;
  --accent: #2f5bd3;
  --ok: #166534; --ok-bg: #dcfce7; --ok-edge: #22c55e;
  --failed: #991b1b; --failed-bg: #fee2e2; --failed-edge: #ef4444;
  --rejected: #92400e; --rejected-bg: #fef3c7; --rejected-edge: #f59e0b;
  --budget: #5b21b6; --budget-bg: #ede9fe; --budget-edge: #8b5cf6;
  --review: #9d174d; --review-bg: #fce7f3; --review-edge: #ec4899;
  --other: #374151; --other-bg: #e5e7eb; --other-edge: #9ca3af;
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body {
  margin: 0; background: var(--page); color: var(--ink);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans",
    "Helvetica Neue", Arial, sans-serif, "Apple Color Emoji", "Segoe UI Emoji",
    "Noto Color Emoji";
}
a { color: var(--accent); }
.filter { position: absolute; opacity: 0; pointer-events: none; }
header {
  background: var(--card); border-bottom: 1px solid var(--line);
  padding: 20px clamp(16px, 4vw, 40px) 16px;
}
.eyebrow {
  margin: 0 0 2px; color: var(--muted); font-size: 12px; font-weight: 600;
  letter-spacing: .06em; text-transform: uppercase;
}
h1 { margin: 0; font-size: clamp(20px, 3vw, 28px); line-height: 1.2; overflow-wrap: anywhere; }
.upload { margin: 4px 0 0; color: var(--muted); overflow-wrap: anywhere; }
.upload bdi { color: var(--ink); font-weight: 500; }
.summary {
  display: flex; flex-wrap: wrap; align-items: center; gap: 8px 24px; margin-top: 16px;
}
.figures, .spend { display: flex; flex-wrap: wrap; gap: 8px 24px; margin: 0; }
.figures div, .spend div { display: flex; flex-direction: column; }
.figures dt, .spend dt { color: var(--muted); font-size: 12px; }
.figures dd, .spend dd {
  margin: 0; font-size: 20px; font-weight: 650; font-variant-numeric: tabular-nums;
}
.spend { padding-inline-start: 24px; border-inline-start: 1px solid var(--line); }
.spend .drift small { color: var(--muted); font-size: 13px; font-weight: 500; }
.counts { display: flex; flex-wrap: wrap; gap: 8px; margin: 0; padding: 0; list-style: none; }
.chip {
  display: inline-flex; align-items: center; gap: 6px; padding: 4px 10px 4px 8px;
  border: 1px solid var(--line); border-radius: 999px; background: var(--card);
  color: var(--ink); font-size: 13px; white-space: nowrap; user-select: none;
}
label.chip { cursor: pointer; }
label.chip:hover { border-color: var(--muted); }
.chip.zero { color: var(--muted); opacity: .7; }
.chip b { font-variant-numeric: tabular-nums; }
.dot { width: 9px; height: 9px; border-radius: 50%; background: var(--edge); }
.filter:focus-visible ~ header .counts { outline: 2px solid var(--accent); outline-offset: 4px;
  border-radius: 999px; }
main {
  display: grid; gap: 16px; padding: 20px clamp(16px, 4vw, 40px) 40px;
  grid-template-columns: repeat(auto-fill, minmax(min(100%, 280px), 1fr)); align-items: start;
}
.card {
  --edge: var(--other-edge); --tone: var(--other); --tone-bg: var(--other-bg);
  display: flex; flex-direction: column; overflow: hidden; background: var(--card);
  border: 1px solid var(--line); border-top: 4px solid var(--edge); border-radius: 10px;
  box-shadow: 0 1px 2px rgba(16, 24, 40, .06);
}
.s-succeeded { --edge: var(--ok-edge); --tone: var(--ok); --tone-bg: var(--ok-bg); }
.s-failed { --edge: var(--failed-edge); --tone: var(--failed); --tone-bg: var(--failed-bg); }
.s-rejected { --edge: var(--rejected-edge); --tone: var(--rejected);
  --tone-bg: var(--rejected-bg); }
.s-over_budget { --edge: var(--budget-edge); --tone: var(--budget); --tone-bg: var(--budget-bg); }
.s-needs_review { --edge: var(--review-edge); --tone: var(--review);
  --tone-bg: var(--review-bg); }
.s-other { --edge: var(--other-edge); --tone: var(--other); --tone-bg: var(--other-bg); }
.card-head {
  display: flex; align-items: center; justify-content: space-between; gap: 8px;
  padding: 10px 14px;
}
.row { margin: 0; font-size: 15px; font-weight: 650; }
.row a { color: inherit; text-decoration: none; }
.row a:hover { text-decoration: underline; }
.status {
  padding: 2px 9px; border-radius: 999px; background: var(--tone-bg); color: var(--tone);
  font-size: 12px; font-weight: 650; letter-spacing: .02em; text-transform: uppercase;
  white-space: nowrap;
}
.shots { display: grid; gap: 2px; background: var(--line); }
.shots.many { grid-template-columns: 1fr 1fr; }
.shot { position: relative; margin: 0; background: #eef1f5; }
.shot > a { display: block; }
.shot img {
  display: block; width: 100%; height: auto; aspect-ratio: 1 / 1; object-fit: contain;
  background: #eef1f5;
}
.shot figcaption {
  display: flex; flex-wrap: wrap; justify-content: space-between; gap: 2px 8px; padding: 4px 10px;
  background: var(--card); color: var(--muted); font-size: 12px;
}
.shot figcaption a { text-decoration: none; }
.shot figcaption a:hover { text-decoration: underline; }
.empty {
  display: grid; place-items: center; aspect-ratio: 2 / 1; margin: 0; padding: 16px;
  background: repeating-linear-gradient(135deg, #f3f5f8 0 10px, #eceff4 10px 20px);
  color: var(--muted); font-size: 13px; text-align: center;
}
.body { display: flex; flex-direction: column; gap: 10px; padding: 12px 14px 14px; }
.reason {
  margin: 0; padding: 8px 10px; border-inline-start: 3px solid var(--edge); border-radius: 4px;
  background: var(--tone-bg); color: var(--tone); white-space: pre-wrap;
  overflow-wrap: anywhere;
}
.note { margin: 0; color: var(--muted); font-size: 12px; }
.copy { display: grid; grid-template-columns: max-content 1fr; gap: 4px 12px; margin: 0; }
.copy dt { color: var(--muted); font-size: 12px; line-height: 20px; }
.copy dd { margin: 0; white-space: pre-wrap; overflow-wrap: anywhere; }
.copy .blank { color: var(--muted); }
.meta {
  display: flex; justify-content: space-between; gap: 8px; margin-top: auto; padding-top: 10px;
  border-top: 1px solid var(--line); color: var(--muted); font-size: 12px;
}
.meta code {
  color: var(--ink); font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas,
    "DejaVu Sans Mono", monospace; overflow-wrap: anywhere;
}
.meta .money { display: flex; flex-wrap: wrap; justify-content: flex-end; gap: 0 8px; }
.meta .cost { color: var(--ink); font-weight: 650; font-variant-numeric: tabular-nums; }
.meta .cost.estimated { color: var(--rejected); text-decoration: underline dashed; }
.meta .estimate { font-variant-numeric: tabular-nums; }
.basis {
  padding: 0 6px; border-radius: 999px; background: var(--rejected-bg); color: var(--rejected);
  font-size: 11px; font-weight: 650; text-transform: uppercase; white-space: nowrap;
}
.verdict {
  display: inline-block; padding: 0 7px; border-radius: 999px; font-size: 11px;
  font-weight: 650; letter-spacing: .02em; text-transform: uppercase; white-space: nowrap;
  background: var(--other-bg); color: var(--other);
}
.verdict.v-pass { background: var(--ok-bg); color: var(--ok); }
.verdict.v-fail { background: var(--failed-bg); color: var(--failed); }
.proof {
  display: flex; flex-direction: column; gap: 6px; padding: 8px 10px;
  border: 1px solid var(--line); border-inline-start: 3px solid var(--other-edge);
  border-radius: 6px; font-size: 13px;
}
.proof.v-pass { border-inline-start-color: var(--ok-edge); }
.proof.v-fail { border-inline-start-color: var(--failed-edge); }
.proof-head { display: flex; flex-wrap: wrap; align-items: center; gap: 4px 8px; margin: 0; }
.proof-head .attempts { color: var(--muted); font-size: 12px; }
.field { display: grid; grid-template-columns: max-content 1fr; gap: 0 10px; }
.field .name { grid-row: span 3; color: var(--muted); font-size: 12px; }
.field .want, .field .got { overflow-wrap: anywhere; white-space: pre-wrap; }
.field .got { color: var(--muted); }
.field .got::before { content: "read: "; }
.field mark { background: var(--failed-bg); color: var(--failed); font-weight: 650;
  text-decoration: underline wavy var(--failed-edge); }
.problems { margin: 0; padding-inline-start: 16px; color: var(--failed); font-size: 12px; }
.review { margin: 0; color: var(--muted); font-size: 12px; overflow-wrap: anywhere; }
.review strong { color: var(--ink); }
.r-approved strong { color: var(--ok); }
.r-rejected strong { color: var(--failed); }
footer { padding: 0 clamp(16px, 4vw, 40px) 24px; color: var(--muted); font-size: 12px; }
@media print {
  body { background: #fff; }
  .filter, .counts label { display: none; }
  .card { break-inside: avoid; box-shadow: none; }
}
"""

_CARD = """<article class="card {{ entry.status|status_class }}\
{{ ' proof-failed' if entry.failed_proof else '' }}\
{{ ' review-pending' if entry.pending else '' }}" \
id="row-{{ entry.row }}" data-row="{{ entry.row }}" data-status="{{ entry.status }}">
  <div class="card-head">
    <h2 class="row"><a href="#row-{{ entry.row }}">Row {{ entry.row }}</a></h2>
    <span class="status">{{ entry.status|label }}</span>
  </div>
{% if entry.images %}
  <div class="shots{{ ' many' if entry.images|length > 1 else '' }}">
{% for image in entry.images %}
    <figure class="shot">
      <a href="{{ image.web|href }}" target="_blank" rel="noopener" class="web">\
<img src="{{ image.thumbnail|href }}" width="{{ box }}" height="{{ box }}" loading="lazy" \
decoding="async" alt="Row {{ entry.row }}, image {{ loop.index }}"></a>
      <figcaption><span>Image {{ loop.index }} \
<span class="verdict v-{{ image.verdict }}">{{ image.verdict }}</span></span>\
<a href="{{ image.original|href }}" target="_blank" rel="noopener" class="original">\
Original</a></figcaption>
    </figure>
{% endfor %}
  </div>
{% else %}
  <p class="empty">No image</p>
{% endif %}
  <div class="body">
{% if entry.status != "succeeded" and entry.reason %}
    <p class="reason" dir="auto">{{ entry.reason }}</p>
{% endif %}
{% if entry.note %}
    <p class="note">{{ entry.note }}</p>
{% endif %}
{% if entry.copy %}
    <dl class="copy">
{% for name, value in entry.copy.items() %}
      <dt>{{ name }}</dt><dd dir="auto"{{ '' if value else ' class="blank"'|safe }}>\
{{ value if value else "(empty)" }}</dd>
{% endfor %}
    </dl>
{% endif %}
{% for image in entry.images %}
    <section class="proof v-{{ image.verdict }}" data-image="{{ loop.index }}" \
aria-label="Image {{ loop.index }}: proof and review">
      <p class="proof-head"><span>Image {{ loop.index }}</span> \
<span class="verdict v-{{ image.verdict }}">{{ image.verdict }}</span> \
<span class="attempts">attempt {{ image.attempt }}{% if image.others %} of {{ image.attempts }}: \
{% for other in image.others %}{% if other.original %}\
<a href="{{ other.original|href }}" target="_blank" rel="noopener" class="attempt" \
data-attempt="{{ other.number }}">#{{ other.number }}</a>{% else %}#{{ other.number }}{% endif %} \
{{ other.verdict or "no image" }}{{ ", " if not loop.last else "" }}{% endfor %}{% endif %}\
</span></p>
{% for field in image.fields %}
{% set failed = field.verdict == fail %}
      <div class="field" data-field="{{ field.name }}"><span class="name">{{ field.name }} \
<span class="verdict v-{{ field.verdict }}">{{ field.verdict }}</span></span>
{# a field that passed has nothing to mark: its text whole, not word by word #}
        <span class="want" dir="auto">{% if failed %}\
{% for piece, odd in field.expected|marked(field.read) %}\
{% if odd %}<mark>{{ piece }}</mark>{% else %}{{ piece }}{% endif %}{% endfor %}\
{% else %}{{ field.expected }}{% endif %}</span>
        <span class="got" dir="auto">{% if failed %}\
{% for piece, odd in field.read|marked(field.expected) %}\
{% if odd %}<mark>{{ piece }}</mark>{% else %}{{ piece }}{% endif %}{% endfor %}\
{% else %}{{ field.read }}{% endif %}{{ "" if field.read else "(nothing)" }}</span>
{% if field.problems %}
        <ul class="problems">{% for problem in field.problems %}<li>{{ problem }}</li>\
{% endfor %}</ul>
{% endif %}
      </div>
{% endfor %}
      <p class="review r-{{ image.review }}">Review: <strong>{{ image.review }}</strong>\
{% if image.review_note %} <span class="review-note" dir="auto">{{ image.review_note }}</span>\
{% endif %}</p>
    </section>
{% endfor %}
    <div class="meta"><code class="template">{{ entry.template }}</code><span class="money">\
{% if entry.spend.estimate is not none %}<span class="estimate" \
title="placard's estimate before the call">est. {{ entry.spend.estimate|usd }}</span>{% endif %}\
<span class="cost{{ ' estimated' if entry.estimated else '' }}">{{ entry.cost_usd|usd }}</span>\
{% if entry.estimated %}<span class="basis" \
title="an answer reported no usage: charged at the estimate">estimated</span>{% endif %}\
</span></div>
  </div>
</article>
"""

_PAGE = (
    """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="generator" content="placard">
<link rel="icon" href="data:,">
<title>{{ campaign }} · {{ upload }} · placard contact sheet</title>
<style>"""
    + _CSS
    + """{% if paged %}
.chip.current { border-color: var(--ink); box-shadow: inset 0 0 0 1px var(--ink); }
a.chip { text-decoration: none; }
.pager { display: flex; flex-wrap: wrap; align-items: center; gap: 6px 16px;
  padding: 12px clamp(16px, 4vw, 40px) 0; color: var(--muted); }
.pages { padding: 12px clamp(16px, 4vw, 40px) 40px; }
.pages section { margin: 0 0 16px; }
.pages h2 { margin: 0 0 6px; font-size: 15px; }
.pages ol { display: flex; flex-wrap: wrap; gap: 6px 12px; margin: 0; padding: 0;
  list-style: none; font-variant-numeric: tabular-nums; }
{% else %}
{% for id, _ in filters %}#show-{{ id }}:checked ~ header [for="show-{{ id }}"],
{% endfor %}
#show-all:checked ~ header [for="show-all"] {
  border-color: var(--ink); box-shadow: inset 0 0 0 1px var(--ink);
}
{% for id, card in filters %}#show-{{ id }}:checked ~ main .card:not(.{{ card }})\
{{ " { display: none; }" if loop.last else "," }}
{% endfor %}
{% endif %}
</style>
</head>
<body>
{#- One page: each count is a radio that filters the cards by CSS. Pages: each count links
    to that filter's first page, so a filter covers the whole upload. -#}
{% macro chip(id, inner, class="chip", data="") %}
{% if paged %}<a class="{{ class }}{{ ' current' if id == paged.current else '' }}" \
href="{{ paged.links[id]|href }}"{{ data }}\
{{ ' aria-current="page"'|safe if id == paged.current else '' }}>{{ inner }}</a>\
{% else %}<label class="{{ class }}" for="show-{{ id }}"{{ data }}>{{ inner }}</label>{% endif %}
{% endmacro %}
{% if not paged %}
<input class="filter" type="radio" name="show" id="show-all" checked aria-label="Show all rows">
{% for status, count in counts if count and status in known %}
<input class="filter" type="radio" name="show" id="show-{{ status }}" \
aria-label="Show only {{ status|label }} rows">
{% endfor %}
{% for id, label, count in reviews if count %}
<input class="filter" type="radio" name="show" id="show-{{ id }}" \
aria-label="Show only rows with {{ label|lower }}">
{% endfor %}
{% endif %}
<header>
  <p class="eyebrow">Contact sheet</p>
  <h1 dir="auto">{{ campaign }}</h1>
  <p class="upload">Upload <bdi dir="auto">{{ upload }}</bdi></p>
  <div class="summary">
    <dl class="figures">
      <div><dt>Rows</dt><dd>{{ row_count }}</dd></div>
      <div><dt>Images</dt><dd>{{ images }}</dd></div>
      <div><dt>Attempts</dt><dd>{{ attempts }}</dd></div>
      <div><dt>Total cost</dt><dd class="total">{{ total|usd }}</dd></div>
    </dl>
{% if spend.estimate is not none or spend.images_estimated %}
    <dl class="spend" aria-label="Estimated and actual cost">
{% if spend.estimate is not none %}
      <div><dt>Estimated</dt><dd class="estimate-total" \
title="placard's estimates of the {{ spend.images_with_estimate }} charged images that kept one">\
{{ spend.estimate|usd }}</dd></div>
      <div><dt>Drift</dt><dd class="drift" title="actual minus estimate over the same images">\
{{ spend.drift_usd|signed_usd }}\
{% if spend.drift_percent is not none %} <small>({{ spend.drift_percent|percent }})</small>\
{% endif %}</dd></div>
{% endif %}
      <div><dt>Charged at an estimate</dt><dd class="estimated-images" \
title="images whose answer reported no usage">{{ spend.images_estimated }}</dd></div>
    </dl>
{% endif %}
    <ul class="counts statuses" aria-label="Rows by status">
      <li>{{ chip("all", "All "|safe ~ ("<b>%d</b>"|format(row_count))|safe) }}</li>
{% for status, count in counts %}
{% set inner %}<span class="dot"></span>{{ status|label|capitalize }} <b>{{ count }}</b>{% endset %}
{% if count and status in known %}
      <li>{{ chip(status, inner, "chip " ~ status|status_class, \
' data-status="%s"'|format(status|e)|safe) }}</li>
{% else %}
      <li><span class="chip {{ status|status_class }}{{ '' if count else ' zero' }}" \
data-status="{{ status }}">{{ inner }}</span></li>
{% endif %}
{% endfor %}
    </ul>
    <ul class="counts reviews" aria-label="Rows by proof and review">
{% for id, label, count in reviews %}
{% set inner %}{{ label }} <b>{{ count }}</b>{% endset %}
{% if count %}
      <li>{{ chip(id, inner, data=' data-filter="%s"'|format(id)|safe) }}</li>
{% else %}
      <li><span class="chip zero" data-filter="{{ id }}">{{ inner }}</span></li>
{% endif %}
{% endfor %}
    </ul>
  </div>
</header>
{% if paged and paged.pages %}
<nav class="pager" aria-label="Pages">\
{% if paged.index %}<a href="{{ paged.index|href }}" class="to-index">All pages</a>{% endif %}
<span class="where">{{ paged.label }}: page {{ paged.page }} of {{ paged.pages }}, \
rows {{ paged.first_row }} to {{ paged.last_row }}</span>\
{% if paged.previous %} <a href="{{ paged.previous|href }}" rel="prev" class="previous">\
Previous</a>{% endif %}\
{% if paged.next %} <a href="{{ paged.next|href }}" rel="next" class="next">Next</a>{% endif %}
</nav>
{% endif %}
{% if paged and paged.lists %}
<div class="pages">
{% for id, label, pages in paged.lists %}
<section data-filter="{{ id }}"><h2>{{ label }}</h2><ol>\
{% for number, first, last, href in pages %}<li><a href="{{ href|href }}">{{ number }}</a> \
<small>rows {{ first }}–{{ last }}</small></li>{% endfor %}</ol></section>
{% endfor %}
</div>
{% else %}
<main>
{% for card in cards %}
{{ card }}
{%- endfor %}
</main>
{% endif %}
<footer>Made by placard. Click a thumbnail for the web-sized image; \
"Original" opens the image as the provider made it.</footer>
</body>
</html>
"""
)
