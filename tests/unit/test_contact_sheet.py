"""The contact sheet: every row of a campaign on one self-contained, safe HTML page."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from html.parser import HTMLParser

import pytest

from placard.domain.ledger_items import LedgerItem, Status
from placard.domain.proofs import FieldProof, Review, Verdict
from placard.domain.spend import Spend
from placard.domain.statuses import RowStatus
from placard.reporting.contact_sheet import STATUSES, Attempt, Entry, Shot, contact_sheet, usd


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    text: str = ""
    children: list[Node] = field(default_factory=list)

    def find_all(self, tag: str, cls: str = "") -> list[Node]:
        found = []
        for child in self.children:
            if child.tag == tag and (not cls or cls in child.attrs.get("class", "").split()):
                found.append(child)
            found.extend(child.find_all(tag, cls))
        return found

    def find(self, tag: str, cls: str = "") -> Node:
        (only,) = self.find_all(tag, cls)
        return only

    @property
    def all_text(self) -> str:
        return self.text + "".join(child.all_text for child in self.children)


_VOID = {"meta", "img", "input", "br", "link", "hr"}


class Tree(HTMLParser):
    """A strict little DOM: fails the test on a mismatched end tag."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {})
        self.stack = [self.root]
        self.feed(html)
        self.close()
        assert self.stack == [self.root], [n.tag for n in self.stack]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in _VOID:
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack[-1].tag == tag, f"</{tag}> closes <{self.stack[-1].tag}>"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        if self.stack[-1].children:
            self.stack[-1].children.append(Node("#text", {}, data))
        else:
            self.stack[-1].text += data


def links(i: int) -> Shot:
    return Shot(
        thumbnail=f"images/job-{i}/0.thumb.webp",
        web=f"images/job-{i}/0.web.webp",
        original=f"images/job-{i}/0.png",
    )


def entry(row: int, status: str = RowStatus.SUCCEEDED, **changes: object) -> Entry:
    values: dict[str, object] = {
        "row": row,
        "status": status,
        "template": "launch-poster",
        "copy": {"product": "Lumen lamp", "headline": f"Headline {row}", "cta": "Buy now"},
        "cost_usd": Decimal("0.028") if status == "succeeded" else Decimal(0),
        "reason": "" if status == "succeeded" else f"why row {row} did not make it",
        "images": [links(row)] if status == "succeeded" else [],
    }
    values.update(changes)
    return Entry(**values)  # type: ignore[arg-type]


def page(entries: list[Entry], campaign: str = "summer", upload: str = "summer.csv") -> Node:
    data = contact_sheet(campaign, upload, entries)
    assert isinstance(data, bytes)
    return Tree(data.decode("utf-8")).root


def cards(root: Node) -> list[Node]:
    return root.find_all("article", "card")


# --------------------------------------------------------------------------- escaping


HOSTILE = [
    "<script>alert('copy')</script>",
    '"><img src=x onerror=alert(1)>',
    "{{ 7*7 }} {% raw %}",
    "Tom & Jerry's </dd></dl></article> <b>bold</b>",
]


def test_hostile_copy_is_shown_as_text_never_markup() -> None:
    # Given rows whose copy, reason, template, campaign and upload are hostile markup
    entries = [
        entry(
            i + 2,
            "failed",
            copy={"headline": text, "cta": text},
            reason=text,
            template=text,
        )
        for i, text in enumerate(HOSTILE)
    ]
    # When the contact sheet is rendered
    html = contact_sheet(HOSTILE[0], HOSTILE[1], entries).decode()
    root = Tree(html).root
    # Then no script, image or bold element was smuggled in, and no attribute handler
    assert not root.find_all("script")
    assert all(b.all_text.isdigit() for b in root.find_all("b"))  # only the header's counts
    assert not root.find_all("img")
    assert not re.search(r"<[^>]*\sonerror=", html)
    # And every hostile string reads back exactly, as text, where it was put
    assert len(cards(root)) == len(HOSTILE)
    for card, text in zip(cards(root), HOSTILE, strict=True):
        values = [dd.all_text for dd in card.find_all("dd")]
        assert values == [text, text]
        assert card.find("p", "reason").all_text == text
        assert card.find("code", "template").all_text == text
    assert root.find("h1").all_text == HOSTILE[0]
    assert root.find("bdi").all_text == HOSTILE[1]


