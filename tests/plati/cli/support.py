"""Running ``plati`` in process for the CLI tests."""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from typer.testing import CliRunner, Result

from plati.cli.main import app


def run(args: list[str], env: dict[str, str] | None = None, stdin: str | None = None) -> Result:
    """Run ``plati ARGS``; a crash (anything but an exit) fails the test with its traceback."""
    return CliRunner().invoke(app, args, env=env, input=stdin, catch_exceptions=False)


def one_error_line(result: Result) -> str:
    """The single line a failed command printed on stderr (stdout must be empty)."""
    assert result.exit_code == 1, (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@dataclass
class CliPlatform:
    """A running platform, its workspace and key, and how to run ``plati`` against it."""

    url: str
    data_dir: Path
    workspace_id: str
    api_key: str

    @property
    def env(self) -> dict[str, str]:
        """The operator's environment: the settings ``plati serve`` was started with."""
        return {"PLATI_DATA_DIR": str(self.data_dir)}

    def plati(self, *args: str, key: str | None = None) -> Result:
        return run(["--url", self.url, "--api-key", key or self.api_key, *args], env=self.env)

    def json(self, *args: str, key: str | None = None) -> Any:
        """``plati ARGS --json``, which must succeed and print nothing but JSON on stdout."""
        result = self.plati(*args, "--json", key=key)
        assert result.exit_code == 0, (result.stdout, result.stderr)
        return json.loads(result.stdout)


def closed_port() -> int:
    """A loopback port nothing listens on (it was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
