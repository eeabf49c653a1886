"""API Gateway REST API (docs/design.md §4): signed calls become jobs on the queue; status, costs,
estimates and the template catalogue come back. Errors are always `{error: {...}}` JSON."""

from __future__ import annotations

import base64
import json
from typing import Annotated, Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Header, Path
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.idempotency.serialization.pydantic import (
    PydanticSerializer,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from handlers import ready
from placard import bootstrap
from placard.api.json_bodies import parse_body
from placard.api.models import (
    CampaignCosts,
    CampaignProgress,
    ErrorBody,
    ErrorDetail,
    Estimate,
    JobAccepted,
    JobRequest,
    JobStatus,
    ReviewReply,
    ReviewRequest,
    TemplateInfo,
)
from placard.api.service import ApiError
from placard.api.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, SignatureError, verify

bootstrap.cold_start()  # Lambda's init: fails here, naming a missing or malformed variable
MAX_BODY_BYTES = 64 * 1024  # a job is copy and names, never image bytes
RETRY_AFTER_SECONDS = 2  # about the clients' own last backoff

logger = Logger()
tracer = Tracer(patch_modules=bootstrap.TRACED)
app = APIGatewayRestResolver(enable_validation=True, json_body_deserializer=parse_body)
# The same key and body give the same job; the same key and another body is a 409.
IDEMPOTENCY = IdempotencyConfig(
    event_key_jmespath="key",
    payload_validation_jmespath="body",
    raise_on_no_idempotency_key=True,
    expires_after_seconds=24 * 3600,
)
JOB_ID = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="as POST /v1/jobs gave it")]
CAMPAIGN = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")]
ERRORS: dict[int, Any] = {
    status: {
        "description": description,
        "content": {"application/json": {"model": ErrorBody}},
    }
    for status, description in (
        (400, "The request is invalid; details name each field"),
        (401, "Missing, malformed, stale or wrong signature"),
        (402, "The job would take the campaign past its budget"),
        (404, "No such job, campaign or route"),
        (409, "This Idempotency-Key was used with another body"),
        (413, "The body is larger than 64 KiB"),
        (415, "The body is not application/json"),
        (429, "Throttled"),
        (503, "A data store is busy; try again after Retry-After seconds"),
    )
}


def responses(status: int, model: Any, description: str) -> dict[int, Any]:
    """The route's success answer, then every error it may give."""
    ok = {"description": description, "content": {"application/json": {"model": model}}}
    return {status: ok, **ERRORS}


def error(
    status: int, code: str, message: str, details: list[dict[str, Any]] | None = None
) -> Response[Any]:
    body = ErrorBody(error=ErrorDetail(code=code, message=message, details=details or []))
    return Response(status, "application/json", body.model_dump_json())


def raw_body(event: APIGatewayProxyEvent) -> bytes:
    body = event.body or ""
    return base64.b64decode(body) if event.is_base64_encoded else body.encode()


def refusal(event: APIGatewayProxyEvent, parts: bootstrap.Parts) -> Response[Any] | None:
    """Size, signature, replay, then JSON's media type and UTF-8, before anything is parsed.
    Run ahead of the resolver: its request validation would parse any caller's body first."""
    body = raw_body(event)
    if len(body) > MAX_BODY_BYTES:
        return error(413, "too_large", f"the body is {len(body)} bytes; at most {MAX_BODY_BYTES}")
    # The path as the caller called it (with the stage, on API Gateway), without the query.
    path = event.request_context.path or event.path
    headers = {k.lower(): v for k, v in (event.headers or {}).items()}
    try:
        verify(parts.webhook_secret(), headers, event.http_method, path, body)
    except SignatureError as exc:
        return error(401, "bad_signature", exc.reason)
    # A request that changes something is accepted once: a captured copy sent again within
    # the window is refused. Reads may repeat, and so may a retry under its Idempotency-Key
    # (signed within the same second, it carries the same signature; it gets the same job).
    signature, key = headers[SIGNATURE_HEADER.lower()], headers.get("idempotency-key")
    if event.http_method != "GET" and not parts.replay_guard.first_use(signature, key):
        return error(
            401,
            "bad_signature",
            "this signature was used before: sign each request, or retry it with the "
            "Idempotency-Key it was first sent with",
        )
    media = headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if body and media != "application/json":
        return error(
            415, "unsupported_media_type", f"the body must be application/json; got {media}"
        )
    try:
        body.decode()
    except UnicodeDecodeError as exc:
        return error(
            400, "invalid_json", f"the body is not UTF-8 text: byte {exc.start} is not UTF-8"
        )
    return None


