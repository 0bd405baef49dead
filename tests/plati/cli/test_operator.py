"""init / keys / serve: operator commands on the database, checked through the running API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from plati.security.keys import looks_like_api_key
from tests.plati.cli.support import CliPlatform, closed_port, one_error_line, run


def test_init_json_prints_only_the_workspace_and_a_working_key(tmp_path: Path) -> None:
    env = {"PLATI_DATA_DIR": str(tmp_path / "data")}
    result = run(["init", "--name", "acme", "--json"], env=env)
    assert result.exit_code == 0, result.stderr
    created = json.loads(result.stdout)
    assert set(created) == {"workspace_id", "api_key"}
    assert created["workspace_id"].startswith("ws_")
    assert looks_like_api_key(created["api_key"])

    [key] = json.loads(run(["keys", "list", "--json"], env=env).stdout)
    assert (key["name"], key["access"], key["workspace_id"]) == ("default", "read-write", created["workspace_id"])
    assert created["api_key"].startswith(key["prefix"])


def test_init_shows_the_key_once_with_a_warning(tmp_path: Path) -> None:
    result = run(["init"], env={"PLATI_DATA_DIR": str(tmp_path / "data")})
    assert result.exit_code == 0, result.stderr
    assert "Workspace created" in result.stdout
    assert "plati_" in result.stdout
    assert "will not be shown again" in result.stderr


def test_init_twice_says_a_workspace_exists_and_names_the_flag_for_another(tmp_path: Path) -> None:
    env = {"PLATI_DATA_DIR": str(tmp_path / "data")}
    first = json.loads(run(["init", "--name", "My shop", "--json"], env=env).stdout)
    again = run(["init", "--name", "My shop"], env=env)
    assert again.exit_code == 1
    line = one_error_line(again)
    assert line.startswith("error (conflict): ")
    assert first["workspace_id"] in line and "--another" in line and "plati keys create" in line
    assert [k["workspace_id"] for k in json.loads(run(["keys", "list", "--json"], env=env).stdout)] == [
        first["workspace_id"]
    ]


def test_keys_need_a_workspace_to_exist(tmp_path: Path) -> None:
    line = one_error_line(run(["keys", "list"], env={"PLATI_DATA_DIR": str(tmp_path / "data")}))
    assert line.startswith("error (not_found): ")
    assert "plati init" in line


def test_keys_ask_for_workspace_when_there_are_several(platform: CliPlatform) -> None:
    other = json.loads(run(["init", "--name", "second", "--another", "--json"], env=platform.env).stdout)
    line = one_error_line(run(["keys", "create"], env=platform.env))
    assert line.startswith("error (validation_error): ")
    assert "--workspace" in line
    chosen = run(["keys", "list", "--workspace", other["workspace_id"], "--json"], env=platform.env)
    assert [k["workspace_id"] for k in json.loads(chosen.stdout)] == [other["workspace_id"]]
    unknown = one_error_line(run(["keys", "list", "--workspace", "ws_nope"], env=platform.env))
    assert unknown.startswith("error (not_found): ")


def test_keys_create_list_revoke_and_the_revoked_key_gets_401(platform: CliPlatform, shop: str) -> None:
    rw = platform.json("keys", "create", "--name", "ci")
    assert (rw["name"], rw["access"]) == ("ci", "read-write")
    ro = platform.json("keys", "create", "--name", "dashboard", "--read-only")
    assert ro["access"] == "read-only"

    # The new keys work, with the access they were given.
    assert platform.json("mcp", "list", key=rw["api_key"]) == []
    assert platform.json("mcp", "list", key=ro["api_key"]) == []
    line = one_error_line(platform.plati("mcp", "add", "shop", "--url", shop, key=ro["api_key"]))
    assert line.startswith("error (403 forbidden): ")
    line = one_error_line(platform.plati("assistant", "create", "A", key=ro["api_key"]))
    assert line.startswith("error (403 forbidden): ")

    listed = platform.json("keys", "list")
    assert [(k["name"], k["access"]) for k in listed] == [
        ("default", "read-write"),
        ("ci", "read-write"),
        ("dashboard", "read-only"),
    ]
    assert listed[1]["last_used_at"] is not None
    table = platform.plati("keys", "list")
    assert table.exit_code == 0
    assert rw["id"] in table.stdout and "read-only" in table.stdout
    for key in (platform.api_key, rw["api_key"], ro["api_key"]):
        assert key not in table.stdout
        assert key not in json.dumps(listed)

    revoked = platform.plati("keys", "revoke", rw["id"])
    assert revoked.exit_code == 0 and rw["id"] in revoked.stdout
    line = one_error_line(platform.plati("mcp", "list", key=rw["api_key"]))
    assert line.startswith("error (401 unauthorized): ")
    assert platform.json("keys", "list")[1]["revoked_at"] is not None
    assert "UTC" in platform.plati("keys", "list").stdout.split(rw["id"])[1].splitlines()[0]

    assert platform.json("keys", "revoke", ro["id"]) == {"id": ro["id"], "revoked": True}
    again = one_error_line(platform.plati("keys", "revoke", ro["id"]))
    assert again.startswith("error (conflict): ")
    unknown = one_error_line(platform.plati("keys", "revoke", "key_nope"))
    assert unknown.startswith("error (not_found): ")


def test_a_bad_setting_is_one_line(tmp_path: Path) -> None:
    env = {"PLATI_DATA_DIR": str(tmp_path), "PLATI_MCP_TIMEOUT_SECONDS": "soon"}
    line = one_error_line(run(["keys", "list"], env=env))
    assert line.startswith("error (config_error): ") and "PLATI_MCP_TIMEOUT_SECONDS" in line


def test_serve_runs_the_api_with_the_settings_and_init_key(tmp_path: Path) -> None:
    # PYTHONPATH passes on which checkout of plati is under test.
    env = {"PLATI_DATA_DIR": str(tmp_path / "data"), "PATH": "/usr/bin:/bin"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p and Path(p).is_dir() and "site-packages" not in p)
    created = json.loads(run(["init", "--json"], env=env).stdout)
    port = closed_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "plati.cli.main", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, server.stderr.read() if server.stderr else ""
            try:
                health = httpx.get(f"{url}/health", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "plati serve did not start"
                time.sleep(0.05)
        assert health.json()["data"]["status"] == "ok"
        result = run(["--url", url, "--api-key", created["api_key"], "channel", "list", "--json"])
        assert result.exit_code == 0, result.stderr
        assert json.loads(result.stdout) == []
        assert server.stdout is not None
        assert server.stdout.readline().decode().strip() == f"Plati API ready at {url} — docs at {url}/docs"
    finally:
        server.terminate()
        server.wait(timeout=30)
        for stream in (server.stdout, server.stderr):
            if stream:
                stream.close()
