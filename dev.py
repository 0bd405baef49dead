#!/usr/bin/env python3
"""Project bootstrap: `python3 dev.py demo` runs the demo, `python3 dev.py test` runs the checks.

Each command creates `.venv` on first use and installs the project (with its dev extras) into it,
so both work on a fresh machine that has nothing but Python 3.11+.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".plati-install-stamp"


def _requirements_fingerprint() -> str:
    return hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()


def ensure_venv() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py may run under an older python3
        sys.exit(f"Python 3.11+ is required; this is {sys.version.split()[0]}.")
    if not PY.exists():
        print("Creating .venv ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    fingerprint = _requirements_fingerprint()
    if STAMP.exists() and STAMP.read_text() == fingerprint:
        return
    print("Installing plati and its dependencies into .venv (the first time takes a minute or two) ...", flush=True)
    run_with_progress([str(PY), "-m", "pip", "install", "--quiet", "--upgrade", "pip"], "upgrading pip")
    run_with_progress([str(PY), "-m", "pip", "install", "--quiet", "-e", f"{ROOT}[dev]"], "installing dependencies")
    STAMP.write_text(fingerprint)
    print(f"Installed. To run `plati` yourself: source {_activate_hint()}", flush=True)


def _activate_hint() -> str:
    return str(BIN / "activate") if os.name != "nt" else str(BIN / "activate.bat")


def run(cmd: list[str], **kwargs: object) -> None:
    completed = subprocess.run(cmd, cwd=ROOT, **kwargs)  # type: ignore[call-overload]
    if completed.returncode != 0:
        sys.exit(completed.returncode)


def run_with_progress(cmd: list[str], what: str, *, interval: float = 10.0, check: bool = True) -> int:
    """Run ``cmd``, printing ``... still WHAT (N s)`` every ``interval`` seconds while it is silent
    work (an install, a cold type check), so a long step never looks hung."""
    started = time.monotonic()
    process = subprocess.Popen(cmd, cwd=ROOT)
    while True:
        try:
            returncode = process.wait(timeout=interval)
            break
        except subprocess.TimeoutExpired:
            print(f"... still {what} ({time.monotonic() - started:.0f} s)", flush=True)
    if check and returncode != 0:
        sys.exit(returncode)
    return returncode


def demo(args: list[str]) -> None:
    """``plati demo ARGS``: the console script from ``.venv``, or the module if it is missing."""
    script = BIN / ("plati.exe" if os.name == "nt" else "plati")
    cmd = [str(script)] if script.exists() else [str(PY), "-m", "plati.cli.main"]
    process = subprocess.Popen([*cmd, "demo", *args], cwd=ROOT)
    while True:
        try:
            sys.exit(process.wait())
        except KeyboardInterrupt:
            # Ctrl-C reached the demo too; let it stop its servers and exit on its own.
            continue


def test(args: list[str]) -> None:
    print("== ruff", flush=True)
    run([str(BIN / "ruff"), "check", "src", "tests", "examples", "bench", "dev.py", "scripts"])
    print("== mypy (strict on both packages; a cold run takes about a minute)", flush=True)
    run_with_progress([str(BIN / "mypy")], "type checking")
    print("== test peers (npm MCP servers; their tests skip without npm)", flush=True)
    run_with_progress([str(PY), str(ROOT / "scripts" / "peers.py")], "installing the npm test peers", check=False)
    print("== pytest", flush=True)
    run([str(PY), "-m", "pytest", *args])


COMMANDS = {"demo": demo, "test": test}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit("usage: python3 dev.py {demo|test} [args...]")
    ensure_venv()
    COMMANDS[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    main()
