"""moto's server in a process of its own, so the embedded cloud does not share the handlers'
interpreter lock: `python -m placard.moto_process` prints its endpoint, and exits when its
standard input closes (when the process that started it ends, however it ends).

moto's app is served by waitress, which keeps connections open between requests; moto's own
development server opens a connection and a thread for every request.
"""

from __future__ import annotations

import logging
import sys
import threading

from moto import backends
from moto.core.utils import unix_time
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.sqs.models import Message, SQSBackend
from waitress.server import create_server


def _within_retention(backend: SQSBackend, queue_name: str, message: Message) -> bool:
    queue = backend.get_queue(queue_name)
    retention: int = queue.message_retention_period  # type: ignore[attr-defined]
    return bool(retention + message.sent_timestamp / 1000 > unix_time())  # type: ignore[operator]


def _speed_up_moto() -> None:
    # moto lists its own package folder on disk for every request, under a lock all requests
    # share; the list never changes while the process runs, so read it once.
    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules
    # moto recomputes every attribute of a queue (a pass over all its messages) for each
    # message it hands out, to read one number: read that number.
    SQSBackend.is_message_valid_based_on_retention_period = _within_retention  # type: ignore[method-assign,assignment]


def main() -> None:
    logging.getLogger("waitress").setLevel(logging.ERROR)
    _speed_up_moto()
    app = DomainDispatcherApplication(create_backend_app)
    server = create_server(app, host="127.0.0.1", port=0, threads=32, connection_limit=1000)
    host, port = server.socket.getsockname()[:2]
    threading.Thread(target=server.run, daemon=True).start()
    print(f"http://{host}:{port}", flush=True)
    sys.stdin.read()  # until the parent closes it or dies
    server.close()


if __name__ == "__main__":
    main()
