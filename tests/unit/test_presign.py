"""#17: presigned links signed from a probe are botocore's own, byte for byte."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.config import Config

from placard.aws.presign import Presigner

KEYS = [
    "campaigns/summer/0f3c/0.png",
    "campaigns/été 2026/a b/c~d+e.thumb.webp",
    "campaigns/x/%41&=?#;.png",
    "reports/summer/sheet/page-proof-failed-12.html",
]


def client(signature: str, **where: Any) -> Any:
    return boto3.client(
        "s3",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        config=Config(signature_version=signature),
        **where,
    )


def same_second(presigner: Presigner, key: str) -> tuple[str, str]:
    """Ours and botocore's link for a key, signed in the same second (X-Amz-Date)."""
    for _ in range(5):
        ours, theirs = presigner(key), presigner.botocore(key)
        if ours.split("X-Amz-Date=")[1][:16] == theirs.split("X-Amz-Date=")[1][:16]:
            return ours, theirs
        presigner._signed_at = float("-inf")  # a second passed between them: sign a new probe
    raise AssertionError("no two links signed in the same second")


@pytest.mark.parametrize(
    "where",
    [
        {"region_name": "eu-west-1", "aws_session_token": "FwoGZX/IvYXdzE+token=="},
        {"region_name": "us-east-1", "endpoint_url": "http://127.0.0.1:4566"},
    ],
    ids=["virtual-host-with-session-token", "path-style-local-endpoint"],
)
def test_links_are_botocores_for_any_key(where: dict[str, str]) -> None:
    # Given a SigV4 S3 client, on AWS with a session token or on a local endpoint
    presigner = Presigner(client("s3v4", **where), "assets-bucket", 7 * 24 * 3600)
    for key in KEYS:
        # When a link is made for a key with spaces, accents, reserved characters
        ours, theirs = same_second(presigner, key)
        # Then it is the link botocore signs, and it was made without botocore
        assert ours == theirs
    assert presigner.fast


def test_a_probe_that_cannot_be_rebuilt_leaves_every_link_to_botocore() -> None:
    # Given a client that signs links another way (SigV2 query strings)
    presigner = Presigner(client("s3", region_name="us-east-1"), "assets-bucket", 3600)
    # When a link is made
    link = presigner(KEYS[0])
    # Then botocore made it, and it always will
    assert not presigner.fast
    assert "Signature=" in link and "X-Amz-Signature" not in link