def test_hrefs_are_attribute_escaped_and_cannot_run_script() -> None:
    # Given links with quotes and ampersands (a presigned URL), and a folder named like a scheme
    presigned = 'https://assets.example/a/0.web.webp?X-Amz-Signature=ab"cd&X-Amz-Expires=600'
    image = Shot(
        thumbnail="javascript:alert(1)//0.thumb.webp",
        web=presigned,
        original="data:text/html,<script>alert(1)</script>",
    )
    # When the contact sheet is rendered
    root = page([entry(2, images=[image])])
    (shot,) = root.find_all("figure", "shot")
    # Then each href reads back exactly as given when safe, and made relative when not
    assert shot.find("a", "web").attrs["href"] == presigned
    assert shot.find("img").attrs["src"] == "./javascript:alert(1)//0.thumb.webp"
    assert shot.find("a", "original").attrs["href"].startswith("./data:")
    # And no other attribute appeared from the quote
    assert set(shot.find("a", "web").attrs) == {"href", "target", "rel", "class"}


# --------------------------------------------------------------------------- content


def test_every_entry_has_a_card_in_row_order_with_its_details() -> None:
    # Given rows in every status, out of order, one with three images
    three = [links(40), links(41), links(42)]
    entries = [
        entry(9, RowStatus.REJECTED, reason="headline: is 52 characters; the limit is 40"),
        entry(3),
        entry(7, RowStatus.OVER_BUDGET, reason="the campaign budget of $5.00 would be exceeded"),
        entry(4, images=three, cost_usd=Decimal("0.0216")),
        entry(5, RowStatus.FAILED, reason="the image service timed out"),
    ]
    # When the contact sheet is rendered
    root = page(entries)
    # Then there is one card per row, sorted by row number, each naming its row and status
    found = cards(root)
    assert [c.attrs["data-row"] for c in found] == ["3", "4", "5", "7", "9"]
    for card, row in zip(found, [3, 4, 5, 7, 9], strict=True):
        assert card.find("h2").all_text == f"Row {row}"
        assert card.attrs["id"] == f"row-{row}"
        assert card.find("code", "template").all_text == "launch-poster"
        copy = dict(
            zip(
                [dt.all_text for dt in card.find_all("dt")],
                [dd.all_text for dd in card.find_all("dd")],
                strict=True,
            )
        )
        assert copy == {"product": "Lumen lamp", "headline": f"Headline {row}", "cta": "Buy now"}
    # And each image is a lazy thumbnail of fixed box size linking to its web copy, with its
    # original beside it
    shots = found[1].find_all("figure", "shot")
    assert len(shots) == 3
    for shot, image in zip(shots, three, strict=True):
        img = shot.find("img")
        assert img.attrs["src"] == image.thumbnail
        assert img.attrs["loading"] == "lazy"
        assert img.attrs["width"] == img.attrs["height"] == "320"
        assert img.attrs["alt"]
        assert shot.find("a", "web").attrs["href"] == image.web
        assert shot.find("a", "original").attrs["href"] == image.original
    # And rows without images say so instead of showing a broken picture
    assert found[2].find("p", "empty").all_text == "No image"
    assert len(root.find_all("img")) == 4


def test_statuses_are_visibly_distinguished_and_reasons_shown_only_when_not_succeeded() -> None:
    # Given one row of each status, the succeeded one with a leftover reason
    entries = [entry(i + 2, status) for i, status in enumerate(STATUSES)]
    entries[0] = entry(2, reason="stale note")
    # When the contact sheet is rendered
    root = page(entries)
    # Then each card's class and badge name its status, each class different
    classes = []
    for card, status in zip(cards(root), STATUSES, strict=True):
        assert card.attrs["data-status"] == status
        assert f"s-{status}" in card.attrs["class"].split()
        assert card.find("span", "status").all_text == status.replace("_", " ")
        classes.append(card.attrs["class"])
        reasons = card.find_all("p", "reason")
        if status == "succeeded":
            assert not reasons
        else:
            assert [r.all_text for r in reasons] == [
                f"why row {card.attrs['data-row']} did not make it"
            ]
    assert len(set(classes)) == len(STATUSES)
    # And the stylesheet gives each status its own colours
    style = root.find("style").all_text
    for status in STATUSES:
        assert f".s-{status} {{" in style


