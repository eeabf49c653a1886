"""How often the proof is right, over many drafts of every built-in generate template:
correct drafts it fails, and misspelt drafts it passes (issue #14's target: none of the
misspelt passed, at most 1 in 100 of the correct failed).

Per template, N rows of varied, realistic copy (prices in $, €, £ and %, dates, German and
French accents, mixed case; optional fields filled about half the time; every value within
its variable's max_length) are drawn by the draft renderer at the template's default size,
1024x1024, 1024x1536 and 1536x1024 in turn. Each row is drawn twice: as written, and with
one slip the emulator makes (placard_emulator.lettering: a letter, a digit, a line or a
currency sign, always one a reader could see). Both are read by the proof function's reader
and judged by read_back against the row's copy, the one way the product checks an image.

One process, one onnxruntime thread (as in the proof function): under a second of CPU a
read, so the defaults (6 templates x 20 rows x 2 drafts) take a few minutes. Seeded: a run repeats.

    python bench/proof_accuracy.py [--per-template N] [--seed S] [--template NAME ...]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

# One thread, as the proof function reads (its Lambda has one vCPU); set before numpy loads.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("PLACARD_OCR_THREADS", "1")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "functions"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "emulator"))

from placard.domain.jobs import Mode
from placard.domain.proofs import Proof, ReadLine, Verdict
from placard.domain.templates import Template, Variable, default_catalogue
from placard.proofing.check import read_back
from placard.proofing.reader import OnnxReader
from placard.providers.draft_render import render_generate
from placard_emulator.lettering import KINDS, misspell

# Copy by variable name; "template.variable" where a template means something else by it.
POOLS: dict[str, tuple[str, ...]] = {
    "headline": (
        "Run Past Sunrise",
        "Built for Mud",
        "Summer in a Can",
        "Cold. Smooth. Yours.",
        "Weatherproof Weekends ☔",
        "The Big Autumn Sale",
        "Grüße aus Köln",
        "Crème de la Crème",
        "Zero Sugar, Full Taste",
        "Sleep Like Never Before",
        "Bonjour Printemps",
        "Hello, Weekend!",
        "Das Beste vom Markt",
        "Élégance Naturelle",
        "Save 40% This Week",
        "Fresh Every Morning",
        "Über 100 Neue Farben",
        "Prêt pour l'été",
    ),
    "product": (
        "Aurora trail shoe",
        "Café Lumière cold brew",
        "Nimbus rain jacket",
        "Halo desk lamp",
        "Fjällräven-style daypack",
    ),
    "cta": (
        "Pre-order now",
        "Find your size",
        "Order ahead",
        "Shop the drop",
        "Book a table",
        "Jetzt kaufen",
        "Découvrir",
        "Sign up free",
        "Tap to order",
        "Réservez dès maintenant",
    ),
    "tagline": (
        "Grip that holds on wet rock",
        "Brewed slow, served cold",
        "Handmade in Lyon since 1962",
        "Für jeden Tag gemacht",
        "From our farm to your table, 7 days a week",
        "Designed in Oslo, built to last 10 years",
        "Taste the difference in every sip",
        "Légère, chaude et fabriquée en France",
    ),
    "offer": (
        "2 for €5",
        "-30%",
        "Save $10",
        "Only £4.99",
        "Buy 1 Get 1",
        "20% off",
        "€2 off",
        "3 for $12",
        "Ab 9,99 €",
    ),
    "event_name": (
        "Harbour Lights Festival",
        "Jazz on the Lawn",
        "Midnight Market",
        "Oktoberfest München",
        "Fête de la Musique",
        "City Half Marathon 2026",
        "Weihnachtsmarkt am Dom",
    ),
    "date": (
        "Sat 12 June 2026, 7pm",
        "12/05/2026",
        "3–5 October",
        "Friday 14 August, 18:00",
        "June 21, 2026",
        "14.09.2026",
        "Sun 1 March, 10am–4pm",
        "Samedi 21 juin à 20h",
        "31 Dec 2026, 21:00",
    ),
    "venue": (
        "Pier 4, Bristol",
        "Central Park Bandshell",
        "Halle 7, Messe Köln",
        "Le Bataclan, Paris",
        "The Corn Exchange",
        "Unit 12, Canal Street",
        "Place de la Concorde",
    ),
    "event-poster.cta": (
        "Tickets at harbourlights.org",
        "Free entry",
        "Tickets from £15",
        "RSVP by 1 June",
        "Eintritt frei",
        "Entrée 12 €",
    ),
    "store_name": (
        "Bäckerei Müller",
        "Café Lumière",
        "Nimbus Outdoor",
        "Fleur & Co.",
        "Librairie Étoile",
        "Bob's Bikes",
        "Salt & Pepper Deli",
        "Corner Books",
    ),
    "message": (
        "Frische Brötchen ab 6 Uhr",
        "Now open on Sundays",
        "Everything must go",
        "Soldes jusqu'à -50%",
        "Coffee to go, 7 days a week",
        "Closed for refit until 3 May",
        "Fresh flowers daily from £5",
        "Back in stock",
    ),
    "hours": (
        "Mo–Sa 6:00–18:00",
        "Open 9am–5pm",
        "Mon–Fri 8–20",
        "Daily 10:00–22:00",
        "Tue–Sun 11am–7pm",
        "Lun–Sam 9h–19h",
    ),
    "shelf-price-sign.product": (
        "Organic Whole Milk 1L",
        "Free Range Eggs x12",
        "Sourdough Loaf",
        "Greek Yoghurt 500g",
        "Crème Fraîche 200ml",
        "Bio Äpfel",
        "Espresso Beans 1kg",
        "Pain de Campagne",
    ),
    "price": ("$4.50", "€2,99", "£1.25", "$12.00", "€0.89", "£10", "€14,95", "99p", "$7.99"),
    "unit": ("$1.13/qt", "per kg", "€5,98/kg", "each", "£0.63/100g", "$0.37 each"),
    "promo": (
        "Buy 2, save 10%",
        "Price drop!",
        "2 for $8",
        "Members save 15%",
        "Half price",
        "Angebot der Woche",
        "Was $5.49",
    ),
}
# For a variable no pool knows (a template added later): plain copy, cut to fit.
FALLBACK = ("New season, new colours", "Limited edition", "Ask us in store", "Made to last")
SIZES: tuple[tuple[int, int] | None, ...] = (None, (1024, 1024), (1024, 1536), (1536, 1024))


def value_for(template: Template, variable: Variable, rng: random.Random) -> str:
    """A realistic value within the variable's max_length, in mixed case now and then."""
    pool = POOLS.get(f"{template.name}.{variable.name}") or POOLS.get(variable.name) or FALLBACK
    limit = variable.max_length or 80
    value = rng.choice([v for v in pool if len(v) <= limit] or [pool[0][:limit]])
    cased = rng.choices([value, value.upper(), value.lower()], weights=(7, 2, 1))[0]
    return cased if len(cased) <= limit else value  # "ß" upper-cased is two letters


