"""`python -m examples.demo` (the README's demo command), run end to end in a subprocess."""

from __future__ import annotations

import queue
import re
import signal
import subprocess
import sys
import threading

import httpx

from .support import REPO, interruptible


def test_the_demo_runs_both_protocols_and_exits_cleanly() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "examples.demo"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    output = completed.stdout
    assert "check_order_status" in output
    assert "(4 functions;" in output
    assert '"tracking_number": "1Z999AA1234567890"' in output
    assert '"return_id": "RET-' in output
    assert '{"success": false, "error": "Order ORD-999 not found"}' in output
    assert "HTTP 400" in output
    assert "tools/list -> check_order_status, process_return, apply_discount, get_product_recommendations" in output
    assert "tools/call check_order_status ORD-999 -> isError=True: Order ORD-999 not found" in output
    assert "Traceback" not in completed.stderr


def test_the_demo_can_keep_serving_for_other_clients() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "examples.demo", "--keep-serving"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=interruptible,
    )
    assert process.stdout is not None
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in process.stdout or []])
    reader.start()
    try:
        url = None
        while url is None:
            match = re.match(r"Serving at (http://127\.0\.0\.1:\d+)", lines.get(timeout=60))
            url = match.group(1) if match else None
        response = httpx.post(
            f"{url}/call", json={"name": "check_order_status", "arguments": {"order_id": "ORD-002"}}, timeout=5.0
        )
    finally:
        process.send_signal(signal.SIGINT)
        returncode = process.wait(timeout=30)
        reader.join(timeout=30)
        process.stdout.close()
    assert response.json()["data"]["status"] == "processing"
    assert returncode == 0
