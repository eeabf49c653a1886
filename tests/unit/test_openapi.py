"""The committed OpenAPI document is the one the handler's models generate."""

from __future__ import annotations

from pathlib import Path

from handlers import api

DOCUMENT = Path(__file__).parents[2] / "docs" / "openapi.json"


def test_the_committed_openapi_document_matches_the_handler() -> None:
    # Given the document generated from the routes and models now
    generated = api.openapi_json()
    # Then it is the committed one (regenerate with `make openapi` after changing the API)
    assert DOCUMENT.read_text(encoding="utf-8") == generated, "run `make openapi` and commit"
