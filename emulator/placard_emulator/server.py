"""The emulator itself: a local server that speaks two image APIs, with a rate limit and
injected faults, and the Python controls a test uses to steer it.

It answers the OpenAI Images API (openai_images.py) and the flat-price reseller prospolabs
(prospolabs.py, with its download URLs in downloads.py), so placard's provider clients,
tests and benchmarks run against the real wire formats without the internet. The HTTP side
is transport.py; the controls are also reachable over HTTP through admin.py.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import hmac
import json
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from typing import Protocol
from urllib.parse import urlsplit

from placard_emulator import admin, prospolabs
from placard_emulator.billing import Charge
from placard_emulator.config import EmulatorConfig, check_config, coerce_change
from placard_emulator.downloads import PREFIX as FILES_PREFIX
from placard_emulator.downloads import Downloads
from placard_emulator.errors import (
    ApiError,
    Dropped,
    refused,
    server_error,
    throttled,
    unauthorized,
)
from placard_emulator.faults import REFUSE_MARKER, Faults, check_fault_kind
from placard_emulator.images import Painter
from placard_emulator.openai_images import EDITS, GENERATIONS, OpenAIImages, error_body
from placard_emulator.params import Job
from placard_emulator.rate_limit import TokenBucket
from placard_emulator.stats import BillRecord, EmulatorStats, ImageRecord, Tally
from placard_emulator.transport import HOST, Handler, Server

__all__ = ["EmulatorConfig", "EmulatorStats", "ProviderEmulator"]


class WireFormat(Protocol):
    """One image API's way of reading a request and writing its answers."""

    @property
    def name(self) -> str: ...

    def parse(
        self, path: str, content_type: str, body: bytes, note: Callable[..., None]
    ) -> Job | ApiError: ...

    def success(self, job: Job) -> dict[str, object]: ...

    def bill(self, job: Job, answer: Mapping[str, object], config: EmulatorConfig) -> Charge: ...

    def error(self, error: ApiError) -> tuple[int, dict[str, object]]: ...

    def malformed(self) -> bytes: ...


def _authorized(header: str | None, api_key: str) -> bool:
    if not header:
        return False
    scheme, _, token = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        token.strip().encode(), api_key.encode()
    )


@dataclasses.dataclass(frozen=True)
class _Bill:
    """A successful answer's charge, with the job it was for."""

    job: Job
    charge: Charge

    def record(self, api: str, request_id: str) -> BillRecord:
        job = self.job
        return BillRecord(
            api=api,
            id=self.charge.generation_id or request_id,
            images=job.n,
            quality=job.quality,
            size=f"{job.width}x{job.height}",
            usage=self.charge.usage,
            cost_usd=self.charge.cost_usd,
        )


