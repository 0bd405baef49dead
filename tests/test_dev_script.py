"""dev.py: long steps print progress lines instead of going silent."""

from __future__ import annotations

import sys

import dev
import pytest


def test_a_long_step_prints_that_it_is_still_running(capsys: pytest.CaptureFixture[str]) -> None:
    code = "import time; time.sleep(1.2)"
    returncode = dev.run_with_progress([sys.executable, "-c", code], "doing the thing", interval=0.3)
    assert returncode == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("... still doing the thing (")]
    assert lines


def test_a_failing_step_exits_with_its_code_unless_told_not_to() -> None:
    failing = [sys.executable, "-c", "raise SystemExit(3)"]
    assert dev.run_with_progress(failing, "failing", check=False) == 3
    with pytest.raises(SystemExit) as caught:
        dev.run_with_progress(failing, "failing")
    assert caught.value.code == 3
