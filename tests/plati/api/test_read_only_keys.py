"""Read-only keys read, and nothing else: every route of the app, taken from its own OpenAPI
document (so a route added later is walked without anyone remembering), is called with a
read-only key; writes and turns are refused, no row changes and no function is called."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from plati.store.db import Database

from .conftest import Platform, RequestCounter

# GET routes that are not reads: they run a turn (and so call functions and store messages).
NOT_READS = frozenset({("GET", "/conversation/{identity_id}/streaming")})
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
IDENTITY = "customer-1"
QUESTION = "Where is my order ORD-001?"
# Left out of the comparison: using a key records when it was last used.
VOLATILE = frozenset({("api_keys", "last_used_at")})


@pytest.fixture
def platform_env() -> dict[str, str]:
    # Every cached tool list is already expired: a read that refreshed it would rewrite it.
    return {"PLATI_TOOLS_TTL_SECONDS": "0"}


def workspace_ids(http: httpx.Client, shop: str) -> dict[str, str]:
    """Fill the workspace with one of everything (with the read-write key); their ids by the
    names the routes give their parameters."""
    mcp_id = http.post("/workspace/mcps", json={"name": "Shop", "url": shop}).json()["data"]["id"]
    assistant_id = http.post("/assistant", json={"name": "Support"}).json()["data"]["id"]
    assert http.put(f"/assistant/{assistant_id}/mcp/{mcp_id}").status_code == 200
    channel = http.post("/channels", json={"name": "web", "assistant_id": assistant_id})
    channel_id = channel.json()["data"]["id"]
    chat = http.post(f"/conversation/{IDENTITY}/chat/{channel_id}", json={"text": QUESTION})
    assert chat.status_code == 200, chat.text
    assert [call["success"] for call in chat.json()["data"]["function_calls"]] == [True]
    return {
        "mcp_id": mcp_id,
        "assistant_id": assistant_id,
        "channel_id": channel_id,
        "conversation_id": chat.json()["data"]["conversation_id"],
        "identity_id": IDENTITY,
        "key_id": http.get("/workspace/api-keys").json()["data"][0]["id"],
    }


def fillers(ids: dict[str, str], shop: str) -> dict[str, Any]:
    """A working value for every parameter and body field name the API uses. Each body value
    would change something if it were accepted."""
    return {
        **ids,
        "text": QUESTION,
        "name": "check_order_status",  # a function's name, and a new name for anything else
        "arguments": {"order_id": "ORD-001"},
        "url": shop,
        "active": False,
        "openai_model": "a-model-chosen-with-a-read-only-key",
    }


def resolve(schema: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    found: Any = document
    for part in ref.removeprefix("#/").split("/"):
        found = found[part]
    return resolve(found, document)


def filler(values: dict[str, Any], name: str, where: str) -> Any:
    if name not in values:
        pytest.fail(f"No value for the parameter {name!r} of {where}: add a filler for it in fillers() of this test.")
    return values[name]


def body_for(operation: dict[str, Any], values: dict[str, Any], document: dict[str, Any], where: str) -> Any:
    """A JSON body for the operation from its schema: every field with a filler, so that the
    request would write something if it were let through."""
    content = operation.get("requestBody", {}).get("content", {})
    if not content:
        return None
    schema = resolve(content["application/json"]["schema"], document)
    properties = schema.get("properties", {})
    for name in schema.get("required", []):
        filler(values, name, f"the body of {where}")
    body = {name: values[name] for name in properties if name in values}
    if not body:
        pytest.fail(f"No field of the body of {where} has a filler: add one in fillers() of this test.")
    return body


def request_for(
    method: str, path: str, operation: dict[str, Any], values: dict[str, Any], document: dict[str, Any]
) -> tuple[str, dict[str, Any], Any]:
    where = f"{method} {path}"
    url = path
    query: dict[str, Any] = {}
    for parameter in operation.get("parameters", []):
        name = parameter["name"]
        if parameter["in"] == "path":
            url = url.replace("{" + name + "}", str(filler(values, name, where)))
        elif parameter["in"] == "query" and parameter.get("required"):
            query[name] = filler(values, name, where)
    return url, query, body_for(operation, values, document, where)


def error_code(response: httpx.Response) -> Any:
    try:
        return response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None


def _reflect(connection: sa.Connection) -> list[sa.Table]:
    metadata = sa.MetaData()
    return [sa.Table(name, metadata, autoload_with=connection) for name in sa.inspect(connection).get_table_names()]


async def _dump(platform: Platform) -> dict[str, list[str]]:
    db = Database(platform.database_url, schema=platform.schema)
    try:
        async with db.engine.connect() as connection:
            tables = await connection.run_sync(_reflect)
            dump: dict[str, list[str]] = {}
            for table in tables:
                columns = [column for column in table.columns if (table.name, column.name) not in VOLATILE]
                rows = (await connection.execute(sa.select(*columns))).all()
                dump[table.name] = sorted(repr(tuple(row)) for row in rows)
            return dump
    finally:
        await db.aclose()


def dump_tables(platform: Platform) -> dict[str, list[str]]:
    """Every row of every table of the platform's database (as text), by table."""
    return asyncio.run(_dump(platform))


def test_read_only_keys_are_refused_on_every_route_that_writes_runs_a_turn_or_calls_a_function(
    platform: Platform, counted_shop: tuple[RequestCounter, str]
) -> None:
    counter, shop = counted_shop
    with platform.client() as http:
        values = fillers(workspace_ids(http, shop), shop)
        document = http.get("/openapi.json").json()
    before = dump_tables(platform)
    calls_before = counter.calls
    assert {"messages", "turns", "conversations", "mcp_servers", "api_keys"} <= set(before)
    assert before["messages"] and calls_before == 1

    routes = [
        (method.upper(), path, operation)
        for path, ops in document["paths"].items()
        for method, operation in ops.items()
    ]
    # Deletions last: were one let through, every other route would still get its chance to write.
    routes.sort(key=lambda route: route[0] == "DELETE")
    problems: list[str] = []
    with platform.client(platform.tenant.read_only_key) as http:
        for method, path, operation in routes:
            url, query, body = request_for(method, path, operation, values, document)
            response = http.request(method, url, params=query, json=body)
            if method in READ_METHODS and (method, path) not in NOT_READS:
                if response.status_code != 200:
                    problems.append(f"{method} {path}: a read answered {response.status_code} {response.text[:300]}")
            elif (response.status_code, error_code(response)) != (403, "forbidden"):
                problems.append(f"{method} {path}: answered {response.status_code} {response.text[:300]}")

    assert not problems, "\n".join(problems)
    walked = {(method, path) for method, path, _ in routes}
    assert walked >= NOT_READS and ("POST", "/conversation/{identity_id}/chat/{channel_id}") in walked
    assert counter.calls == calls_before, "a read-only key made the platform call a function"
    after = dump_tables(platform)
    changed = {name: (before[name], after.get(name)) for name in before if before[name] != after.get(name)}
    assert not changed, f"a read-only key changed the database: {changed}"
    assert set(after) == set(before)
