"""Time of one offline draft, by size and by kind of copy (Latin, right-to-left, emoji).

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


if __name__ == "__main__":
    main()