class ProviderEmulator:
    """A local server emulating the OpenAI Images API and prospolabs.

    >>> with ProviderEmulator(EmulatorConfig(latency=0.1)) as emu:
    ...     client = openai.OpenAI(base_url=emu.openai_base_url, api_key="test-key")
    """

    def __init__(self, config: EmulatorConfig | None = None, *, port: int = 0) -> None:
        config = dataclasses.replace(config) if config is not None else EmulatorConfig()
        check_config(config)
        self._config = config
        self._port = port
        # Guards the config, bucket, fault draws and tally: a request is admitted (tokens
        # taken, fault drawn, refund) in one step.
        self._lock = threading.Lock()
        self._faults = Faults(config.seed)
        self._bucket = TokenBucket(config.images_per_minute, config.burst)
        self._tally = Tally()
        self._downloads = Downloads()
        self._painter = Painter(config.misspell, config.seed)
        openai = OpenAIImages(self._painter)
        reseller = prospolabs.Prospolabs(
            self._downloads, lambda: self.url, self._url_ttl, self._painter
        )
        self._wire_formats: dict[str, WireFormat] = {
            GENERATIONS: openai,
            EDITS: openai,
            prospolabs.GENERATE: reseller,
        }
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._lifecycle = threading.Lock()

    # -- lifecycle --

    def start(self) -> None:
        """Bind 127.0.0.1 (a free port unless one was given) and serve on a daemon thread."""
        with self._lifecycle:
            if self._server is not None:
                return
            self._stopping = threading.Event()
            server = Server(self._dispatch, self._port)
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"placard-emulator:{server.server_port}",
                daemon=True,
            )
            thread.start()
            self._server, self._thread = server, thread

    def stop(self) -> None:
        """Stop serving and drop every open connection, hung or not. Returns promptly."""
        with self._lifecycle:
            server, thread = self._server, self._thread
            self._server = self._thread = None
            if server is None:
                return
            self._stopping.set()
            server.shutdown()
            server.server_close()
            server.close_connections()
            if thread is not None:
                thread.join(timeout=2.0)

    def __enter__(self) -> ProviderEmulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def url(self) -> str:
        """The root URL, e.g. ``http://127.0.0.1:54321`` (no trailing slash)."""
        server = self._server
        if server is None:
            raise RuntimeError("the emulator is not running: call start() first")
        return f"http://{HOST}:{server.server_port}"

    @property
    def openai_base_url(self) -> str:
        """``url + "/v1"``, as OPENAI_BASE_URL and the openai SDK expect."""
        return self.url + "/v1"

    # -- control --

    @property
    def config(self) -> EmulatorConfig:
        """A copy of the current configuration."""
        with self._lock:
            return dataclasses.replace(self._config)

    def configure(self, **changes: object) -> None:
        """Change config fields while running. All changes apply at once, or none on error.

        Changing images_per_minute or burst refills the token bucket; changing seed
        restarts the fault sequence; changing misspell or seed restarts the count of
        images it applies to."""
        names = {f.name for f in dataclasses.fields(EmulatorConfig)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise TypeError(f"unknown config field(s): {', '.join(unknown)}")
        coerced = {name: coerce_change(name, value) for name, value in changes.items()}
        with self._lock:
            updated = dataclasses.replace(self._config, **coerced)  # type: ignore[arg-type]
            check_config(updated)
            self._config = updated
            if {"images_per_minute", "burst"} & set(coerced):
                self._bucket = TokenBucket(updated.images_per_minute, updated.burst)
            if "seed" in coerced:
                self._faults.reseed(updated.seed)
            if {"misspell", "seed"} & set(coerced):
                self._painter.configure(updated.misspell, updated.seed)

    def script(self, *faults: str | None) -> None:
        """The next ``len(faults)`` generation requests get these faults, in order, before
        fault_rate applies (None = behave). Replaces any script not yet played out."""
        for fault in faults:
            if fault is not None:
                check_fault_kind(fault)
        with self._lock:
            self._faults.script(faults)

    def stats(self) -> EmulatorStats:
        with self._lock:
            return self._tally.snapshot()

    def requests_log(self) -> list[dict[str, object]]:
        """What each generation/edit request carried, oldest first: method, path, api,
        headers (lower-cased, Authorization redacted), then ``json`` (the body; base64
        images replaced by summaries) or ``parts`` (multipart summaries), plus the
        ``status`` answered and the ``fault`` injected (None when it behaved)."""
        with self._lock:
            return self._tally.log_copy()

    def bills(self) -> list[BillRecord]:
        """Each answer billed, oldest first: which API, its id, images, usage and cost. Their
        costs sum to ``stats().billed_usd``."""
        with self._lock:
            return copy.deepcopy(self._tally.bills)

    def images(self) -> list[ImageRecord]:
        """Each image made, oldest first: its sha256, the copy asked for and drawn, and
        whether (and how) it was misspelt."""
        return self._painter.records()

    def expire_all_urls(self) -> None:
        """Make every prospolabs output URL issued so far expire."""
        self._downloads.expire_all()

    def reset(self) -> None:
        """Forget stats, the request log, the bills, the image records and any pending script;
        refill the token bucket."""
        self._painter.reset()
        with self._lock:
            self._tally = Tally()
            self._faults.clear_script()
            self._bucket = TokenBucket(self._config.images_per_minute, self._config.burst)

    def _url_ttl(self) -> float:
        with self._lock:
            return self._config.url_ttl_seconds

    # -- dispatch --

    def _dispatch(self, handler: Handler, method: str) -> None:
        split = urlsplit(handler.path)
        path = split.path.rstrip("/") or "/"
        if method == "POST" and path in self._wire_formats:
            self._generation(handler, path)
            return
        # Read a body we will not use all the same: the next request on the connection
        # starts after it.
        body = handler.read_body() if method == "POST" else b""
        if method == "GET" and path.startswith(FILES_PREFIX):
            self._download(handler, path, split.query)
        elif admin.answer(self, handler, method, path, body):
            pass
        elif path in self._wire_formats:
            error = ApiError(405, "invalid_request", f"{method} not allowed.")
            handler.send_json(405, error_body(error), {"allow": "POST"})
        else:
            error = ApiError(404, "not_found", f"Unknown path {path}.", code="unknown_url")
            handler.send_json(404, error_body(error))

    def _download(self, handler: Handler, path: str, query: str) -> None:
        try:
            image = self._downloads.open(path, query)
        except ApiError as error:
            handler.send_json(error.status, prospolabs.error_body(error))
            return
        with self._lock:
            self._tally.downloads += 1
        handler.send(200, image, "image/png")

    # -- generation / edit --

    def _generation(self, handler: Handler, path: str) -> None:
        wire = self._wire_formats[path]
        entry, config = self._log_request(handler, path, wire.name)
        try:
            body, bill = self._respond(handler, wire, path, entry, config)
        except ApiError as error:
            status, payload = wire.error(error)
            self._note(entry, status=status)
            handler.send_json(status, payload, error.headers)
            return
        request_id = "req_" + secrets.token_hex(12)
        with self._lock:
            if bill is not None:
                self._tally.bill(bill.record(wire.name, request_id))
            entry["status"] = 200
        handler.send(200, body, headers={"x-request-id": request_id})

    def _log_request(
        self, handler: Handler, path: str, api: str
    ) -> tuple[dict[str, object], EmulatorConfig]:
        """Count and log the request; the config it is answered under."""
        headers = {
            name.lower(): ("<redacted>" if name.lower() == "authorization" else value)
            for name, value in handler.headers.items()
        }
        entry: dict[str, object] = {
            "method": "POST",
            "path": path,
            "api": api,
            "headers": headers,
            "status": None,
            "fault": None,
        }
        with self._lock:
            self._tally.requests += 1
            self._tally.log.append(entry)
            return entry, self._config

    def _respond(
        self,
        handler: Handler,
        wire: WireFormat,
        path: str,
        entry: dict[str, object],
        config: EmulatorConfig,
    ) -> tuple[bytes, _Bill | None]:
        """The 200 body to send and what it bills (None: nothing), or an ApiError / Dropped."""
        body = handler.read_body()
        note = functools.partial(self._note, entry)
        job = wire.parse(path, handler.headers.get("content-type", ""), body, note)
        # Authorization is checked after the body is read (keep-alive stays in step)
        # and before the body is validated, as the real services do.
        if not _authorized(handler.headers.get("authorization"), config.api_key):
            raise unauthorized()
        if isinstance(job, ApiError):
            raise job
        if REFUSE_MARKER in job.prompt:
            raise refused()
        fault = self._admit(job.n)
        admitted = time.monotonic()
        self._note(entry, fault=fault)
        if fault == "hang":
            self._stopping.wait(config.hang_seconds)
            raise Dropped
        payload = wire.success(job) if fault is None else None
        # The latency is the answer's, making the image included: under load the first
        # answers must not come late because this process drew their PNGs.
        remaining = config.latency - (time.monotonic() - admitted)
        if remaining > 0 and self._stopping.wait(remaining):
            raise Dropped  # stopping
        if fault is not None:
            return self._faulted(fault, wire), None
        assert payload is not None
        return json.dumps(payload).encode("utf-8"), _Bill(job, wire.bill(job, payload, config))

    def _note(self, entry: dict[str, object], **values: object) -> None:
        """Record in a request's log entry (under the lock: requests_log() copies entries)."""
        with self._lock:
            entry.update(values)

    def _admit(self, n: int) -> str | None:
        """Take n images from the rate limit (or raise a 429), then draw the fault."""
        with self._lock:
            wait = self._bucket.take(n)
            if wait > 0:
                self._tally.throttled += 1
                raise throttled(wait, self._config.images_per_minute or 0, n)
            fault = self._faults.draw(self._config.fault_rate, self._config.fault_kinds)
            if fault is not None:
                self._tally.faults[fault] += 1
                # The limit counts images made, and a faulted call makes none (nor bills any).
                self._bucket.refund(n)
            return fault

    def _faulted(self, fault: str, wire: WireFormat) -> bytes:
        """What a fault does once the latency is over: drop, a 5xx, a refusal, or a 200
        whose body breaks off."""
        if fault == "disconnect":
            raise Dropped
        if fault == "5xx":
            with self._lock:
                status = self._faults.server_error_status()
            raise server_error(status)
        if fault == "refusal":
            raise refused()
        return wire.malformed()
