"""HTTP/1.1 on the standard library: reading bodies, writing answers, dropping connections.

Every request runs on its own daemon thread: latency is a sleep, never a lock, and a hung
request never holds up another one or the server's shutdown."""

from __future__ import annotations

import contextlib
import json
import secrets
import socket
import socketserver
import sys
import threading
import traceback
from collections.abc import Callable, Mapping
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final, cast

from placard_emulator.errors import ApiError, Dropped, server_error
from placard_emulator.openai_images import error_body

HOST: Final = "127.0.0.1"
_MAX_BODY: Final = 128 * 1024 * 1024


def _decimal_text(value: object) -> str:
    """Money goes out as a decimal string ("0.041136"), exact, never a float."""
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _too_large() -> ApiError:
    return ApiError(413, "invalid_request", "Request body too large.")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "placard-emulator/1.0"
    sys_version = ""
    # TCP_NODELAY: headers then body must not wait on the client's delayed ACK (40 ms).
    disable_nagle_algorithm = True

    def setup(self) -> None:
        super().setup()
        cast(Server, self.server).track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass  # the client went away
        finally:
            cast(Server, self.server).track(self.connection, add=False)

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests and benchmarks read their own output."""

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        try:
            cast(Server, self.server).dispatch(self, method)
        except Dropped:
            self.drop()
        except ApiError as error:  # an unreadable body outside the generation routes
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.send_json(error.status, error_body(error))
        except OSError:
            self.close_connection = True
        except Exception:
            # A bug in the emulator: say so on stderr and answer 500 (never counted as a fault).
            traceback.print_exc(file=sys.stderr)
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.send_json(500, error_body(server_error(500)))

    def read_body(self) -> bytes:
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            return self._read_chunked()
        try:
            length = int(self.headers.get("content-length") or 0)
        except ValueError:
            self.close_connection = True
            raise ApiError(400, "invalid_request", "Invalid Content-Length header.") from None
        if length > _MAX_BODY:
            self.close_connection = True
            raise _too_large()
        return self.rfile.read(length) if length > 0 else b""

    def _read_chunked(self) -> bytes:
        body = bytearray()
        while True:
            size_line = self.rfile.readline(1024)
            try:
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
            except ValueError:
                self.close_connection = True
                raise ApiError(400, "invalid_request", "Invalid chunked body.") from None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass
                return bytes(body)
            body += self.rfile.read(size)
            self.rfile.readline(8)
            if len(body) > _MAX_BODY:
                self.close_connection = True
                raise _too_large()

    def send(
        self,
        status: int,
        body: bytes,
        content_type: str = "application/json",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        headers = dict(headers or {})
        # Every answer names a request id; the emulator passes one where a bill keeps it.
        headers.setdefault("x-request-id", "req_" + secrets.token_hex(12))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def send_json(
        self, status: int, payload: object, headers: Mapping[str, str] | None = None
    ) -> None:
        body = json.dumps(payload, default=_decimal_text).encode("utf-8")
        self.send(status, body, headers=headers)

    def drop(self) -> None:
        """Close the connection without (further) answer."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


class Server(ThreadingHTTPServer):
    """Serves 127.0.0.1; each request goes to ``dispatch(handler, method)``."""

    daemon_threads = True
    request_queue_size = 256

    def __init__(self, dispatch: Callable[[Handler, str], None], port: int) -> None:
        self.dispatch = dispatch
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__((HOST, port), Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind would resolve the host name (socket.getfqdn): skip it.
        socketserver.TCPServer.server_bind(self)
        self.server_name = HOST
        self.server_port = int(self.server_address[1])

    def track(self, connection: socket.socket, *, add: bool) -> None:
        with self._connections_lock:
            if add:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def close_connections(self) -> None:
        """Shut every open connection, hung or not (stop() must return promptly)."""
        with self._connections_lock:
            connections = list(self._connections)
            self._connections.clear()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            return  # the client went away: nothing to report
        super().handle_error(request, client_address)
