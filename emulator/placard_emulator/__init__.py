"""A local emulator of the image APIs placard calls: the OpenAI Images API (gpt-image-2)
and the flat-price reseller prospolabs, with latency, rate limits and injected faults.

    from placard_emulator import EmulatorConfig, ProviderEmulator

    with ProviderEmulator(EmulatorConfig(latency=0.2, images_per_minute=120)) as emu:
        client = openai.OpenAI(base_url=emu.openai_base_url, api_key="test-key")

Run it standalone with ``python -m placard_emulator --help``.

One module per concern: config, rate_limit (the token bucket), faults, stats, billing (what
each answer bills: OpenAI by tokens, prospolabs flat), params (what both APIs accept),
openai_images and prospolabs (a wire format each), downloads, images (the pictures, with
the prompt's quoted copy), lettering (that copy, and its misspellings), multipart, admin
(the HTTP controls), transport (HTTP) and server (the emulator).
"""

from placard_emulator.config import EmulatorConfig
from placard_emulator.faults import FAULT_KINDS, REFUSE_MARKER
from placard_emulator.server import ProviderEmulator
from placard_emulator.stats import EmulatorStats

__all__ = ["FAULT_KINDS", "REFUSE_MARKER", "EmulatorConfig", "EmulatorStats", "ProviderEmulator"]
