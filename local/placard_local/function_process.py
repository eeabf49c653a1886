"""One function of the stack in a process of its own, as Lambda gives each invocation a sandbox:
`python -m placard_local.function_process HANDLER NAME TIMEOUT` answers each event, one JSON line on
its standard input, with one JSON line on its standard output, and exits when its input closes.

The local cloud runs here the functions template.yaml marks `LocalProcess: background`: on a
laptop every function shares the same cores, and a function that is pure CPU (Pillow making
derivatives) must not slow the workers, whose time is the image API's. The process runs at
a lower CPU priority, with an interpreter lock of its own. What the handler logs goes to
standard error.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from typing import Any, TextIO

NICENESS = 10  # the OS gives this process what CPU the others leave
READY = '{"ready": true}'


def serve(handler_path: str, name: str, timeout: int, requests: TextIO, replies: TextIO) -> None:
    from placard_local.cloud import call_handler

    # Lambda's init phase: the handler's module is imported before the first event, and its
    # time is not the invocation's. The local cloud waits for this line before it starts the
    # function's Timeout.
    importlib.import_module(handler_path.rsplit(".", 1)[0])
    replies.write(READY + "\n")
    replies.flush()
    for line in requests:
        try:
            reply = call_handler(handler_path, json.loads(line), name, timeout)
            answer: dict[str, Any] = {"reply": reply}
        except Exception as exc:  # a whole-batch failure, as Lambda reports an unhandled error
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        replies.write(json.dumps(answer, default=str) + "\n")
        replies.flush()


def main() -> None:
    handler_path, name, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if hasattr(os, "nice"):
        os.nice(NICENESS)
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # the handler's prints and logs
    serve(handler_path, name, timeout, sys.stdin, replies)


if __name__ == "__main__":
    main()
