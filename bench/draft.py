"""Time of one offline draft, by size and by kind of copy (Latin, right-to-left, emoji), and
of an edit's round trip (a photo and its mask prepared, the answer put back at its size).

Drafts stand in for the image API on a laptop; a run of hundreds of rows draws hundreds of
them, so each should take a fraction of a second. The fonts are warmed once, as a worker's
process keeps them.

    python bench/draft.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "functions"))

from PIL import features

from placard.imaging.edits import finish_edit, prepare_edit
from placard.providers.draft_render import render_generate

COPY = {
    "latin": [("headline", "Run Past Sunrise"), ("cta", "Pre-order now")],
    "hebrew": [("headline", "מבצע קיץ גדול"), ("cta", "הזמינו עכשיו")],
    "arabic": [("headline", "تخفيضات الصيف الكبرى"), ("cta", "اطلب الآن")],
    "emoji": [("headline", "Summer Sale 🎉☀️🏖️"), ("cta", "Shop now 🛒")],
}
SIZES = [(1024, 1024), (1024, 1536), (1536, 1024)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(f"Pillow layout engine: {'RAQM' if features.check('raqm') else 'BASIC'}")
    print(f"{'copy':<8} {'size':<10} {'median ms':>10} {'slowest ms':>11}")
    for name, texts in COPY.items():
        for width, height in SIZES:
            render_generate(width, height, "poster", texts, seed="warm")
            times = []
            for run in range(args.runs):
                started = time.perf_counter()
                render_generate(width, height, "poster", texts, seed=str(run))
                times.append((time.perf_counter() - started) * 1000)
            print(
                f"{name:<8} {width}x{height:<5} {statistics.median(times):>10.0f} "
                f"{max(times):>11.0f}"
            )
    edit_round_trip(args.runs)


def edit_round_trip(runs: int) -> None:
    """prepare_edit and finish_edit on a 1024x1536 JPEG with a box, as a worker runs them."""
    import io

    from PIL import Image, ImageDraw

    photo = Image.new("RGB", (1024, 1536), (90, 120, 150))
    ImageDraw.Draw(photo).rectangle((100, 200, 700, 900), fill=(220, 180, 40))
    buffer = io.BytesIO()
    photo.save(buffer, "JPEG", quality=92)
    source = buffer.getvalue()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        edit = prepare_edit(source, box=(200, 300, 400, 150))
        answer = io.BytesIO()
        Image.new("RGB", (edit.size.width, edit.size.height), (0, 0, 0)).save(answer, "PNG")
        finish_edit(edit, answer.getvalue())
        times.append((time.perf_counter() - started) * 1000)
    print(f"{'edit':<8} {'1024x1536':<10} {statistics.median(times):>10.0f} {max(times):>11.0f}")


if __name__ == "__main__":
    main()
