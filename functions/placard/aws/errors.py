"""What an AWS error says to a caller once the clients' retries are spent: busy (throttled, or
AWS failing on its side: worth trying again soon) or not (a request of ours it refuses)."""

from __future__ import annotations

from botocore.exceptions import ClientError
from botocore.retries.standard import RetryContext, ThrottledRetryableChecker

_THROTTLED = ThrottledRetryableChecker()  # botocore's own list of throttling codes
_SERVER_FAILING = (500, 502, 503, 504)


def busy(exc: BaseException) -> bool:
    """An AWS refusal of the kinds the clients retry: the caller may retry it later."""
    if not isinstance(exc, ClientError):
        return False
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    context = RetryContext(attempt_number=1, parsed_response=exc.response)
    return status in _SERVER_FAILING or bool(_THROTTLED.is_retryable(context))
