"""A local emulator of the image APIs placard calls: the OpenAI Images API (gpt-image-2)
and the flat-price reseller prospolabs, with latency, rate limits and injected faults.

    from placard_emulator import EmulatorConfig, ProviderEmulator

    with ProviderEmulator(EmulatorConfig(latency=0.2, images_per_minute=120)) as emu:
        client = openai.OpenAI(base_url=emu.openai_base_url, api_key="test-key")

Run it standalone with ``python -m placard_emulator --help``.
"""

from placard_emulator.server import (
    FAULT_KINDS,
    REFUSE_MARKER,
    EmulatorConfig,
    EmulatorStats,
    ProviderEmulator,
)

__all__ = ["FAULT_KINDS", "REFUSE_MARKER", "EmulatorConfig", "EmulatorStats", "ProviderEmulator"]
