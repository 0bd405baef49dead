"""Third-party test peers: the npm MCP servers the connector tests run against (tests/peers).

``ensure_test_peers()`` installs them from the lock file when they are missing and npm exists;
without npm (or node) the tests that need them skip with a reason, so this never fails a run.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

PEERS = Path(__file__).resolve().parents[1] / "tests" / "peers"


def ensure_test_peers(peers: Path = PEERS, *, timeout: float = 300.0) -> bool:
    """Run ``npm ci`` in ``tests/peers`` when ``node_modules`` is missing.

    Returns whether the peers are installed afterwards. Never raises for a missing npm or a
    failed install (the tests skip); the reason is printed.
    """
    if (peers / "node_modules").is_dir():
        return True
    npm = shutil.which("npm")
    if npm is None:
        print("npm not found: the tests against npm MCP servers will be skipped")
        return False
    print(f"npm ci in {peers} (the first time takes up to a minute) ...", flush=True)
    try:
        completed = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=peers,
            timeout=timeout,
            check=False,
            capture_output=True,
            text=True,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        print(f"npm ci in {peers} failed ({exc}); the tests against npm MCP servers will be skipped")
        return False
    if completed.returncode != 0:
        print(f"npm ci in {peers} failed:\n{completed.stderr[-2000:]}")
        return False
    print("npm ci done", flush=True)
    return True


if __name__ == "__main__":
    raise SystemExit(0 if ensure_test_peers() else 1)