@app.exception_handler(RequestValidationError)
def invalid(exc: RequestValidationError) -> Response[Any]:
    details = [
        {
            "field": ".".join(str(p) for p in e.get("loc", ())[1:]) or "body",
            "reason": e.get("msg", ""),
        }
        for e in exc.errors()
    ]
    return error(
        400, "invalid_request", "; ".join(f"{d['field']}: {d['reason']}" for d in details), details
    )


@app.exception_handler(ApiError)
def refused(exc: ApiError) -> Response[Any]:
    return error(exc.status, exc.code, exc.message, exc.details)


@app.exception_handler(IdempotencyValidationError)
def key_reused(exc: IdempotencyValidationError) -> Response[Any]:
    return error(409, "idempotency_key_reused", "this Idempotency-Key was used with another body")


@app.exception_handler(IdempotencyAlreadyInProgressError)
def key_in_progress(exc: IdempotencyAlreadyInProgressError) -> Response[Any]:
    return error(409, "in_progress", "a request with this Idempotency-Key is still being handled")


def busy() -> Response[Any]:
    """A store still throttling or failing after the clients' retries: the caller may try
    again soon. Anything else AWS refuses is ours to fix (500)."""
    logger.warning("AWS still refusing after the retries", exc_info=True)
    reply = error(503, "unavailable", "the service is busy; try again in a few seconds")
    reply.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return reply


@app.exception_handler(Exception)
def unexpected(exc: Exception) -> Response[Any]:
    return busy() if bootstrap.aws_busy(exc) else internal_error()


def internal_error() -> Response[Any]:
    logger.exception("unexpected error")  # the trace goes to the log, never to the caller
    return error(500, "internal", "something went wrong on our side; it has been logged")


@app.not_found
def no_route(exc: Exception) -> Response[Any]:
    return error(
        404, "not_found", f"no route {app.current_event.http_method} {app.current_event.path}"
    )


def current() -> bootstrap.Parts:
    """The parts this request is handled with, as `process` put them in the app's context."""
    parts: bootstrap.Parts = app.context["parts"]
    return parts


def submit(call: dict[str, Any], parts: bootstrap.Parts) -> JobAccepted:
    return parts.job_service.submit(JobRequest.model_validate(call["body"]))


@app.post(
    "/v1/jobs",
    status_code=202,
    summary="Queue a job",
    responses=responses(202, JobAccepted, "Queued; poll status_url or wait for the callback"),
)
def create_job(
    request: JobRequest,
    idempotency_key: Annotated[
        str | None, Header(alias="Idempotency-Key", max_length=255, min_length=1)
    ] = None,
) -> JobAccepted:
    parts = current()
    if idempotency_key is None:
        return parts.job_service.submit(request)
    once = idempotent_function(
        data_keyword_argument="call",
        persistence_store=parts.store("api", IDEMPOTENCY),
        config=IDEMPOTENCY,
        output_serializer=PydanticSerializer(JobAccepted),
    )(submit)
    accepted: JobAccepted = once(
        call={"key": idempotency_key, "body": request.model_dump(mode="json")}, parts=parts
    )
    return accepted


@app.get(
    "/v1/jobs/<job_id>",
    summary="A job's status, images and cost",
    responses=responses(200, JobStatus, "The job as it stands"),
)
def get_job(job_id: JOB_ID) -> JobStatus:
    return current().job_service.status(job_id)


