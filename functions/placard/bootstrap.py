"""Builds the functions' parts: `build` wires settings and clients into a `Parts`; `parts()`
is the one a container builds, on its handler's first call, and every later call reuses.

A test makes its own `Parts` (with `build` from its moto clients, or directly from fakes) and
hands it to a handler's `process`; nothing here is patched. Handlers call `cold_start()` at
import, Lambda's init, so a missing or malformed variable fails the init naming it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache, cached_property
from typing import TYPE_CHECKING

from botocore.config import Config

from placard.api.signing import WINDOW_SECONDS
from placard.aws.assets import S3Assets, S3Uploads
from placard.aws.budgets import DynamoBudgets
from placard.aws.errors import busy
from placard.aws.job_records import DynamoJobRecords
from placard.aws.job_store import DynamoJobStore
from placard.aws.ledger import DynamoLedger
from placard.aws.progress import DynamoProgress
from placard.aws.queue import (
    SqsCallbackRequests,
    SqsDerivativeRequests,
    SqsJobQueue,
    SqsProofRequests,
    SqsReportRequests,
)
from placard.aws.replays import DynamoReplayGuard
from placard.aws.secrets import api_key
from placard.aws.session import session
from placard.domain.errors import InvalidInput
from placard.domain.pricing import PriceTable, default_prices
from placard.domain.templates import Catalogue, default_catalogue
from placard.providers import make_provider
from placard.services.endings import JobEndings
from placard.settings import Settings

if TYPE_CHECKING:  # built only by the functions that use them, so others do not import them
    import httpx
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig
    from aws_lambda_powertools.utilities.idempotency.persistence.base import (
        BasePersistenceLayer,
    )
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

    from placard.api.service import JobService
    from placard.domain.ports import (
        AssetStore,
        CallbackRequests,
        ImageReader,
        JobQueue,
        JobRecords,
        JobStore,
        Ledger,
        Progress,
        ProofRequests,
        ReportRequests,
        UploadStore,
    )
    from placard.providers.base import ImageProvider
    from placard.reporting.campaign import Reporter
    from placard.services.ingest import Ingest
    from placard.services.pipeline import Pipeline
    from placard.services.proofs import Proofs
    from placard.services.reconcile import Reconciler
    from placard.services.reviews import Reviews
    from placard.services.settle import Settlement

# Workers share clients across threads (the local runner) and invocations (Lambda): a pool as
# large as the concurrency keeps connections open instead of opening one per call.
# Retries in standard mode (throttles backed off from 1 s, 5xx from 50 ms, a per-client quota
# that stops retrying through an outage), not adaptive: its rate limiter sleeps before sending,
# on the invocation's time, and each container would learn the rate alone. Sized to the
# shortest timeout, the API's 29 s: three attempts of 2 s to connect and 6 s to read, with the
# throttle backoffs between them (1 s and 2 s at most), end within 27 s; what is still failing
# then surfaces (SQS redelivers a job; the API answers). DynamoDB and SQS answer in
# milliseconds, and a read timeout is per read, so S3's large bodies stream within it.
CLIENT_CONFIG = Config(
    max_pool_connections=64,
    connect_timeout=2,
    read_timeout=6,
    retries={"mode": "standard", "total_max_attempts": 3},
)
# Presigned links signed with SigV4, which lets them live up to seven days.
S3_CONFIG = CLIENT_CONFIG.merge(Config(signature_version="s3v4"))
# The handlers that keep Powertools idempotency records, each in a store of its own.
IDEMPOTENT_HANDLERS = ("api", "ingest", "worker")
# What each handler's Tracer patches: by default Powertools patches every library the X-Ray
# SDK knows, importing each at the handler's import (httpx alone costs ~60 ms), whether the
# function calls it or not. AWS calls everywhere; HTTP only where a function makes it.
TRACED = ("botocore",)


TRACED_HTTP = ("botocore", "httpx")


def aws_busy(exc: BaseException) -> bool:
    """Whether an error is AWS still throttling or failing after the retries (the API: 503)."""
    return busy(exc)


@dataclass(frozen=True)
class Clients:
    s3: S3Client
    dynamodb: DynamoDBClient
    sqs: SQSClient

    @classmethod
    def from_env(cls) -> Clients:
        """Clients for the environment's region and endpoint (AWS_ENDPOINT_URL locally)."""
        aws = session()
        return cls(
            s3=aws.client("s3", config=S3_CONFIG),
            dynamodb=aws.client("dynamodb", config=CLIENT_CONFIG),
            sqs=aws.client("sqs", config=CLIENT_CONFIG),
        )


