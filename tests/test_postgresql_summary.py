"""The test command says in one line whether the PostgreSQL half of the suite ran, and how to run it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import postgresql_summary

ROOT = Path(__file__).resolve().parents[1]


def test_without_a_database_url_the_line_says_the_half_was_skipped_and_how_to_run_it() -> None:
    line = postgresql_summary("", ran=0, skipped=91)
    assert line.startswith("PostgreSQL: not run (91 test(s) skipped).")
    assert "PLATI_TEST_DATABASE_URL=postgresql://" in line and "python3 dev.py test" in line


def test_with_a_database_url_the_line_names_the_server_without_its_password() -> None:
    line = postgresql_summary("postgresql://user:secret@db:5432/test", ran=12, skipped=0)
    assert line == "PostgreSQL: 12 test(s) ran against postgresql://user:***@db:5432/test."


def test_a_pytest_run_prints_the_line() -> None:
    env = {key: value for key, value in os.environ.items() if key != "PLATI_TEST_DATABASE_URL"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT)])
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/plati/store/test_migrations.py", "-q", "-p", "no:cacheprovider"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-2000:]
    [line] = [line for line in completed.stdout.splitlines() if line.startswith("PostgreSQL:")]
    assert line.startswith("PostgreSQL: not run (")
