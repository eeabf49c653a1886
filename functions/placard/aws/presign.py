"""Presigned GET links by the hundred thousand: botocore signs one, the rest are signed alike.

botocore's generate_presigned_url costs about 1 ms (endpoint rules, a new signing key, the
whole request pipeline) and a 100,000-row report presigns some 350,000 links (#17). Two SigV4
query signatures of the same bucket, credential, date and expiry differ only in the path, so
each link is made from a probe link botocore signed: the probe's host, query and signing key,
the key's own path and signature (one HMAC). The probe is re-signed each minute, so a link
lives as long as botocore's would, give or take that minute; and every probe is checked: when
the probe itself cannot be rebuilt exactly (another signature version, another path rule),
every link is botocore's, as before.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlsplit

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

PROBE_KEY = "placard/probe key~+é.png"  # a space, a tilde, a plus, a non-ASCII letter
REFRESH_SECONDS = 60.0
_SIGNATURE = "&X-Amz-Signature="


@dataclass(frozen=True)
class _Probe:
    base: str  # scheme://host
    prefix: str  # the path before the key: "/" (virtual host) or "/<bucket>/"
    query: str  # the probe's query without its signature
    canonical_query: str  # the same, as SigV4 signs it: the same for every key
    host: str
    amz_date: str
    scope: str
    signing_key: bytes

    def link(self, key: str) -> str:
        path = self.prefix + quote(key, safe="/~")
        canonical = (
            f"GET\n{path}\n{self.canonical_query}\nhost:{self.host}\n\nhost\nUNSIGNED-PAYLOAD"
        )
        digest = hashlib.sha256(canonical.encode()).hexdigest()
        to_sign = f"AWS4-HMAC-SHA256\n{self.amz_date}\n{self.scope}\n{digest}"
        signature = hmac.new(self.signing_key, to_sign.encode(), hashlib.sha256).hexdigest()
        return f"{self.base}{path}?{self.query}{_SIGNATURE}{signature}"


def _pairs(query: str) -> list[tuple[str, str]]:
    return [
        (unquote(name), unquote(value))
        for name, _, value in (part.partition("=") for part in query.split("&"))
    ]


class Presigner:
    def __init__(
        self,
        s3: S3Client,
        bucket: str,
        expires: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._expires = expires
        self._clock = clock
        self._probe: _Probe | None = None
        self._signed_at = -REFRESH_SECONDS
        self.fast = True  # False once a probe could not be rebuilt: botocore signs each link

    def botocore(self, key: str) -> str:
        return self._s3.generate_presigned_url(
            "get_object", Params={"Bucket": self._bucket, "Key": key}, ExpiresIn=self._expires
        )

    def __call__(self, key: str) -> str:
        if not self.fast:
            return self.botocore(key)
        if self._clock() - self._signed_at >= REFRESH_SECONDS:
            self._probe = self._new_probe()
            self._signed_at = self._clock()
        return self._probe.link(key) if self._probe else self.botocore(key)

    def _new_probe(self) -> _Probe | None:
        url = self.botocore(PROBE_KEY)
        probe = _rebuild(url, self._secret())
        if probe is None or probe.link(PROBE_KEY) != url:
            self.fast = False
            return None
        return probe

    def _secret(self) -> str | None:
        signer: Any = getattr(self._s3, "_request_signer", None)
        credentials = getattr(signer, "_credentials", None)
        if credentials is None:
            return None
        return str(credentials.get_frozen_credentials().secret_key)


def _rebuild(url: str, secret: str | None) -> _Probe | None:
    """The probe's parts, or None when it is not a SigV4 link signed for the host alone."""
    parts = urlsplit(url)
    suffix = quote(PROBE_KEY, safe="/~")
    if secret is None or not parts.path.endswith(suffix) or _SIGNATURE[1:] not in parts.query:
        return None
    query = parts.query[: parts.query.index(_SIGNATURE)] if _SIGNATURE in parts.query else ""
    fields = dict(_pairs(query))
    if (
        fields.get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256"
        or fields.get("X-Amz-SignedHeaders") != "host"
    ):
        return None
    _, date, region, service, _ = fields["X-Amz-Credential"].split("/")
    key = f"AWS4{secret}".encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return _Probe(
        base=f"{parts.scheme}://{parts.netloc}",
        prefix=parts.path[: -len(suffix)],
        query=query,
        canonical_query="&".join(
            sorted(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in _pairs(query))
        ),
        host=parts.netloc,
        amz_date=fields["X-Amz-Date"],
        scope=f"{date}/{region}/{service}/aws4_request",
        signing_key=key,
    )