@app.post(
    "/v1/jobs/<job_id>/review",
    summary="A person's decision on a job's images: approved, rejected (with a note), reroll",
    responses={
        **responses(200, ReviewReply, "What the decision did to each image"),
        409: {
            "description": "The job has no delivered image to decide on yet",
            "content": {"application/json": {"model": ErrorBody}},
        },
    },
)
def review_job(job_id: JOB_ID, request: ReviewRequest) -> ReviewReply:
    parts = current()
    return parts.job_service.review(job_id, request, parts.reviews)


@app.get(
    "/v1/campaigns/<campaign>/costs",
    summary="A campaign's totals",
    responses=responses(200, CampaignCosts, "Totals by quality, provider and day"),
)
def get_costs(campaign: CAMPAIGN) -> CampaignCosts:
    return current().job_service.costs(campaign)


@app.get(
    "/v1/campaigns/<campaign>/progress",
    summary="A campaign's sheet jobs: queued, running, ended by status, spent, time left",
    responses=responses(200, CampaignProgress, "The campaign as it stands, from its counters"),
)
def get_progress(campaign: CAMPAIGN) -> CampaignProgress:
    parts = current()
    return parts.job_service.progress(campaign, parts.progress)


@app.post(
    "/v1/estimate",
    summary="What a job would cost, without running it",
    responses=responses(200, Estimate, "The estimate"),
)
def estimate(request: JobRequest) -> Estimate:
    return current().job_service.estimate(request)


@app.get(
    "/v1/templates",
    summary="The template catalogue",
    responses=responses(200, list[TemplateInfo], "Every template and its variables"),
)
def templates() -> list[TemplateInfo]:
    return [TemplateInfo(**t.describe()) for t in current().job_service.catalogue.values()]


def openapi_json() -> str:
    """The document committed as docs/openapi.json; a test fails when the two drift."""
    # Here, not at import: the OpenAPI models are a third of the function's cold import, and
    # a request never needs them.
    from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn

    document = json.loads(
        app.get_openapi_json_schema(
            title="placard",
            version="1.0.0",
            description=DESCRIPTION,
            security_schemes={
                name: APIKey.model_validate({"name": header, "in": APIKeyIn.header})
                for name, header in (
                    ("signature", SIGNATURE_HEADER),
                    ("timestamp", TIMESTAMP_HEADER),
                )
            },
            security=[{"signature": [], "timestamp": []}],
        )
    )
    # Validation errors are answered 400 in the error shape, never with Powertools' 422.
    for operations in document["paths"].values():
        for operation in operations.values():
            operation["responses"].pop("422", None)
    for name in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        document["components"]["schemas"].pop(name, None)
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


DESCRIPTION = """Posters, ads and shop signs on demand. Every request is signed: X-Placard-Timestamp
(unix seconds) and X-Placard-Signature: sha256=HEX, the HMAC-SHA256 of
"{timestamp}.{METHOD}.{path}.{raw body}" with the shared secret; 300 s window."""


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process(event, context, bootstrap.parts())


def process(
    event: dict[str, Any], context: LambdaContext, parts: bootstrap.Parts
) -> dict[str, Any]:
    """The handler's work with the parts it is given (a test hands in its own)."""
    IDEMPOTENCY.register_lambda_context(context)
    try:
        refused = refusal(APIGatewayProxyEvent(event), parts)
    except Exception as exc:  # the secret or the replay guard: outside the resolver's handlers
        refused = busy() if bootstrap.aws_busy(exc) else internal_error()
    if refused is not None:
        return {
            "statusCode": refused.status_code,
            "headers": {"Content-Type": "application/json", **refused.headers},
            "body": refused.body,
            "isBase64Encoded": False,
        }
    # The routes read the parts from here; resolve() clears the context when it is done.
    app.append_context(parts=parts)  # type: ignore[no-untyped-call]
    return app.resolve(event, context)


ready()  # the init is done: the collector runs again (handlers/__init__.py)
