"""`placard serve`: the API function over HTTP on localhost, on the embedded cloud.

Each request becomes the proxy event API Gateway's REST API would send (with no stage, so the
path a caller signs is the path it calls), the same handler answers, and the queues are pumped
while the server runs, so jobs really run and callbacks really go out.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from placard.errors import PlacardError
from placard.local import LocalCloud, rest_api_event
from placard.stack import Function

MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's own limit; the handler caps lower
TOO_LARGE = b'{"error": {"code": "too_large", "message": "the body is too large", "details": []}}'
THROTTLED = (
    b'{"error": {"code": "throttled", "message": "too many requests; retry after a second", '
    b'"details": []}}'
)


def api_function(cloud: LocalCloud) -> Function:
    for function in cloud.functions.values():
        if any(source.kind == "Api" for source in function.events):
            return function
    raise PlacardError("no function of the stack serves the API")


class TokenBucket:
    """API Gateway's throttle: `rate` requests a second on average, `burst` at once."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic):
        self.rate, self.burst, self._clock = rate, burst, clock
        self._tokens, self._last = float(burst), clock()
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
            self._last = now
            if self._tokens < 1:
                return False
            self._tokens -= 1
            return True


def api_throttle(cloud: LocalCloud) -> TokenBucket:
    """The rate and burst template.yaml gives the API's stage."""
    for api in cloud.stack.of_type("AWS::Serverless::Api").values():
        for setting in api["Properties"].get("MethodSettings", []):
            rate = float(cloud.stack.resolve(setting["ThrottlingRateLimit"]))
            return TokenBucket(rate, int(cloud.stack.resolve(setting["ThrottlingBurstLimit"])))
    raise PlacardError("the stack's API sets no throttle")


class _Handler(BaseHTTPRequestHandler):
    cloud: LocalCloud
    function: Function
    throttle: TokenBucket
    # Lambda hands a container one request at a time, and the handler relies on it: its
    # Powertools resolver holds the current event, its idempotency config the current context.
    # One lock per server gives the same contract; reading and answering stay concurrent.
    invoking: threading.Lock
    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        if not self.throttle.take():
            self._send(429, {"Content-Type": "application/json", "Retry-After": "1"}, THROTTLED)
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self._send(413, {"Content-Type": "application/json"}, TOO_LARGE)
            self.close_connection = True
            return
        body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        event = rest_api_event(
            self.command,
            url.path,
            dict(self.headers.items()),
            body,
            stage="",
            query=dict(parse_qsl(url.query)) or None,
        )
        with self.invoking:
            reply: dict[str, Any] = self.cloud.invoke(self.function, event)
        data = reply.get("body") or ""
        raw = base64.b64decode(data) if reply.get("isBase64Encoded") else data.encode()
        headers = dict(reply.get("headers") or {})
        for name, values in (reply.get("multiValueHeaders") or {}).items():
            headers[name] = ", ".join(values)
        self._send(int(reply["statusCode"]), headers, raw)

    def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the handler logs each request itself


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # socketserver's 5 resets a burst of callers before they are heard


@contextmanager
def serving(cloud: LocalCloud, port: int = 0) -> Iterator[str]:
    """The API on http://127.0.0.1:PORT while the block runs (PORT 0: any free one), the
    queues pumped meanwhile; yields the base URL."""
    handler = type(
        "Handler",
        (_Handler,),
        {
            "cloud": cloud,
            "function": api_function(cloud),
            "throttle": api_throttle(cloud),
            "invoking": threading.Lock(),
        },
    )
    server = _Server(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    with cloud.draining():
        thread.start()
        try:
            host, bound = server.server_address[:2]
            yield f"http://{host!s}:{bound}"
        finally:
            server.shutdown()
            server.server_close()
