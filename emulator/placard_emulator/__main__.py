"""Run the provider emulator in the foreground.

    python -m placard_emulator --port 8099 --latency 0.5 --images-per-minute 120 \
        --fault-rate 0.05 --fault-kinds 5xx,hang --misspell 1/3

The first line on stdout is the base URL (``http://127.0.0.1:PORT``); stderr then gives the
environment lines to paste (OPENAI_BASE_URL is that URL + "/v1", PROSPOLABS_BASE_URL the URL
itself) with the API key the emulator accepts. Ctrl-C or SIGTERM stops it.
"""

from __future__ import annotations

import argparse
import fractions
import signal
import sys
import threading
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from types import FrameType

from placard_emulator import FAULT_KINDS, EmulatorConfig, ProviderEmulator


def _fault_kinds(text: str) -> tuple[str, ...]:
    kinds = tuple(kind.strip() for kind in text.split(",") if kind.strip())
    unknown = [kind for kind in kinds if kind not in FAULT_KINDS]
    if not kinds or unknown:
        raise argparse.ArgumentTypeError(
            f"expected a comma-separated list of {', '.join(FAULT_KINDS)}; got {text!r}"
        )
    return kinds


def _share(text: str) -> float:
    try:
        return float(fractions.Fraction(text))
    except (ValueError, ZeroDivisionError) as exc:
        raise argparse.ArgumentTypeError(
            f"expected a share such as 0.25 or 1/3; got {text!r}"
        ) from exc


def _token_prices(text: str) -> tuple[Decimal, Decimal, Decimal]:
    try:
        text_in, image_in, image_out = (Decimal(part.strip()) for part in text.split(","))
    except (ValueError, InvalidOperation) as exc:
        raise argparse.ArgumentTypeError(
            f"expected three USD prices per million tokens, TEXT,IMAGE_IN,IMAGE_OUT such as "
            f"5,8,30; got {text!r}"
        ) from exc
    return text_in, image_in, image_out


def _parser() -> argparse.ArgumentParser:
    defaults = EmulatorConfig()
    parser = argparse.ArgumentParser(
        prog="python -m placard_emulator",
        description="Emulate the OpenAI Images API and prospolabs on 127.0.0.1.",
    )
    parser.add_argument("--port", type=int, default=0, help="port to bind (default: a free one)")
    parser.add_argument(
        "--latency", type=float, default=defaults.latency, help="seconds per generation"
    )
    parser.add_argument(
        "--images-per-minute", type=int, default=None, help="rate limit (default: none)"
    )
    parser.add_argument("--burst", type=int, default=None, help="token-bucket capacity")
    parser.add_argument("--fault-rate", type=float, default=defaults.fault_rate, help="0..1")
    parser.add_argument(
        "--fault-kinds",
        type=_fault_kinds,
        default=defaults.fault_kinds,
        help=f"comma-separated, from {','.join(FAULT_KINDS)} (default: 5xx)",
    )
    parser.add_argument("--hang-seconds", type=float, default=defaults.hang_seconds)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--api-key", default=defaults.api_key)
    parser.add_argument("--url-ttl-seconds", type=float, default=defaults.url_ttl_seconds)
    parser.add_argument(
        "--misspell",
        type=_share,
        default=defaults.misspell,
        help="share of images drawn with a misspelt copy, 0..1 or a fraction such as 1/3",
    )
    parser.add_argument(
        "--token-prices",
        type=_token_prices,
        default=(
            defaults.text_input_usd_per_million,
            defaults.image_input_usd_per_million,
            defaults.image_output_usd_per_million,
        ),
        help="OpenAI's USD per million tokens: text in, image in, image out (default: 5,8,30)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    config = EmulatorConfig(
        latency=args.latency,
        images_per_minute=args.images_per_minute,
        burst=args.burst,
        fault_rate=args.fault_rate,
        fault_kinds=args.fault_kinds,
        hang_seconds=args.hang_seconds,
        seed=args.seed,
        api_key=args.api_key,
        url_ttl_seconds=args.url_ttl_seconds,
        misspell=args.misspell,
        text_input_usd_per_million=args.token_prices[0],
        image_input_usd_per_million=args.token_prices[1],
        image_output_usd_per_million=args.token_prices[2],
    )
    try:
        emulator = ProviderEmulator(config, port=args.port)
        emulator.start()
    except (TypeError, ValueError, OSError) as exc:
        print(f"placard_emulator: {exc}", file=sys.stderr)
        return 2
    done = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print(emulator.url, flush=True)
    # The lines to paste, as placard reads them: OpenAI's base ends in /v1, the
    # reseller's is the root /v1/generate hangs from. One key is accepted, for both.
    print(
        f"Paste to point placard here (the one API key accepted is {config.api_key!r}):\n"
        f"  export OPENAI_BASE_URL={emulator.openai_base_url} "
        f"OPENAI_API_KEY={config.api_key}\n"
        f"  export PROSPOLABS_BASE_URL={emulator.url} PROSPOLABS_API_KEY={config.api_key}\n"
        f"stats at {emulator.url}/_emulator/stats, bills at {emulator.url}/_emulator/bills, "
        f"images at {emulator.url}/_emulator/images; "
        "Ctrl-C to stop",
        file=sys.stderr,
        flush=True,
    )
    try:
        while not done.wait(0.5):
            pass
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
