"""API fuzzing: schemathesis sends requests generated from the app's own OpenAPI document
(schema examples, boundary values, random valid and invalid data) to every operation, in process
over ASGI with the app's lifespan running, with a read-write key, on SQLite and PostgreSQL. No
request may end in a server error.

Fuzzed path parameters and bodies use real ids (a registered MCP served by the e-commerce example
on loopback, an assistant using it, a channel, a conversation) about half the time, so requests
reach the code behind the lookups. Fuzzed URLs (function servers, model base URLs) point anywhere:
the suite's network guard (``loopback_only``) refuses every non-loopback address, and the platform
must answer those with a 4xx/502, never a 500.

Schemathesis runs through its engine (what its CLI runs), not its pytest plugin: the plugin's
fixture-based loader does not work with pytest 9.2 (it sets ``Node._nodeid``, which is gone).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import pytest
import schemathesis
from schemathesis.engine import events, from_schema
from schemathesis.python import asgi

from plati.app import create_app

from ..conftest import DatabaseTarget, run_sync
from .conftest import _create_tenant, make_settings

MAX_EXAMPLES = 60  # per operation and generation mode, in the fuzzing phase

CHECKS: dict[str, dict[str, Any]] = {
    # The point of the run. 502/504 are the documented answers when a function server or model
    # provider fails (SPEC section 5): fuzzed URLs point at nothing, or outside loopback.
    "not_a_server_error": {"expected-statuses": ["2xx", "3xx", "4xx", "502", "504"]},
    # A resource deleted with a 2xx is gone afterwards; one created is then readable.
    "use_after_free": {"enabled": True},
    "ensure_resource_availability": {"enabled": True},
    "response_headers_conformance": {"enabled": True},
    "response_schema_conformance": {"enabled": True},
    # Relaxed where the documented behaviour differs from what these checks assume:
    # - the OpenAPI document lists each route's error statuses (plati.api.openapi, checked against
    #   real responses in test_openapi.py), but not the 405 Starlette answers for other methods;
    "status_code_conformance": {"enabled": False},
    # - schema-valid is not enough to succeed: ids that do not exist are a 404, cross-field rules
    #   (a stdio MCP needs ``command``, operator maximums, reachable function servers) a 4xx/502;
    "positive_data_acceptance": {"enabled": False},
    # - bodies are validated by pydantic in lax mode (``0`` is a valid boolean, ``"5"`` a number),
    #   and the chat route reads JSON whatever the Content-Type (the guide's curl sends a form);
    "negative_data_rejection": {"enabled": False},
    # - the streaming route answers text/event-stream, documented as JSON by FastAPI;
    "content_type_conformance": {"enabled": False},
    # - a 405's Allow header lists the methods of the first matching route only (Starlette), not
    #   every method of the path;
    "unsupported_method": {"enabled": False},
    "allow_header_conformance": {"enabled": False},
    # - the run always sends the workspace's key (auth is covered by test_auth_and_isolation.py and
    #   the bearer scheme by test_openapi.py).
    "ignored_auth": {"enabled": False},
    "missing_required_header": {"enabled": False},
}


@dataclass
class World:
    """The fuzzed platform: an in-process client over ASGI, the workspace's key, and real ids."""

    headers: dict[str, str]
    client: Any
    shop: str
    ids: dict[str, str] = field(default_factory=dict)
    functions: list[str] = field(default_factory=list)

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.client.request(method, path, headers=self.headers, timeout=30, **kwargs)
        assert response.status_code < 300, (method, path, response.status_code, response.text[:500])
        return response.json()["data"]

    def populate(self) -> None:
        """A registered MCP, an assistant using it, a channel and a conversation (again after a
        fuzzed request deleted one)."""
        mcp = self.request("POST", "/workspace/mcps", json={"name": f"shop-{time.monotonic_ns()}", "url": self.shop})
        assistant = self.request("POST", "/assistant", json={"name": "Fuzzed", "instructions": "Help."})
        self.request("PUT", f"/assistant/{assistant['id']}/mcp/{mcp['id']}")
        channel = self.request("POST", "/channels", json={"name": "c", "assistant_id": assistant["id"]})
        reply = self.request("POST", f"/conversation/fuzz-user/chat/{channel['id']}", json={"text": "ORD-001?"})
        self.functions = [tool["name"] for tool in self.request("GET", f"/workspace/mcps/{mcp['id']}/tools")]
        self.ids.update(
            mcp_id=mcp["id"],
            assistant_id=assistant["id"],
            channel_id=channel["id"],
            identity_id="fuzz-user",
            conversation_id=reply["conversation_id"],
        )


