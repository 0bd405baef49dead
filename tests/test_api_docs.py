"""docs/api.md is generated from the OpenAPI document and covers every endpoint; CI fails when it drifts."""

from __future__ import annotations

from scripts.api_docs import TARGET, build_document, render


def test_docs_api_md_is_what_the_script_generates_from_the_openapi_document() -> None:
    assert TARGET.read_text(encoding="utf-8") == render(build_document()), (
        "docs/api.md is out of date: run `python scripts/api_docs.py`"
    )


def test_docs_api_md_covers_every_endpoint() -> None:
    document = build_document()
    text = TARGET.read_text(encoding="utf-8")
    for path, operations in document["paths"].items():
        for method in operations:
            assert f"### `{method.upper()} {path}`" in text
    for must in (
        "/conversation/{identity_id}/chat/{channel_id}",
        "/conversation/{identity_id}/streaming",
        "/conversations",
        "/workspace/settings",
    ):
        assert must in document["paths"]
