"""The README's commands work as written, pasted into a fresh shell after the Quickstart.

A fresh ``git clone`` of this checkout gets a ``.venv`` the way the Quickstart leaves it, except
that instead of installing every dependency again (a minute or two, and a package index), it
borrows the site-packages of the interpreter running the tests and puts the clone's own ``src``
first. Then ``python3 dev.py demo --once`` runs (the Quickstart's first command; the second,
``python3 dev.py test``, is this suite: ``.ci/run`` runs it), and the platform block runs in
``bash`` with a clean environment — its ports moved to free ones so parallel runs do not collide.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
FRESH_PATH = "/usr/local/bin:/usr/bin:/bin"


def bash_blocks(text: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", text, flags=re.S)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs git and a git checkout")
    target = tmp_path_factory.mktemp("readme") / "plati"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(target)], check=True, timeout=120)
    _borrowed_venv(target)
    return target


def _borrowed_venv(clone: Path) -> None:
    """``clone/.venv`` as ``dev.py`` leaves it, with the running interpreter's packages."""
    venv = clone / ".venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    shared = sysconfig.get_paths()["purelib"]
    # The clone's src comes first; the borrowed site-packages (and their .pth files) after it.
    (Path(site) / "00_plati_clone.pth").write_text(
        f"{clone / 'src'}\nimport site; site.addsitedir({shared!r})\n", encoding="utf-8"
    )
    for tool in ("plati",):
        script = venv / "bin" / tool
        script.write_text(
            f"#!{python}\nimport sys\nfrom plati.cli.main import app\nsys.exit(app())\n", encoding="utf-8"
        )
        script.chmod(0o755)
    # dev.py installs once per pyproject.toml: mark it done.
    import hashlib

    fingerprint = hashlib.sha256((clone / "pyproject.toml").read_bytes()).hexdigest()
    (venv / ".plati-install-stamp").write_text(fingerprint, encoding="utf-8")


def fresh_env(clone: Path) -> dict[str, str]:
    return {"PATH": FRESH_PATH, "HOME": str(clone.parent), "LANG": "C.UTF-8", "TERM": "dumb"}


def test_the_readme_has_the_two_quickstart_commands_and_a_platform_block() -> None:
    blocks = bash_blocks(README.read_text(encoding="utf-8"))
    assert blocks[0].splitlines() == [
        "python3 dev.py demo    # run the demo",
        "python3 dev.py test    # run the tests (ruff, mypy, pytest)",
    ]
    assert any("plati init" in block for block in blocks[1:])


def test_the_quickstart_demo_runs_in_a_fresh_clone(clone: Path) -> None:
    completed = subprocess.run(
        ["python3", "dev.py", "demo", "--once"],
        cwd=clone,
        env=fresh_env(clone),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert "shipped" in completed.stdout


def test_the_platform_block_runs_as_written_in_a_fresh_shell(clone: Path) -> None:
    [block] = [block for block in bash_blocks(README.read_text(encoding="utf-8")) if "plati init" in block]
    shop_port, api_port = free_port(), free_port()
    script = block.replace(":5000", f":{shop_port}").replace("8000", str(api_port))
    server = clone / "examples" / "guide_flask" / "basic_server.py"
    server.write_text(server.read_text(encoding="utf-8").replace("port=5000", f"port={shop_port}"), encoding="utf-8")
    # If a line fails, the shell stops; whatever happens, the background servers are stopped.
    wrapped = "set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n" + script
    completed = subprocess.run(
        ["bash", "-c", wrapped],
        cwd=clone,
        env=fresh_env(clone),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    out = completed.stdout
    assert completed.returncode == 0, out[-3000:] + completed.stderr[-3000:]
    assert f"ready at http://127.0.0.1:{api_port} — docs at http://127.0.0.1:{api_port}/docs" in out
    assert "ORD-001" in out and "shipped" in out
    assert re.search(r"mcp_[0-9a-f]{24}\s+shop\s+rest\s+http://127\.0\.0\.1:\d+/mcp", out), out
    assert os.path.exists(clone / "data")
