"""S3: the assets bucket (write-once images, reports) and the uploads bucket (sheets, sources)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import IO, TYPE_CHECKING

from botocore.exceptions import ClientError

from placard.aws.presign import Presigner

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import HeadObjectOutputTypeDef

SPOOL_BYTES = 32 * 1024 * 1024
LINK_SECONDS = 7 * 24 * 3600  # the longest a SigV4 presigned URL lives


MISSING = ("404", "NoSuchKey", "NotFound")


def head_or_none(s3: S3Client, bucket: str, key: str) -> HeadObjectOutputTypeDef | None:
    """The object's HEAD, or None when it is not there."""
    try:
        return s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in MISSING:
            return None
        raise


class S3Assets:
    def __init__(self, s3: S3Client, bucket: str) -> None:
        self._s3 = s3
        self.bucket = bucket
        self._presign = Presigner(s3, bucket, LINK_SECONDS)  # a report signs 350k links (#17)

    def put_new(self, key: str, data: bytes, content_type: str, metadata: dict[str, str]) -> bool:
        try:
            self._s3.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=data,
                ContentType=content_type,
                Metadata=metadata,
                IfNoneMatch="*",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("PreconditionFailed", "412"):
                return False
            raise
        return True

    def put_report(self, key: str, data: bytes, content_type: str) -> None:
        self._s3.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)

    def put_report_file(self, key: str, path: Path, content_type: str) -> None:
        """A report from a file: a multipart upload past 8 MB, a part in memory at a time."""
        self._s3.upload_file(str(path), self.bucket, key, ExtraArgs={"ContentType": content_type})

    def read(self, key: str) -> bytes:
        return self._s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def metadata(self, key: str) -> dict[str, str] | None:
        head = head_or_none(self._s3, self.bucket, key)
        if head is None:
            return None
        return {name.lower(): value for name, value in head.get("Metadata", {}).items()}

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def link(self, key: str) -> str:
        return self._presign(key)


class S3Uploads:
    def __init__(self, s3: S3Client, bucket: str) -> None:
        self._s3 = s3
        self.bucket = bucket

    def read(self, key: str) -> bytes:
        return self._s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def exists(self, key: str) -> bool:
        try:
            self._s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in MISSING:
                return False
            if code in ("403", "AccessDenied", "Forbidden"):
                return self._listed(key, exc)
            raise
        return True

    def _listed(self, key: str, refused: ClientError) -> bool:
        """S3 answers a missing key 403 when the reader may not list where it would be
        (template.yaml grants the list under campaigns/ only): listing the key itself tells
        missing from refused. Listed, the object is there and the refusal is real."""
        listing = self._s3.list_objects_v2(Bucket=self.bucket, Prefix=key, MaxKeys=1)
        if any(item.get("Key") == key for item in listing.get("Contents", [])):
            raise refused
        return False

    def metadata(self, key: str) -> dict[str, str]:
        # S3 keeps user metadata names in lower case; some servers title-case the headers.
        given = self._s3.head_object(Bucket=self.bucket, Key=key).get("Metadata", {})
        return {name.lower(): value for name, value in given.items()}

    def open(self, key: str) -> IO[bytes]:
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 (caller closes)
        self._s3.download_fileobj(self.bucket, key, spool)
        spool.seek(0)
        return spool
