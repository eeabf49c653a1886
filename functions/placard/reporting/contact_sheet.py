"""`index.html`: a contact sheet to review a campaign in a browser.

One card per spreadsheet row: its row number, status (succeeded, failed, rejected,
over_budget; by colour and by word), the template, the copy that went into it, what it cost
and, when it did not succeed, why. Each thumbnail opens the web-sized image; a link beside it
opens the provider's original. A header names the campaign and the upload, counts the rows by
status (click a count to show only those rows) and gives the campaign's total cost.

The page is one self-contained file: inline CSS, no scripts, fonts or anything else from
elsewhere, so it works from a local folder, from S3 behind presigned URLs, and offline.
Everything a user wrote (copy, names, reasons) is escaped by Jinja's autoescape, and hrefs
are escaped as attributes; an href that is neither http(s) nor relative is made relative,
so no campaign name can turn a link into `javascript:`. Same entries, same bytes.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import cache

from jinja2 import Environment, StrictUndefined, Template

from placard.domain.statuses import RowStatus

STATUSES: tuple[RowStatus, ...] = tuple(RowStatus)  # each with its colour, in this order
THUMB_BOX: int = 320  # the thumbnails' box, px: derivatives.THUMB_EDGE

_FOUR_PLACES = Decimal("0.0001")
_SCHEME = re.compile(r"^\s*([A-Za-z][A-Za-z0-9+.\-]*):")
_SAFE_SCHEMES = frozenset({"http", "https"})


@dataclass(frozen=True)
class ImageLinks:
    thumbnail: str  # href (relative path locally, presigned URL on AWS)
    web: str
    original: str


@dataclass(frozen=True)
class Entry:
    row: int
    status: RowStatus  # another word still renders, in neutral grey
    template: str
    copy: Mapping[str, str]
    cost_usd: Decimal
    reason: str
    images: Sequence[ImageLinks]
    note: str = ""  # e.g. the same job as an earlier row, whose cost is counted there


def contact_sheet(campaign: str, upload: str, entries: Iterable[Entry]) -> bytes:
    """The contact sheet as UTF-8 HTML, cards in row order (entries with the same row keep
    their order). Hrefs are used as given: the caller URL-encodes paths and signs URLs."""
    rows = sorted(entries, key=lambda entry: entry.row)
    counts = Counter(entry.status for entry in rows)
    statuses = [*STATUSES, *sorted(set(counts) - set(STATUSES))]
    total = sum((entry.cost_usd for entry in rows), Decimal(0))
    html = _template().render(
        campaign=campaign,
        upload=upload,
        rows=rows,
        counts=[(status, counts[status]) for status in statuses],
        total=total,
        images=sum(len(entry.images) for entry in rows),
        known=STATUSES,
        box=THUMB_BOX,
    )
    return html.encode("utf-8")


def usd(amount: Decimal) -> str:
    """ "$0.0072", "$0.028", "$1.50", "$1,234.00": rounded to four decimal places, then
    trailing zeros dropped down to two."""
    text = f"{amount.quantize(_FOUR_PLACES, rounding=ROUND_HALF_UP):,.4f}"
    text = text.rstrip("0")
    whole, _, fraction = text.partition(".")
    text = f"{whole}.{fraction.ljust(2, '0')}"
    return f"-${text[1:]}" if text.startswith("-") else f"${text}"


def _href(value: str) -> str:
    """http(s) and relative hrefs as given; any other scheme (javascript:, data:, a
    campaign folder named "x:") made a relative path, so it cannot run anything."""
    match = _SCHEME.match(value)
    if match and match.group(1).lower() not in _SAFE_SCHEMES:
        return "./" + value.lstrip()
    return value


def _status_class(status: str) -> str:
    return f"s-{status}" if status in STATUSES else "s-other"


def _status_label(status: str) -> str:
    return status.replace("_", " ")


@cache
def _template() -> Template:
    env = Environment(
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(usd=usd, href=_href, status_class=_status_class, label=_status_label)
    return env.from_string(_PAGE)


_CSS = """
:root {
  color-scheme: light;
  --ink: #1c2430; --muted: #5b6677; --line: #e3e7ee; --page: #f5f7fa; --card: #fff;
  --accent: #2f5bd3;
  --ok: #166534; --ok-bg: #dcfce7; --ok-edge: #22c55e;
  --failed: #991b1b; --failed-bg: #fee2e2; --failed-edge: #ef4444;
  --rejected: #92400e; --rejected-bg: #fef3c7; --rejected-edge: #f59e0b;
  --budget: #5b21b6; --budget-bg: #ede9fe; --budget-edge: #8b5cf6;
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
.figures { display: flex; gap: 24px; margin: 0; }
.figures div { display: flex; flex-direction: column; }
.figures dt { color: var(--muted); font-size: 12px; }
.figures dd { margin: 0; font-size: 20px; font-weight: 650; font-variant-numeric: tabular-nums; }
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
#show-all:checked ~ header [for="show-all"],
#show-succeeded:checked ~ header [for="show-succeeded"],
#show-failed:checked ~ header [for="show-failed"],
#show-rejected:checked ~ header [for="show-rejected"],
#show-over_budget:checked ~ header [for="show-over_budget"] {
  border-color: var(--ink); box-shadow: inset 0 0 0 1px var(--ink);
}
.filter:focus-visible ~ header .counts { outline: 2px solid var(--accent); outline-offset: 4px;
  border-radius: 999px; }