def test_header_counts_by_status_and_totals_in_decimal() -> None:
    # Given 10 low-quality images at $0.0072, one at $0.077 over two images, and failures
    entries = [entry(i + 2, cost_usd=Decimal("0.0072")) for i in range(10)]
    entries.append(entry(12, images=[links(12), links(13)], cost_usd=Decimal("0.154")))
    entries += [entry(13, RowStatus.FAILED), entry(14, RowStatus.FAILED)]
    entries.append(entry(15, RowStatus.OVER_BUDGET))
    # When the contact sheet is rendered
    root = page(entries, campaign="summer-2026", upload="stores.xlsx")
    # Then the header names the campaign and upload
    assert root.find("h1").all_text == "summer-2026"
    assert root.find("bdi").all_text == "stores.xlsx"
    assert "summer-2026" in root.find("title").all_text
    # And counts every status, zero ones too
    chips = {c.attrs["data-status"]: c.find("b").all_text for c in _chips(root)}
    assert chips == {
        "succeeded": "11",
        "failed": "2",
        "rejected": "0",
        "over_budget": "1",
        "needs_review": "0",
    }
    # And the total is exact: 10 x 0.0072 + 0.154 = 0.226, not a float's 0.22599999
    assert root.find("dd", "total").all_text == "$0.226"
    figures = [dd.all_text for dd in root.find("dl", "figures").find_all("dd")]
    assert figures == ["14", "12", "12", "$0.226"]  # rows, images, attempts, cost
    # And each card shows its own cost to four places at most
    assert cards(root)[0].find("span", "cost").all_text == "$0.0072"
    assert cards(root)[-1].find("span", "cost").all_text == "$0.00"


def _chips(root: Node) -> list[Node]:
    counts = root.find("ul", "statuses")
    return [
        c for c in counts.find_all("label") + counts.find_all("span") if "data-status" in c.attrs
    ]


def test_unknown_status_is_counted_and_shown_neutrally() -> None:
    # Given a row in a status the sheet does not know
    root = page([entry(2), entry(3, "cancelled", reason="stopped by the user")])
    # When rendered, Then it is counted and styled as "other", with its reason
    chips = {c.attrs["data-status"]: c.find("b").all_text for c in _chips(root)}
    assert chips["cancelled"] == "1"
    card = cards(root)[1]
    assert "s-other" in card.attrs["class"].split()
    assert card.find("p", "reason").all_text == "stopped by the user"


def test_empty_campaign_renders() -> None:
    # Given no rows, When rendered, Then a valid page with zero counts and cost
    root = page([])
    assert not cards(root)
    assert root.find("dd", "total").all_text == "$0.00"


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        ("0", "$0.00"),
        ("0.0072", "$0.0072"),
        ("0.028", "$0.028"),
        ("0.077", "$0.077"),
        ("0.5", "$0.50"),
        ("12", "$12.00"),
        ("1234.5", "$1,234.50"),
        ("0.00005", "$0.0001"),
        ("0.123456", "$0.1235"),
        ("-0.028", "-$0.028"),
    ],
)
def test_usd_prints_two_to_four_decimals(amount: str, text: str) -> None:
    # Given an amount, When printed, Then two to four decimals, never float noise
    assert usd(Decimal(amount)) == text


# --------------------------------------------------------------------------- text and page


def test_rtl_and_emoji_copy_is_intact_and_auto_directed() -> None:
    # Given copy in Arabic and Hebrew, with emoji, combining marks and a ZWJ family
    copy = {
        "headline": "تخفيضات الصيف 🎉",
        "cta": "קנו עכשיו!",
        "product": "Café 👨‍👩‍👧 naïve",
        "message": "Line one\nLine two",
    }
    # When the contact sheet is rendered
    data = contact_sheet("حملة الصيف", "לקוחות.csv", [entry(2, copy=copy)])
    root = Tree(data.decode("utf-8")).root
    # Then it is UTF-8 and declares so, and every value reads back unchanged
    assert root.find_all("meta")[0].attrs == {"charset": "utf-8"}
    dds = cards(root)[0].find_all("dd")
    assert [dd.all_text for dd in dds] == list(copy.values())
    # And each value takes its own direction from its text
    assert all(dd.attrs["dir"] == "auto" for dd in dds)
    assert root.find("h1").attrs["dir"] == "auto"
    assert root.find("h1").all_text == "حملة الصيف"
    assert root.find("bdi").all_text == "לקוחות.csv"


