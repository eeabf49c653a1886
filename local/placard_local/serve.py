"""`placard serve`: the API function over HTTP on localhost, on the embedded cloud.

Each request becomes the proxy event API Gateway's REST API would send (with no stage, so the
path a caller signs is the path it calls), the same handler answers, and the queues are pumped
while the server runs, so jobs really run and callbacks really go out.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from placard.api.models import ErrorBody, ErrorDetail
from placard.domain.errors import PlacardError
from placard_emulator.rate_limit import TokenBucket
from placard_local.cloud import LocalCloud, rest_api_event
from placard_local.stack import Function

MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's own limit; the handler caps lower
READ_TIMEOUT_SECONDS = 10.0
log = logging.getLogger(__name__)


def api_function(cloud: LocalCloud) -> Function:
    for function in cloud.functions.values():
        if any(source.kind == "Api" for source in function.events):
            return function
    raise PlacardError("no function of the stack serves the API")


def api_throttle(cloud: LocalCloud) -> TokenBucket:
    """The rate and burst template.yaml gives the API's stage."""
    for api in cloud.stack.of_type("AWS::Serverless::Api").values():
        for setting in api["Properties"].get("MethodSettings", []):
            rate = float(cloud.stack.resolve(setting["ThrottlingRateLimit"]))
            burst = int(cloud.stack.resolve(setting["ThrottlingBurstLimit"]))
            return TokenBucket(per_minute=rate * 60, burst=burst)
    raise PlacardError("the stack's API sets no throttle")


class _Refused(Exception):
    """A request answered with an error before it reaches the handler."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error_body(code: str, message: str) -> bytes:
    """The API's error shape (docs/design.md §4), for what the server answers itself."""
    return ErrorBody(error=ErrorDetail(code=code, message=message)).model_dump_json().encode()


# What http.server refuses by itself, with the limits it applies (http.client's).
STDLIB_LIMITS = {
    414: "the request line is limited to 65536 bytes",
    431: "headers are limited to 100 lines of 65536 bytes each",
}


class _Handler(BaseHTTPRequestHandler):
    cloud: LocalCloud
    function: Function
    throttle: TokenBucket
    # Lambda hands a container one request at a time, and the handler relies on it: its
    # Powertools resolver holds the current event, its idempotency config the current context.
    # One lock per server gives the same contract; reading and answering stay concurrent.
    invoking: threading.Lock
    # Set on the socket by StreamRequestHandler: a body or a request that stops coming ends
    # the connection after this long instead of holding a thread for ever.
    timeout = READ_TIMEOUT_SECONDS
    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        try:
            if self.throttle.take() > 0:  # a wait: API Gateway answers 429 at once
                raise _Refused(429, "throttled", "too many requests; retry after a second")
            body = self._body()
        except _Refused as refused:
            self._refuse(refused)
            return
        url = urlsplit(self.path)
        event = rest_api_event(
            self.command,
            url.path,
            dict(self.headers.items()),
            body,
            stage="",
            query=dict(parse_qsl(url.query)) or None,
        )
        try:
            with self.invoking:
                reply: dict[str, Any] = self.cloud.invoke(self.function, event)
        except Exception as exc:  # the handler answers its own errors; this is a crash
            log.error("the API function failed: %r", exc)  # one line: no trace on the console
            self._refuse(_Refused(500, "internal", "something went wrong on our side"))
            return
        data = reply.get("body") or ""
        raw = base64.b64decode(data) if reply.get("isBase64Encoded") else data.encode()
        headers = dict(reply.get("headers") or {})
        for name, values in (reply.get("multiValueHeaders") or {}).items():
            headers[name] = ", ".join(values)
        self._send(int(reply["statusCode"]), headers, raw)

    def _body(self) -> bytes:
        """The body as Content-Length gives it, within bounds, or _Refused."""
        if "Transfer-Encoding" in self.headers:
            raise _Refused(
                411,
                "length_required",
                "Transfer-Encoding is not accepted: send the body with a Content-Length",
            )
        text = self.headers.get("Content-Length")
        if text is None:
            if self.command in ("POST", "PUT", "PATCH"):
                raise _Refused(
                    411, "length_required", f"a {self.command} needs Content-Length (0: no body)"
                )
            return b""
        # Digits only: int() would also take "-1", " 7" and "1_0".
        if not (text.isascii() and text.isdigit()):
            raise _Refused(
                400, "bad_request", f"Content-Length must be a number of bytes; got {text[:40]!r}"
            )
        length = int(text)
        if length > MAX_BODY_BYTES:
            raise _Refused(
                413, "too_large", f"the body is {length} bytes; at most {MAX_BODY_BYTES}"
            )
        try:
            body = self.rfile.read(length)
        except TimeoutError:
            raise _Refused(
                408,
                "timeout",
                f"the body did not arrive: Content-Length says {length} bytes, and nothing "
                f"more came for {self.timeout} s",
            ) from None
        if len(body) < length:  # the caller closed its side early
            raise _Refused(400, "bad_request", f"the body has {len(body)} of its {length} bytes")
        return body

    def _refuse(self, refused: _Refused) -> None:
        # The stream may be out of step (an unread or partial body): end the connection.
        self.close_connection = True
        headers = {"Content-Type": "application/json", "Connection": "close"}
        if refused.status == 429:
            headers["Retry-After"] = "1"
        self._send(refused.status, headers, error_body(refused.code, refused.message))

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (a malformed request line, headers too long or too
        many, an unknown method) in the API's error shape rather than an HTML page."""
        status = HTTPStatus(code)
        reason = "; ".join(
            part for part in (message or status.phrase, explain, STDLIB_LIMITS.get(code)) if part
        )
        # A request line it could not read leaves HTTP/0.9, which has no status line to send.
        self.request_version = self.protocol_version
        self._refuse(_Refused(code, re.sub(r"\W+", "_", status.phrase.lower()), reason))

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

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A connection that breaks (a caller gone mid-answer) is one line in the log, not a
        traceback on the console."""
        log.warning("a connection from %s ended: %r", client_address[0], sys.exc_info()[1])


@contextmanager
def serving(
    cloud: LocalCloud,
    port: int = 0,
    read_timeout: float = READ_TIMEOUT_SECONDS,
    run_jobs: bool = True,
) -> Iterator[str]:
    """The API on http://127.0.0.1:PORT while the block runs (PORT 0: any free one), the
    queues pumped meanwhile unless `run_jobs` is False (a test of the API alone); yields the
    base URL. A request that stops coming for `read_timeout` seconds is answered 408 and its
    connection closed."""
    handler = type(
        "Handler",
        (_Handler,),
        {
            "cloud": cloud,
            "function": api_function(cloud),
            "throttle": api_throttle(cloud),
            "invoking": threading.Lock(),
            "timeout": read_timeout,
        },
    )
    server = _Server(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    with cloud.draining() if run_jobs else contextlib.nullcontext():
        thread.start()
        try:
            host, bound = server.server_address[:2]
            yield f"http://{host!s}:{bound}"
        finally:
            server.shutdown()
            server.server_close()