@dataclass(frozen=True)
class Parts:
    """What the handlers use: the ports are given, and each service is made from them on its
    first use, so a function makes only what it calls (the API never makes the provider,
    whose HTTP client is httpx). Racing threads may make a service twice; it holds no state
    of its own, so either one serves."""

    settings: Settings
    assets: AssetStore
    uploads: UploadStore
    ledger: Ledger
    budgets: DynamoBudgets
    jobs_queue: JobQueue
    progress: Progress
    job_records: JobRecords
    kept_jobs: JobStore
    report_requests: ReportRequests
    derivative_requests: SqsDerivativeRequests
    proof_requests: ProofRequests
    callback_requests: CallbackRequests
    replay_guard: DynamoReplayGuard
    # One store per handler: a store keeps the first configuration it is given (its key
    # path), and the local cloud runs every handler in one process.
    idempotency: Mapping[str, BasePersistenceLayer]
    # Secrets are read when first needed and re-read as Powertools Parameters' cache ages.
    webhook_secret: Callable[[], str]  # the shared secret API callers sign with
    callback_secret: Callable[[], str]  # the whsec_... job-end callbacks are signed with
    make_provider: Callable[[Settings], ImageProvider] = make_provider
    # Only the proof function reads images back; its engine is imported when first asked for.
    make_reader: Callable[[], ImageReader] = field(default=lambda: _onnx_reader())
    catalogue: Catalogue = field(default_factory=default_catalogue)
    prices: PriceTable = field(default_factory=default_prices)

    def store(self, handler: str, config: IdempotencyConfig) -> BasePersistenceLayer:
        """The handler's idempotency store, configured once under a lock: Powertools marks a
        store configured before it compiles its key path, so threads racing through their
        first call (the local cloud's workers) would otherwise find no key path at all."""
        store = self.idempotency[handler]
        with _CONFIGURING:
            store.configure(config, handler)
        return store

    @cached_property
    def pipeline(self) -> Pipeline:
        from placard.imaging.gate import ANSWER_PIXELS, WORKER_PIXELS, PixelGate
        from placard.providers.http import Timeouts
        from placard.services.pipeline import Pipeline

        return Pipeline(
            pixel_gate=PixelGate(WORKER_PIXELS),  # a batch's edits decode by turns
            answer_gate=PixelGate(ANSWER_PIXELS),  # and its largest answers arrive by turns
            answer_seconds=Timeouts().read,
            catalogue=self.catalogue,
            prices=self.prices,
            provider=self.make_provider(self.settings),
            assets=self.assets,
            ledger=self.ledger,
            uploads=self.uploads,
            budgets=self.budgets,
            started=self.progress.job_started,
            kept_jobs=self.kept_jobs,
        )

    @cached_property
    def ingest(self) -> Ingest:
        from placard.services.ingest import Ingest

        return Ingest(
            catalogue=self.catalogue,
            uploads=self.uploads,
            assets=self.assets,
            queue=self.jobs_queue,
            ledger=self.ledger,
            budgets=self.budgets,
            progress=self.progress,
            reports=self.report_requests,
            max_rows=self.settings.max_sheet_rows,
        )

    @cached_property
    def reporter(self) -> Reporter:
        from placard.reporting.campaign import Reporter

        return Reporter(
            catalogue=self.catalogue, uploads=self.uploads, assets=self.assets, ledger=self.ledger
        )

    @cached_property
    def job_endings(self) -> JobEndings:
        return JobEndings(
            records=self.job_records,
            callbacks=self.callback_requests,
            progress=self.progress,
            reports=self.report_requests,
        )

    @cached_property
    def proofs(self) -> Proofs:
        from placard.services.proofs import Proofs

        return Proofs(
            catalogue=self.catalogue,
            reader=self.make_reader(),
            assets=self.assets,
            ledger=self.ledger,
            jobs=self.jobs_queue,
            derivatives=self.derivative_requests,
        )

    @cached_property
    def reviews(self) -> Reviews:
        from placard.services.reviews import Reviews

        return Reviews(
            ledger=self.ledger,
            kept_jobs=self.kept_jobs,
            uploads=self.uploads,
            jobs=self.jobs_queue,
            reports=self.report_requests,
        )

    @cached_property
    def settlement(self) -> Settlement:
        from placard.services.settle import Settlement

        return Settlement(
            ledger=self.ledger,
            budgets=self.budgets,
            kept_jobs=self.kept_jobs,
            reports=self.report_requests,
        )

    @cached_property
    def job_service(self) -> JobService:
        from placard.api.service import JobService
        from placard.services.pipeline import utc_now

        return JobService(
            catalogue=self.catalogue,
            prices=self.prices,
            provider=self.settings.provider,
            uploads=self.uploads,
            assets=self.assets,
            queue=self.jobs_queue,
            ledger=self.ledger,
            records=self.job_records,
            remaining_budget=self.budgets.remaining,
            check_callback=self.check_callback,
            clock=utc_now,
        )

    @cached_property
    def callback_client(self) -> httpx.Client:
        import httpx

        # Redirects are never followed: one to a private address would get past the URL check.
        # No proxy from the environment either: a proxy would resolve the host on its own.
        return httpx.Client(follow_redirects=False, trust_env=False)

    def check_callback(self, url: str) -> None:
        from placard.api.callbacks import CallbackRefused, check_callback_url

        try:
            check_callback_url(url, allow_loopback=self.settings.allow_loopback_callbacks)
        except CallbackRefused as exc:
            raise InvalidInput("callback_url", exc.reason, url) from exc


