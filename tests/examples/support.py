"""Helpers for the example tests."""

from __future__ import annotations

import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx


def query(db_path: Path, sql: str, *params: Any) -> list[dict[str, Any]]:
    """Rows of a read-only query, as dicts (to check what a function stored)."""
    conn = sqlite3.connect(db_path)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in conn.execute(sql, params)]
    finally:
        conn.close()


REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def interruptible() -> None:
    """``preexec_fn`` for a child stopped with SIGINT: a shell without job control starts
    background jobs with SIGINT ignored, and a Python child would inherit that and never stop."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextmanager
def running_module(*args: str, timeout: float = 30.0) -> Iterator[subprocess.Popen[str]]:
    """Run ``python -m <args>`` from the repository root; stop it (SIGINT, then kill) on exit."""
    process = subprocess.Popen(
        [sys.executable, "-m", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=interruptible,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=timeout)
        if process.stdout is not None:
            process.stdout.close()


def wait_until_serving(base_url: str, process: subprocess.Popen[str], timeout: float = 30.0) -> None:
    """Poll ``GET /tools`` until the server answers, the process dies, or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            raise AssertionError(f"the server exited with {process.returncode}:\n{output}")
        try:
            if httpx.get(f"{base_url}/tools", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass  # not listening yet
        time.sleep(0.05)
    raise AssertionError(f"{base_url} did not come up within {timeout}s")