def test_page_is_self_contained() -> None:
    # Given a campaign
    html = contact_sheet("summer", "summer.csv", [entry(2), entry(3, "failed")]).decode()
    root = Tree(html).root
    # When its resources are listed, Then nothing comes from elsewhere and nothing runs
    assert not root.find_all("script")
    # (the only link: an empty icon, so browsers do not ask the bucket for /favicon.ico)
    assert [n.attrs for n in root.find_all("link")] == [{"rel": "icon", "href": "data:,"}]
    assert "@import" not in html and "url(" not in html
    assert not re.search(r"\son[a-z]+=", html)
    for node in root.find_all("img") + root.find_all("a"):
        target = node.attrs.get("src") or node.attrs.get("href", "")
        assert not target.startswith(("http:", "https:", "//")), target
    # And it is laid out for any screen
    viewport = [m for m in root.find_all("meta") if m.attrs.get("name") == "viewport"]
    assert viewport and "width=device-width" in viewport[0].attrs["content"]
    assert "auto-fill" in root.find("style").all_text


def test_same_entries_same_bytes() -> None:
    # Given the same rows twice, in different orders, When rendered, Then identical bytes
    rows = [entry(3), entry(2, "failed"), entry(4)]
    assert contact_sheet("c", "u.csv", rows) == contact_sheet("c", "u.csv", iter(rows[::-1]))


# --------------------------------------------------------------------------- proofs and reviews


def misread_shot(row: int, **changes: object) -> Shot:
    """A delivered third attempt whose headline still reads wrong; the two before it failed."""
    values: dict[str, object] = {
        "thumbnail": f"images/job-{row}/0-3.thumb.webp",
        "web": f"images/job-{row}/0-3.web.webp",
        "original": f"images/job-{row}/0-3.png",
        "verdict": Verdict.FAIL,
        "fields": (
            FieldProof(
                "headline",
                "Summer Sale $4.50",
                Verdict.FAIL,
                read="SUMMER Sale $4.80",
                problems=("$4.80 where $4.50",),
            ),
            FieldProof("cta", "Buy now", Verdict.PASS, read="BUY NOW"),
        ),
        "attempt": 3,
        "others": (
            Attempt(1, Verdict.FAIL, f"images/job-{row}/0.png"),
            Attempt(2, Verdict.FAIL, f"images/job-{row}/0-2.png"),
        ),
    }
    values.update(changes)
    return Shot(**values)  # type: ignore[arg-type]


def test_each_image_shows_its_verdict_what_was_read_and_the_words_that_differ() -> None:
    # Given a row delivered after three attempts whose headline's price was read wrong
    root = page([entry(2, RowStatus.NEEDS_REVIEW, images=[misread_shot(2)])])
    # When its card's proof is read
    [card] = cards(root)
    proof = card.find("section", "proof")
    # Then the image's verdict is shown on the thumbnail and on its proof
    assert card.find("figcaption").find("span", "verdict").all_text == "fail"
    assert "v-fail" in proof.attrs["class"].split()
    # And each field's copy sits next to what was read, the differing words marked
    headline, cta = proof.find_all("div", "field")
    assert headline.find("span", "want").all_text == "Summer Sale $4.50"
    assert headline.find("span", "got").all_text == "SUMMER Sale $4.80"
    assert [m.all_text for m in headline.find("span", "want").find_all("mark")] == ["$4.50"]
    assert [m.all_text for m in headline.find("span", "got").find_all("mark")] == ["$4.80"]
    assert [li.all_text for li in headline.find_all("li")] == ["$4.80 where $4.50"]
    # And a passing field, read in other case, has nothing marked
    assert cta.find("span", "verdict").all_text == "pass" and not cta.find_all("mark")
    # And the attempts are counted, the earlier originals linked
    attempts = proof.find("span", "attempts")
    assert attempts.all_text.startswith("attempt 3 of 3")
    assert [a.attrs["href"] for a in attempts.find_all("a")] == [
        "images/job-2/0.png",
        "images/job-2/0-2.png",
    ]


