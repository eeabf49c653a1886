"""A handler module whose import takes longer than its function's Timeout of 1 s."""

from __future__ import annotations

import time
from typing import Any

time.sleep(1.5)  # as a cold import of a heavy library would


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"answered": True}