def row(template: Template, rng: random.Random) -> dict[str, str]:
    """Required variables always, optional ones about half the time; patterned ones (a
    colour) keep their default."""
    given = {}
    for variable in template.variables.values():
        if variable.pattern:
            continue
        if variable.required or rng.random() < 0.5:
            given[variable.name] = value_for(template, variable, rng)
    return given


class TimedReader:
    """The reader, with each read's seconds kept: read_back calls it as it calls any."""

    def __init__(self, reader: OnnxReader) -> None:
        self.reader = reader
        self.seconds: list[float] = []
        self.cpu: list[float] = []  # what the read cost when other work shares the core
        self.last: list[ReadLine] = []

    def read(self, image: bytes) -> list[ReadLine]:
        started, cpu = time.perf_counter(), time.process_time()
        self.last = self.reader.read(image)
        self.seconds.append(time.perf_counter() - started)
        self.cpu.append(time.process_time() - cpu)
        return self.last

    def reads(self, text: str) -> bool:
        return self.reader.reads(text)


@dataclass(frozen=True)
class Case:
    """A draft the proof judged wrongly, with what it takes to see why."""

    template: str
    size: str
    what: str  # "correct" or the slip
    copy: list[tuple[str, str]]
    drawn: list[tuple[str, str]]
    proof: Proof
    read: list[str]  # every line the reader found, in its order


@dataclass
class Tally:
    correct: int = 0
    correct_failed: int = 0
    misspelt: int = 0
    misspelt_passed: int = 0
    made: Counter[str] = field(default_factory=Counter)  # slips by kind
    passed: Counter[str] = field(default_factory=Counter)  # of those, proofs that passed
    seconds: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    bad: list[Case] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        self.correct += other.correct
        self.correct_failed += other.correct_failed
        self.misspelt += other.misspelt
        self.misspelt_passed += other.misspelt_passed
        self.made.update(other.made)
        self.passed.update(other.passed)
        self.seconds += other.seconds
        self.cpu += other.cpu
        self.bad += other.bad


def drawn_fields(copy: Sequence[tuple[str, str]], drawn: Sequence[str]) -> list[tuple[str, str]]:
    """The slip's lines under their fields' names (a left-out line takes its name along)."""
    names = [name for name, _ in copy]
    if len(drawn) < len(copy):
        gone = next(
            (i for i, (a, b) in enumerate(zip(copy, drawn, strict=False)) if a[1] != b),
            len(drawn),
        )
        del names[gone]
    return list(zip(names, drawn, strict=True))