#show-succeeded:checked ~ main .card:not(.s-succeeded),
#show-failed:checked ~ main .card:not(.s-failed),
#show-rejected:checked ~ main .card:not(.s-rejected),
#show-over_budget:checked ~ main .card:not(.s-over_budget) { display: none; }
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
  display: flex; justify-content: space-between; gap: 8px; padding: 4px 10px;
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
.meta .cost { color: var(--ink); font-weight: 650; font-variant-numeric: tabular-nums; }
footer { padding: 0 clamp(16px, 4vw, 40px) 24px; color: var(--muted); font-size: 12px; }
@media print {
  body { background: #fff; }
  .filter, .counts label { display: none; }
  .card { break-inside: avoid; box-shadow: none; }
}
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
    + """</style>
</head>
<body>
<input class="filter" type="radio" name="show" id="show-all" checked aria-label="Show all rows">
{% for status, count in counts if count and status in known %}
<input class="filter" type="radio" name="show" id="show-{{ status }}" \
aria-label="Show only {{ status|label }} rows">
{% endfor %}
<header>
  <p class="eyebrow">Contact sheet</p>
  <h1 dir="auto">{{ campaign }}</h1>
  <p class="upload">Upload <bdi dir="auto">{{ upload }}</bdi></p>
  <div class="summary">
    <dl class="figures">
      <div><dt>Rows</dt><dd>{{ rows|length }}</dd></div>
      <div><dt>Images</dt><dd>{{ images }}</dd></div>
      <div><dt>Total cost</dt><dd class="total">{{ total|usd }}</dd></div>
    </dl>
    <ul class="counts" aria-label="Rows by status">
      <li><label class="chip" for="show-all">All <b>{{ rows|length }}</b></label></li>
{% for status, count in counts %}
{% set inner %}<span class="dot"></span>{{ status|label|capitalize }} <b>{{ count }}</b>{% endset %}
{% if count and status in known %}
      <li><label class="chip {{ status|status_class }}" for="show-{{ status }}" \
data-status="{{ status }}">{{ inner }}</label></li>
{% else %}
      <li><span class="chip {{ status|status_class }}{{ '' if count else ' zero' }}" \
data-status="{{ status }}">{{ inner }}</span></li>
{% endif %}
{% endfor %}
    </ul>
  </div>
</header>
<main>
{% for entry in rows %}
<article class="card {{ entry.status|status_class }}" id="row-{{ entry.row }}" \
data-row="{{ entry.row }}" data-status="{{ entry.status }}">
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
      <figcaption><span>Image {{ loop.index }}</span>\
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
    <div class="meta"><code class="template">{{ entry.template }}</code>\
<span class="cost">{{ entry.cost_usd|usd }}</span></div>
  </div>
</article>
{% endfor %}
</main>
<footer>Made by placard. Click a thumbnail for the web-sized image; \
"Original" opens the image as the provider made it.</footer>
</body>
</html>
"""
)