def reconciler(parts: Parts, clients: Clients) -> Reconciler:
    """The reconciler on the parts' ports, with its own adapters and settings (only the
    reconcile function makes it; its variables are checked here, naming any missing)."""
    from placard.aws.reconcile import (
        DynamoDeadLetterMarks,
        DynamoStranded,
        S3StoredObjects,
        SqsDeadLetters,
    )
    from placard.reconcile_settings import ReconcileSettings
    from placard.services.reconcile import Reconciler

    given, settings = ReconcileSettings.from_env(), parts.settings
    db, table = clients.dynamodb, settings.ledger_table
    progress = DynamoProgress(db, table)
    return Reconciler(
        ledger=parts.ledger,
        stranded=DynamoStranded(db, table),
        objects=S3StoredObjects(clients.s3, settings.assets_bucket),
        assets=parts.assets,
        kept_jobs=parts.kept_jobs,
        budgets=parts.budgets,
        dead_letters=SqsDeadLetters(clients.sqs, given.dead_letter_queues),
        marks=DynamoDeadLetterMarks(db, table),
        progress=progress,
        records=parts.job_records,
        endings=parts.job_endings,
        proof_requests=parts.proof_requests,
        reports=parts.report_requests,
        after_seconds=given.after_seconds,
    )


def _onnx_reader() -> ImageReader:
    from placard.proofing.reader import OnnxReader

    return OnnxReader()


def build(settings: Settings, clients: Clients) -> Parts:
    """The parts on AWS: one adapter per port, all sharing the three clients."""
    from placard.aws.idempotency import idempotency_store

    db, table = clients.dynamodb, settings.ledger_table
    return Parts(
        settings=settings,
        assets=S3Assets(clients.s3, settings.assets_bucket),
        uploads=S3Uploads(clients.s3, settings.uploads_bucket),
        ledger=DynamoLedger(db, table),
        budgets=DynamoBudgets(db, table),
        jobs_queue=SqsJobQueue(clients.sqs, settings.jobs_queue_url),
        progress=DynamoProgress(db, table),
        job_records=DynamoJobRecords(db, table),
        kept_jobs=DynamoJobStore(db, table),
        report_requests=SqsReportRequests(clients.sqs, settings.reports_queue_url),
        derivative_requests=SqsDerivativeRequests(clients.sqs, settings.derivatives_queue_url),
        proof_requests=SqsProofRequests(clients.sqs, settings.proofs_queue_url),
        callback_requests=SqsCallbackRequests(clients.sqs, settings.callbacks_queue_url),
        # Twice the window: a signature stays refused for as long as it could be accepted.
        replay_guard=DynamoReplayGuard(db, settings.idempotency_table, 2 * WINDOW_SECONDS),
        idempotency={
            handler: idempotency_store(settings.idempotency_table, db)
            for handler in IDEMPOTENT_HANDLERS
        },
        webhook_secret=api_key("PLACARD_WEBHOOK_SECRET", settings.secret_name),
        callback_secret=api_key("PLACARD_CALLBACK_SECRET", settings.secret_name),
    )


def cold_start() -> Settings:
    """Called at a handler's import (Lambda's init): the environment's settings, or a
    SettingsError naming each missing or malformed variable, before any call is taken."""
    return Settings.from_env()


_BUILDING = threading.Lock()  # the local cloud's first calls come in threads at once
_CONFIGURING = threading.Lock()


def parts() -> Parts:
    """This container's parts, built from the environment on the first call."""
    with _BUILDING:
        return _built()


def clients() -> Clients:
    """This container's clients, made on the first call: one set, which its parts share
    (botocore reads each service's model once, the pools stay open between invocations)."""
    with _BUILDING:
        return _clients()


@cache
def _clients() -> Clients:
    return Clients.from_env()


@cache
def _built() -> Parts:
    return build(Settings.from_env(), _clients())


def forget() -> None:
    """Build anew on the next call: the environment changed (a new local cloud, a test's
    moto), and the clients name the old endpoint and the catalogue the old templates."""
    with _BUILDING:
        _built.cache_clear()
        _clients.cache_clear()
        default_catalogue.cache_clear()