def measure(template: Template, count: int, seed: str, reader: TimedReader) -> Tally:
    # Seeds per template: adding a template leaves the others' drafts as they were.
    rng = random.Random(f"{seed}:{template.name}")
    tally = Tally()
    default = template.default_size
    for i in range(count):
        size = SIZES[i % len(SIZES)]
        if size is None:
            size = (default.width, default.height) if default else (1024, 1024)
        label = f"{size[0]}x{size[1]}"
        draft = f"{seed}:{template.name}:{i}"
        copy = template.texts(template.values(row(template, rng)))
        first = len(reader.seconds)

        png = render_generate(*size, template.name, copy, seed=f"{draft}:right")
        proof = read_back(reader, png, copy)
        tally.correct += 1
        if proof.verdict != Verdict.PASS:
            tally.correct_failed += 1
            read = [line.text for line in reader.last]
            tally.bad.append(Case(template.name, label, "correct", copy, copy, proof, read))

        slip = misspell([text for _, text in copy], random.Random(f"{draft}:slip"))
        if slip is not None:  # None: no copy at all, never for these templates
            drawn = drawn_fields(copy, slip.drawn)
            png = render_generate(*size, template.name, drawn, seed=f"{draft}:wrong")
            proof = read_back(reader, png, copy)
            tally.misspelt += 1
            tally.made[slip.kind] += 1
            if proof.verdict != Verdict.FAIL:  # unchecked is not caught either: listed
                tally.passed[slip.kind] += proof.verdict == Verdict.PASS
                tally.misspelt_passed += proof.verdict == Verdict.PASS
                what = f"{slip.kind} slip, {slip.how}"
                read = [line.text for line in reader.last]
                tally.bad.append(Case(template.name, label, what, copy, drawn, proof, read))
        tally.seconds += reader.seconds[first:]
        tally.cpu += reader.cpu[first:]
    return tally


def table_row(name: str, tally: Tally) -> str:
    kinds = " | ".join(f"{tally.passed[k]}/{tally.made[k]}" for k in KINDS)
    mean = statistics.fmean(tally.seconds) if tally.seconds else 0.0
    slowest = max(tally.seconds, default=0.0)
    cpu = statistics.fmean(tally.cpu) if tally.cpu else 0.0
    return (
        f"| {name} | {tally.correct} | {tally.correct_failed} | {tally.misspelt} | "
        f"{tally.misspelt_passed} | {kinds} | {mean:.2f} | {slowest:.2f} | {cpu:.2f} |"
    )


def report_case(case: Case) -> None:
    print(f"- {case.template} {case.size}, {case.what}: {case.proof.verdict}")
    print(f"  copy:  {case.copy}")
    if case.drawn != case.copy:
        print(f"  drawn: {case.drawn}")
    print(f"  proof: {case.proof.detail}")
    print(f"  lines read: {case.read}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--per-template", type=int, default=20, help="correct drafts (default 20)")
    parser.add_argument("--seed", default="14")
    parser.add_argument("--template", action="append", help="only this one (repeatable)")
    args = parser.parse_args()
    catalogue = default_catalogue()
    names = sorted(n for n, t in catalogue.items() if t.mode == Mode.GENERATE)
    for name in args.template or []:
        if name not in names:
            parser.error(f"--template: {name!r} is not a built-in generate template")
    names = [n for n in names if not args.template or n in args.template]

    started = time.perf_counter()
    engine = OnnxReader()
    engine.load()
    reader = TimedReader(engine)
    print(
        f"seed {args.seed}, {args.per_template} correct and {args.per_template} misspelt "
        f"drafts per template; Python {platform.python_version()}, "
        f"{os.environ['PLACARD_OCR_THREADS']} reader thread, models loaded in "
        f"{time.perf_counter() - started:.2f} s\n"
    )
    kinds = " | ".join(f"{k}: passed/made" for k in KINDS)
    seconds = "mean s | max s | mean CPU s"  # wall time a read, and the CPU time it took
    print(f"| template | correct | failed | misspelt | passed | {kinds} | {seconds} |")
    print("|---|---:|---:|---:|---:|" + "---:|" * len(KINDS) + "---:|---:|---:|")
    total = Tally()
    for name in names:
        tally = measure(catalogue[name], args.per_template, args.seed, reader)
        print(table_row(name, tally), flush=True)
        total.add(tally)
    print(table_row("**all**", total))

    share = total.correct_failed / total.correct if total.correct else 0.0
    print(
        f"\ncorrect drafts failed: {total.correct_failed}/{total.correct} ({share:.1%}; "
        f"target at most 1%); misspelt drafts passed: {total.misspelt_passed}/"
        f"{total.misspelt} (target 0); {time.perf_counter() - started:.0f} s in all"
    )
    if total.bad:
        print("\njudged wrongly:")
        for case in total.bad:
            report_case(case)


if __name__ == "__main__":
    main()