@pytest.fixture
def world(database_url: DatabaseTarget, tmp_path: Path, shop: str) -> Iterator[World]:
    # Short timeouts: fuzzed function servers and model base URLs fail fast. No per-key rate
    # limit: the run sends ~2,000 requests in ~20 s with one key, and 429s would stop it short.
    settings = make_settings(
        tmp_path,
        database_url.url,
        PLATI_RATE_LIMIT="off",
        PLATI_MCP_TIMEOUT_SECONDS="2",
        PLATI_MAX_MCP_TIMEOUT_SECONDS="2",
        PLATI_PROVIDER_TIMEOUT_SECONDS="2",
        PLATI_MAX_PROVIDER_TIMEOUT_SECONDS="2",
    )
    assert not settings.allow_stdio  # fuzzed commands must never run
    app = create_app(settings, database_schema=database_url.schema)
    client = asgi.get_client(app)
    try:
        with client:  # starts the app's lifespan (migrations, services) on schemathesis's event loop
            tenant = run_sync(lambda: _create_tenant(database_url.url, database_url.schema, "fuzz"))
            found = World({"Authorization": f"Bearer {tenant.api_key}"}, client, shop)
            found.populate()
            yield found
    finally:
        asgi.shutdown_lifespans()  # closes the database before its schema is dropped


def fuzzed_schema(world: World) -> Any:
    config = schemathesis.Config.from_dict(
        {
            "headers": world.headers,
            # No example database (nothing written under .hypothesis/ and replayed next time);
            # health checks judge generation speed, which a busy CI machine should not fail.
            "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "database": "none"},
            "suppress-health-check": ["all"],
            "phases": {
                "examples": {"enabled": True},
                "coverage": {"enabled": True},
                "fuzzing": {"enabled": True},
                "stateful": {"enabled": False},
            },
            "checks": CHECKS,
        }
    )
    schema = schemathesis.openapi.from_asgi("/openapi.json", world.client.app, config=config)

    @schema.hook
    def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any] | None) -> Any:
        if not path_parameters:
            return st.just(path_parameters)
        real = {name: world.ids[name] for name in path_parameters if name in world.ids}
        return st.sampled_from([path_parameters, {**path_parameters, **real}])

    @schema.hook
    def flatmap_body(context: Any, body: Any) -> Any:
        if not isinstance(body, dict):
            return st.just(body)
        real: dict[str, Any] = {}
        if "assistant_id" in body:
            real["assistant_id"] = world.ids["assistant_id"]
        if context.operation.path.endswith("/call") and world.functions:
            real["name"] = world.functions[len(str(body.get("name"))) % len(world.functions)]
        return st.sampled_from([body, {**body, **real}])

    @schema.hook
    def after_call(context: Any, case: Any, response: Any) -> None:
        if case.method.upper() == "DELETE" and response.status_code < 300:
            world.populate()

    return schema


def test_no_fuzzed_request_gets_a_server_error(world: World) -> None:
    failures: list[str] = []
    statuses: dict[int, int] = {}
    started = time.monotonic()
    for event in from_schema(fuzzed_schema(world)).execute():
        if isinstance(event, events.ScenarioFinished):
            for interaction in event.recorder.interactions.values():
                if interaction.response is not None:
                    status = interaction.response.status_code
                    statuses[status] = statuses.get(status, 0) + 1
            for case_id, checks in event.recorder.checks.items():
                for check in checks:
                    if check.failure_info is not None:
                        case = event.recorder.cases[case_id].value
                        curl = case.as_curl_command()
                        failures.append(f"{event.label}: {check.failure_info.failure.title}\n{curl[:2000]}")
        elif isinstance(event, events.NonFatalError):
            failures.append(f"{event.label}: {event.info.format()}")
        elif isinstance(event, events.FatalError):
            failures.append(f"Schemathesis stopped: {event.exception!r}")
    elapsed = time.monotonic() - started
    by_status = dict(sorted(statuses.items()))
    print(f"\nfuzzing: {sum(statuses.values())} requests in {elapsed:.0f} s, by status {by_status}")
    assert not failures, "\n\n".join(failures)
    assert sum(statuses.values()) > 1000
    assert not any(status >= 500 and status not in (502, 504) for status in statuses)
