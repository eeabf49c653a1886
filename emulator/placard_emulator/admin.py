"""The admin API under ``/_emulator/``: the same controls ProviderEmulator offers in Python,
for a test or a benchmark that runs the emulator as a separate process.

    GET  stats      counters: requests, billed_images, throttled, faults, downloads,
                    billed_usd (a decimal string: the sum of every bill)
    GET  config     the configuration; POST config {field: value, ...} changes it
                    (e.g. {"misspell": 0.3333} misspells every third image from now on)
    POST script     [fault kind or null, ...] for the next requests
    GET  requests   what each generation/edit request carried
    GET  bills      each answer billed, oldest first: [{api, id, images, quality, size,
                    usage, cost_usd}] (stats.BillRecord; money as decimal strings)
    GET  images     each image made, oldest first: [{sha256, misspelt, kind, how, asked,
                    drawn}] (stats.ImageRecord)
    POST expire     every prospolabs URL issued so far expires
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Final

from placard_emulator.errors import invalid
from placard_emulator.openai_images import error_body
from placard_emulator.transport import Handler

if TYPE_CHECKING:
    from placard_emulator.server import ProviderEmulator

PREFIX: Final = "/_emulator/"


def answer(
    emulator: ProviderEmulator, handler: Handler, method: str, path: str, body: bytes
) -> bool:
    """Answer an admin request; False when (method, path) is not one."""
    if not path.startswith(PREFIX):
        return False
    route = (method, path.removeprefix(PREFIX))
    if route == ("GET", "stats"):
        handler.send_json(200, dataclasses.asdict(emulator.stats()))
    elif route in (("GET", "config"), ("POST", "config")):
        _config(emulator, handler, body if method == "POST" else None)
    elif route == ("POST", "script"):
        _script(emulator, handler, body)
    elif route == ("GET", "requests"):
        handler.send_json(200, emulator.requests_log())
    elif route == ("GET", "bills"):
        handler.send_json(200, [dataclasses.asdict(record) for record in emulator.bills()])
    elif route == ("GET", "images"):
        handler.send_json(200, [dataclasses.asdict(record) for record in emulator.images()])
    elif route == ("POST", "expire"):
        emulator.expire_all_urls()
        handler.send_json(200, {"expired": True})
    else:
        return False
    return True


def _config(emulator: ProviderEmulator, handler: Handler, body: bytes | None) -> None:
    if body is not None:
        try:
            changes = json.loads(body or b"{}")
            if not isinstance(changes, dict):
                raise TypeError("the body must be a JSON object of config fields")
            emulator.configure(**changes)
        except (ValueError, TypeError) as exc:
            handler.send_json(400, error_body(invalid(None, str(exc), None)))
            return
    handler.send_json(200, dataclasses.asdict(emulator.config))


def _script(emulator: ProviderEmulator, handler: Handler, body: bytes) -> None:
    try:
        faults = json.loads(body or b"[]")
        if not isinstance(faults, list):
            raise TypeError("the body must be a JSON list of fault kinds (or null)")
        emulator.script(*faults)
    except (ValueError, TypeError) as exc:
        handler.send_json(400, error_body(invalid(None, str(exc), None)))
        return
    handler.send_json(200, {"scripted": faults})