def test_review_state_and_note_are_shown_per_image() -> None:
    # Given one image rejected with a note, and one nobody has looked at
    rejected = misread_shot(2, review=Review.REJECTED, review_note="the price must be $4.50")
    root = page([entry(2, images=[rejected]), entry(3)])
    # When the cards are read
    first, second = (card.find("p", "review") for card in cards(root))
    # Then each says its review state, the rejection with its note
    assert first.find("strong").all_text == "rejected"
    assert first.find("span", "review-note").all_text == "the price must be $4.50"
    assert second.find("strong").all_text == "pending" and not second.find_all("span")


def test_needs_review_failed_proof_and_pending_review_are_filters() -> None:
    # Given a row needing review, a row whose first attempt failed then passed (approved),
    # and a row that passed at once and is pending
    fixed = misread_shot(
        3, verdict=Verdict.PASS, fields=(), others=(Attempt(1, Verdict.FAIL),),
        review=Review.APPROVED,
    )  # fmt: skip
    entries = [entry(2, RowStatus.NEEDS_REVIEW, images=[misread_shot(2)]), entry(3, images=[fixed])]
    entries.append(entry(4, images=[links(4)]))
    # When the contact sheet is rendered
    root = page(entries)
    # Then the needs-review count is a status filter like the others
    statuses = {c.attrs["data-status"]: c for c in _chips(root)}
    assert statuses["needs_review"].tag == "label"
    assert statuses["needs_review"].attrs["for"] == "show-needs_review"
    assert statuses["needs_review"].find("b").all_text == "1"
    # And failed proof (any attempt) and pending review are counted and clickable
    reviews = root.find("ul", "reviews").find_all("label")
    assert {c.attrs["for"]: c.find("b").all_text for c in reviews} == {
        "show-proof-failed": "2",
        "show-review-pending": "2",
    }
    ids = {i.attrs["id"] for i in root.find_all("input")}
    assert {"show-needs_review", "show-proof-failed", "show-review-pending"} <= ids
    # And each card carries the classes those filters show
    classes = [set(card.attrs["class"].split()) for card in cards(root)]
    assert [("proof-failed" in c, "review-pending" in c) for c in classes] == [
        (True, True),
        (True, False),
        (False, True),
    ]
    # And the stylesheet hides every other card for each filter
    style = root.find("style").all_text
    for id_, card in [("needs_review", "s-needs_review"), ("proof-failed", "proof-failed")]:
        assert f"#show-{id_}:checked ~ main .card:not(.{card})" in style
    # And the header counts every attempt
    figures = [dd.all_text for dd in root.find("dl", "figures").find_all("dd")]
    assert figures[:3] == ["3", "3", "6"]


def test_what_was_read_and_notes_are_text_never_markup() -> None:
    # Given an image whose read text, problems and review note are hostile markup
    hostile = HOSTILE[1]
    shot = misread_shot(
        2,
        fields=(FieldProof("headline", hostile, Verdict.FAIL, read=hostile, problems=(hostile,)),),
        review_note=hostile,
        others=(Attempt(1, Verdict.FAIL, "javascript:alert(1)"),),
    )
    # When the contact sheet is rendered
    html = contact_sheet("c", "u", [entry(2, images=[shot])]).decode()
    root = Tree(html).root
    # Then only the thumbnail is an image, no handler appeared, the text reads back as given
    assert len(root.find_all("img")) == 1 and not re.search(r"<[^>]*\sonerror=", html)
    field_ = root.find("div", "field")
    assert field_.find("span", "want").all_text == hostile
    assert field_.find("span", "got").all_text == hostile
    assert root.find("span", "review-note").all_text == hostile
    # And an earlier attempt's link cannot run script
    assert root.find("a", "attempt").attrs["href"] == "./javascript:alert(1)"


# --------------------------------------------------------------------------- estimate and bill


def spend(cost: str, estimate: str, estimated: bool = False) -> Spend:
    """One image charged `cost` at OpenAI's token prices (or, estimated, at its reservation),
    placard having estimated `estimate` before the call ("0": none kept)."""
    item = LedgerItem(
        "summer", "j", 0, "launch-poster", "v1", "openai", "gpt-image-2", "medium", "1024x1536",
        Decimal(estimate), Decimal(cost), Status.CHARGED, "", "", estimate_usd=Decimal(estimate),
        estimated=estimated, token_prices={} if estimated else {"image_output": "30.00"},
    )  # fmt: skip
    return Spend.of([item])


def test_the_header_gives_the_estimate_the_drift_and_the_images_charged_at_an_estimate() -> None:
    # Given three billed rows, one of whose answers reported no usage
    entries = [
        entry(2, cost_usd=Decimal("0.041372"), spend=spend("0.041372", "0.0412")),
        entry(3, cost_usd=Decimal("0.2300"), spend=spend("0.2300", "0.2107")),
        entry(4, cost_usd=Decimal("0.0556"), spend=spend("0.0556", "0.0412", estimated=True)),
    ]
    # When the contact sheet is rendered
    root = page(entries)
    # Then the actual total stands with the campaign's figures, as before
    assert root.find("dd", "total").all_text == "$0.327"
    # And beside it the estimate, the drift in USD and as a share of the estimate, and how
    # many images were charged at an estimate: 0.326972 - 0.2931 = 0.033872, +11.6%
    costs = root.find("dl", "spend")
    assert costs.find("dd", "estimate-total").all_text == "$0.2931"
    assert costs.find("dd", "drift").all_text == "+$0.0339 (+11.6%)"
    assert costs.find("dd", "estimated-images").all_text == "1"


def test_a_drift_below_the_estimate_is_negative_and_rows_without_one_are_left_out() -> None:
    # Given a row billed under its estimate, and one made before estimates were kept
    entries = [
        entry(2, cost_usd=Decimal("0.0400"), spend=spend("0.0400", "0.0412")),
        entry(3, cost_usd=Decimal("0.0500"), spend=spend("0.0500", "0")),
    ]
    # When rendered, Then the drift covers the first row only: -0.0012 of 0.0412
    costs = page(entries).find("dl", "spend")
    assert costs.find("dd", "estimate-total").all_text == "$0.0412"
    assert costs.find("dd", "drift").all_text == "-$0.0012 (-2.9%)"
    assert costs.find("dd", "estimated-images").all_text == "0"


def test_without_any_estimate_the_header_shows_no_estimate_figures() -> None:
    # Given rows of flat prices made before estimates were kept (or free drafts)
    root = page([entry(2), entry(3)])
    # Then there is no estimate, drift or count to show, and no card shows an estimate
    assert not root.find_all("dl", "spend")
    assert not root.find_all("span", "estimate") and not root.find_all("span", "basis")


def test_each_card_shows_its_estimate_beside_its_cost_and_marks_a_cost_at_an_estimate() -> None:
    # Given a row billed by usage and a row whose answer reported none
    entries = [
        entry(2, cost_usd=Decimal("0.041372"), spend=spend("0.041372", "0.0412")),
        entry(3, cost_usd=Decimal("0.0556"), spend=spend("0.0556", "0.0412", estimated=True)),
    ]
    # When rendered
    billed, guessed = cards(page(entries))
    # Then each shows its estimate beside its cost
    assert billed.find("span", "estimate").all_text == "est. $0.0412"
    assert billed.find("span", "cost").all_text == "$0.0414"
    assert guessed.find("span", "estimate").all_text == "est. $0.0412"
    # And only the cost charged at an estimate is marked, by class and by word
    assert "estimated" not in billed.find("span", "cost").attrs["class"].split()
    assert not billed.find_all("span", "basis")
    assert "estimated" in guessed.find("span", "cost").attrs["class"].split()
    assert guessed.find("span", "basis").all_text == "estimated"
    # And the stylesheet makes the mark visible
    assert ".meta .cost.estimated {" in page(entries).find("style").all_text
