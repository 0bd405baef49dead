"""Calls per second and latency of the plati_mcp SDK against baselines doing the same work.

    .venv/bin/python bench/bench_sdk.py [--duration S] [--quick] [--json PATH] [--only NAME ...]
                                        [--client wrk|httpx2|httpx] [--http httptools|h11] [--loop uvloop|asyncio]

Each server runs alone in its own process (see ``targets.py``), every ASGI target under the same
uvicorn configuration (httptools + uvloop when ``uvicorn[standard]`` is installed, else h11 +
asyncio; ``--http h11`` reproduces the old setup). The load generator is the same for every
target: ``wrk`` (native, HTTP/1.1 keep-alive, with ``wrk_check.lua`` checking every reply) when it
is on PATH, else one Python ``httpx2.AsyncClient`` in this process. First one connection calling
back to back, then 32 concurrent connections, each phase warmed up and then timed for a fixed
duration. Every reply is checked (status 200 and the expected data); a wrong reply is an error and
is not counted as a call. Before timing, the official ``mcp`` Client calls both MCP targets.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import importlib.util
import json
import os
import platform
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# httpcore probes for sniffio with an import on every pooled request; with sniffio not installed
# that is a failing import (a path scan) each time, ~0.1 ms of client CPU per call. Caching the
# miss makes it a dict lookup; it changes nothing else (httpcore then assumes asyncio, as here).
if importlib.util.find_spec("sniffio") is None:
    sys.modules["sniffio"] = None  # type: ignore[assignment]

import httpx
import httpx2

from targets import EXPECTED, ORDER_ID, SYNC_TOOL_NAME, TOOL_NAME, default_http_loop, uvicorn_options

HERE = Path(__file__).resolve().parent
CONCURRENCY = 32
MCP_VERSION = "2026-07-28"
CALL_HEADERS = {"Content-Type": "application/json"}
MCP_HEADERS = {
    "Accept": "application/json, text/event-stream",
    "Content-Type": "application/json",
    "MCP-Protocol-Version": MCP_VERSION,
    "Mcp-Method": "tools/call",
    "Mcp-Name": TOOL_NAME,
}
CLK_TCK = os.sysconf("SC_CLK_TCK")
# The load generator's Python client libraries. Both have the same API; see --client.
CLIENTS: dict[str, Any] = {"httpx": httpx, "httpx2": httpx2}
WRK_SCRIPT = HERE / "wrk_check.lua"
WRK_REQUEST_ID = 1  # wrk sends one fixed request per target; the reply must carry this id


@dataclass(frozen=True)
class Target:
    key: str
    label: str
    server: str  # the name targets.py serves
    protocol: str  # "call" or "mcp"
    tool: str = TOOL_NAME


TARGETS = [
    Target("sdk_call", "plati_mcp POST /call (async fn)", "plati", "call"),
    Target("sdk_call_sync", "plati_mcp POST /call (sync fn)", "plati", "call", SYNC_TOOL_NAME),
    Target("starlette", "bare Starlette POST /call", "starlette", "call"),
    Target("flask", "guide Flask POST /call (app.run)", "flask", "call"),
    Target("sdk_mcp", "plati_mcp /mcp tools/call", "plati", "mcp"),
    Target("official", "official MCPServer /mcp tools/call", "official", "mcp"),
]
RATIOS = [
    ("sdk_call", "starlette", 0.8, "plati_mcp POST /call / bare Starlette"),
    ("sdk_mcp", "official", 2.0, "plati_mcp /mcp / official MCPServer"),
]


@dataclass
class Result:
    target: str
    label: str
    mode: str
    calls: int
    seconds: float
    calls_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    server_cpu_us_per_call: float | None
    client_cpu_us_per_call: float | None
    # CPU the rest of the machine used during the timed phase (all cores' busy time minus server
    # and client), in % of one core: a few % is the kernel; more means the run was disturbed.
    other_cpu_pct: float | None = None
    error_samples: list[str] = field(default_factory=list)


# -- requests and checks: the same for every target of a protocol ---------------------------------


def call_request(target: Target) -> tuple[str, Callable[[int], bytes], dict[str, str]]:
    if target.protocol == "call":
        body = json.dumps({"name": target.tool, "arguments": {"order_id": ORDER_ID}}).encode()
        return "/call", lambda _id: body, CALL_HEADERS
    meta = {"io.modelcontextprotocol/protocolVersion": MCP_VERSION, "io.modelcontextprotocol/clientCapabilities": {}}
    params = json.dumps({"name": target.tool, "arguments": {"order_id": ORDER_ID}, "_meta": meta})
    head, tail = '{"jsonrpc":"2.0","id":', f',"method":"tools/call","params":{params}}}'
    return "/mcp", lambda request_id: f"{head}{request_id}{tail}".encode(), {**MCP_HEADERS, "Mcp-Name": target.tool}


def check_reply(target: Target, response: Any, request_id: int) -> str | None:
    """None when the reply is right, else what is wrong with it."""
    if response.status_code != 200:
        return f"HTTP {response.status_code}: {response.text[:200]}"
    try:
        body = response.json()
    except ValueError:
        return f"not JSON ({response.headers.get('content-type')}): {response.text[:200]}"
    if target.protocol == "call":
        if body != {"success": True, "data": EXPECTED}:
            return f"wrong body: {body!r:.200}"
        return None
    if body.get("id") != request_id or "result" not in body:
        return f"wrong JSON-RPC reply: {body!r:.200}"
    result = body["result"]
    if result.get("isError") or result.get("structuredContent") != EXPECTED:
        return f"wrong result: {result!r:.200}"
    content = result.get("content") or [{}]
    if json.loads(content[0].get("text", "null")) != EXPECTED:
        return f"wrong text content: {content!r:.200}"
    return None


def wrk_expectations(target: Target) -> list[str]:
    """What wrk_check.lua requires in every reply body (whitespace removed): the expected data.

    The same facts check_reply checks, as substrings: for ``/call`` the success flag and each
    field of the data; for ``/mcp`` the JSON-RPC version and id, ``isError: false``, and each field
    both in ``structuredContent`` (plain JSON) and in the text content (JSON inside a string, so
    with escaped quotes). Key order and whitespace are free, as they are for a JSON parser.
    """
    fields = [json.dumps({k: v}, separators=(",", ":"))[1:-1] for k, v in EXPECTED.items()]
    if target.protocol == "call":
        return ['"success":true', '"data":{', *fields]
    escaped = [json.dumps(f)[1:-1] for f in fields]
    return ['"jsonrpc":"2.0"', f'"id":{WRK_REQUEST_ID},', '"isError":false', '"structuredContent":{', *fields, *escaped]


# -- servers ----------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(server: str, http: str, loop: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    argv = [sys.executable, str(HERE / "targets.py"), server, str(port), http, loop]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server {server!r} exited with {proc.returncode} before answering")
        try:
            httpx.get(base + "/", timeout=1)  # any HTTP answer (404 included) means it is up
            return proc, base
        except httpx.TransportError:
            time.sleep(0.05)
    stop_server(proc)
    raise RuntimeError(f"server {server!r} did not answer on {base} within 30 s")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU of a process so far (Linux /proc), None where that cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine_busy_seconds() -> float | None:
    """CPU time all cores spent busy so far (Linux /proc/stat: user+nice+system+irq+softirq)."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq = (int(f) for f in fields[:7])
    return (user + nice + system + irq + softirq) / CLK_TCK


def other_cpu_pct(busy: tuple[float | None, float | None], ours: float, seconds: float) -> float | None:
    if busy[0] is None or busy[1] is None or seconds <= 0:
        return None
    return max(0.0, (busy[1] - busy[0] - ours) / seconds * 100)


def client_cpu_seconds(who: int = resource.RUSAGE_SELF) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


# -- load -------------------------------------------------------------------------------------------


async def run_phase(
    client: Any, base: str, target: Target, workers: int, seconds: float
) -> tuple[list[float], list[str], float]:
    http_error = CLIENTS[type(client).__module__.split(".")[0]].HTTPError
    path, make_body, headers = call_request(target)
    url = base + path
    latencies: list[float] = []
    errors: list[str] = []
    next_id = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal next_id
        while (start := time.perf_counter()) < deadline:
            next_id += 1
            request_id = next_id
            try:
                response = await client.post(url, content=make_body(request_id), headers=headers)
            except http_error as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                continue
            elapsed = time.perf_counter() - start
            problem = check_reply(target, response, request_id)
            if problem is None:
                latencies.append(elapsed)
            else:
                errors.append(problem)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    return latencies, errors, time.perf_counter() - began


async def measure(
    http: Any, target: Target, base: str, pid: int, mode: str, workers: int, warmup: float, duration: float
) -> Result:
    limits = http.Limits(max_connections=2 * CONCURRENCY, max_keepalive_connections=2 * CONCURRENCY)
    async with http.AsyncClient(http1=True, http2=False, limits=limits, timeout=30) as client:
        await run_phase(client, base, target, workers, warmup)
        server_before, client_before, busy_before = cpu_seconds(pid), client_cpu_seconds(), machine_busy_seconds()
        latencies, errors, seconds = await run_phase(client, base, target, workers, duration)
        server_after, client_after, busy_after = cpu_seconds(pid), client_cpu_seconds(), machine_busy_seconds()
    calls = len(latencies)
    cuts = statistics.quantiles(latencies, n=100, method="inclusive") if calls >= 2 else [float("nan")] * 99
    server_cpu = None
    if calls and server_before is not None and server_after is not None:
        server_cpu = (server_after - server_before) / calls * 1e6
    ours = (client_after - client_before) + (server_after or 0) - (server_before or 0)
    other = other_cpu_pct((busy_before, busy_after), ours, seconds)
    return Result(
        target=target.key,
        label=target.label,
        mode=mode,
        calls=calls,
        seconds=seconds,
        calls_per_s=calls / seconds,
        p50_ms=cuts[49] * 1e3,
        p99_ms=cuts[98] * 1e3,
        errors=len(errors),
        server_cpu_us_per_call=server_cpu,
        other_cpu_pct=other,
        client_cpu_us_per_call=(client_after - client_before) / max(calls, 1) * 1e6,
        error_samples=sorted(set(errors))[:5],
    )


def wrk_version() -> str:
    wrk = shutil.which("wrk")
    if wrk is None:
        return "not installed"
    # `wrk --version` prints its banner and usage and exits 1.
    out = subprocess.run([wrk, "--version"], capture_output=True, text=True, check=False)
    return (out.stdout or out.stderr).splitlines()[0].split(" [")[0].strip()


async def run_wrk(target: Target, base: str, connections: int, seconds: int) -> dict[str, str]:
    """One wrk run against ``target``; the wrk-result lines its done() hook prints."""
    path, make_body, headers = call_request(target)
    env = {
        **os.environ,
        "WRK_PATH": path,
        "WRK_BODY": make_body(WRK_REQUEST_ID).decode(),
        "WRK_HEADERS": "\n".join(f"{k}: {v}" for k, v in headers.items()),
        "WRK_EXPECT": "\n".join(wrk_expectations(target)),
    }
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "--latency", "-s", str(WRK_SCRIPT)]
    pipe = asyncio.subprocess.PIPE
    proc = await asyncio.create_subprocess_exec(*argv, base + path, env=env, stdout=pipe, stderr=pipe)
    out, err = await proc.communicate()
    values = {}
    for line in out.decode().splitlines():
        if line.startswith("wrk-result "):
            _, key, *rest = line.split(" ", 2)
            values[key] = rest[0] if rest else ""
    if proc.returncode != 0 or "good" not in values:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {err.decode()[-500:]} {out.decode()[-500:]}")
    return values


async def measure_wrk(
    target: Target, base: str, pid: int, mode: str, connections: int, warmup: int, duration: int
) -> Result:
    """Like measure(), with wrk as the load generator: a warm-up run, then the timed run."""
    await run_wrk(target, base, connections, warmup)
    busy_before = machine_busy_seconds()
    server_before, client_before = cpu_seconds(pid), client_cpu_seconds(resource.RUSAGE_CHILDREN)
    values = await run_wrk(target, base, connections, duration)
    server_after, client_after = cpu_seconds(pid), client_cpu_seconds(resource.RUSAGE_CHILDREN)
    busy_after = machine_busy_seconds()
    calls, seconds = int(values["good"]), int(values["duration_us"]) / 1e6
    errors = int(values["bad"]) + int(values["socket_errors"])
    server_cpu = None
    if calls and server_before is not None and server_after is not None:
        server_cpu = (server_after - server_before) / calls * 1e6
    ours = (client_after - client_before) + (server_after or 0) - (server_before or 0)
    other = other_cpu_pct((busy_before, busy_after), ours, seconds)
    return Result(
        target=target.key,
        label=target.label,
        mode=mode,
        calls=calls,
        seconds=seconds,
        calls_per_s=calls / seconds,
        p50_ms=float(values["p50_us"]) / 1e3,
        p99_ms=float(values["p99_us"]) / 1e3,
        errors=errors,
        server_cpu_us_per_call=server_cpu,
        other_cpu_pct=other,
        client_cpu_us_per_call=(client_after - client_before) / max(calls, 1) * 1e6,
        error_samples=[values["bad_sample"]] if values.get("bad_sample") else [],
    )


async def verify_with_official_client(base: str, tool: str) -> list[str]:
    """Both MCP targets must answer the official client in both protocol eras before being timed."""
    from mcp import Client

    failures = []
    for mode in (MCP_VERSION, "legacy"):
        try:
            async with Client(base + "/mcp", mode=mode) as client:
                result = await client.call_tool(tool, {"order_id": ORDER_ID})
        except Exception as exc:  # reported, and the target's rows are marked
            failures.append(f"mode={mode}: {type(exc).__name__}: {exc}")
            continue
        if result.is_error or result.structured_content != EXPECTED:
            failures.append(f"mode={mode}: unexpected result {result!r:.300}")
    return failures


# -- report -----------------------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    packages = {}
    names = "plati mcp starlette uvicorn h11 httptools uvloop flask werkzeug httpx httpx2 pydantic"
    for name in names.split():
        try:
            packages[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            packages[name] = None
    return {
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu": _cpu_model(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg_at_start": os.getloadavg(),  # other work on the machine skews every number
        "packages": packages,
    }


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def ratios(results: list[Result]) -> list[dict[str, Any]]:
    by_key = {(r.target, r.mode): r for r in results}
    rows = []
    for ours, theirs, goal, label in RATIOS:
        for mode in ("sequential", f"{CONCURRENCY} concurrent"):
            a, b = by_key.get((ours, mode)), by_key.get((theirs, mode))
            if a is None or b is None or not b.calls_per_s:
                continue
            cpu = None
            if a.server_cpu_us_per_call and b.server_cpu_us_per_call:
                cpu = b.server_cpu_us_per_call / a.server_cpu_us_per_call
            value = a.calls_per_s / b.calls_per_s
            rows.append(
                {"ratio": label, "mode": mode, "value": value, "goal": goal, "met": value >= goal, "server_cpu": cpu}
            )
    return rows


def print_report(machine: dict[str, Any], results: list[Result], ratio_rows: list[dict[str, Any]]) -> None:
    print()
    header = f"{'target':38} {'mode':14} {'calls/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6}"
    print(header + f" {'srv CPU us/call':>15} {'cli CPU us/call':>15} {'other CPU %':>11}")
    print("-" * (len(header) + 44))
    for r in results:
        srv = f"{r.server_cpu_us_per_call:.0f}" if r.server_cpu_us_per_call is not None else "n/a"
        other = f"{r.other_cpu_pct:.0f}" if r.other_cpu_pct is not None else "n/a"
        print(
            f"{r.label:38} {r.mode:14} {r.calls_per_s:8.0f} {r.p50_ms:7.2f} {r.p99_ms:7.2f} {r.errors:6d}"
            f" {srv:>15} {r.client_cpu_us_per_call or 0:15.0f} {other:>11}"
        )
        for sample in r.error_samples:
            print(f"    error: {sample}")
    print()
    print("Ratios of calls/s (goal) -- and, for reference, of server CPU per call (theirs / ours):")
    for row in ratio_rows:
        cpu = f"{row['server_cpu']:.2f}" if row["server_cpu"] else "n/a"
        verdict = "met" if row["met"] else "MISSED"
        print(
            f"  {row['ratio']:40} {row['mode']:14} {row['value']:5.2f}  (goal >= {row['goal']}: {verdict})"
            f"   server CPU ratio {cpu}"
        )
    print()
    print(
        f"Machine: {machine['nproc']} CPU(s) ({machine['cpu']}), Python {machine['python']}. "
        "The load generator and the server share these cores, so calls/s is bounded by both; "
        "server CPU per call is the server's own cost."
    )


def describe_client(client: str) -> str:
    if client == "wrk":
        return (
            f"wrk ({wrk_version()}), native, 1 thread, -c1 then -c{CONCURRENCY} keep-alive connections, "
            f"every reply checked by {WRK_SCRIPT.name}"
        )
    return f"Python {client}.AsyncClient in the benchmark process, HTTP/1.1 keep-alive, pool {2 * CONCURRENCY}"


async def main_async(args: argparse.Namespace) -> int:
    if args.client == "wrk":  # wrk takes whole seconds
        duration = 2.0 if args.quick else float(max(1, round(args.duration)))
        warmup = 1.0
    else:
        duration = 1.5 if args.quick else args.duration
        warmup = 0.5 if args.quick else min(1.0, duration)
    http, loop = default_http_loop(args.http, args.loop)
    server_config = {
        "asgi": f"uvicorn {uvicorn_options(http, loop)}",
        "flask": "app.run(threaded=True) (werkzeug), request log off",
    }
    client = describe_client(args.client)
    machine = machine_info()
    targets = [t for t in TARGETS if not args.only or t.key in args.only]
    print(
        f"plati_mcp benchmark: {len(targets)} targets x 2 phases, {duration:g} s each after {warmup:g} s warm-up; "
        f"{machine['nproc']} CPU(s) shared by client and server"
    )
    print(f"client: {client}")
    print(f"server (ASGI targets): {server_config['asgi']}")
    print(f"server (Flask): {server_config['flask']}")
    print(f"load average at start: {machine['loadavg_at_start']} (anything else running skews the numbers)")
    if (machine["nproc"] or 0) <= 2:
        print("NOTE: only 2 cores -- the client process and the server process compete for CPU.")
    results: list[Result] = []
    verification: dict[str, list[str]] = {}
    for target in targets:
        proc, base = start_server(target.server, http, loop)
        try:
            if target.protocol == "mcp":
                failures = await verify_with_official_client(base, target.tool)
                verification[target.key] = failures
                status = "ok (2026-07-28 and legacy)" if not failures else "FAILED: " + "; ".join(failures)
                print(f"official mcp Client vs {target.label}: {status}")
            for mode, workers in (("sequential", 1), (f"{CONCURRENCY} concurrent", CONCURRENCY)):
                if args.client == "wrk":
                    result = await measure_wrk(target, base, proc.pid, mode, workers, int(warmup), int(duration))
                else:
                    http_lib = CLIENTS[args.client]
                    result = await measure(http_lib, target, base, proc.pid, mode, workers, warmup, duration)
                results.append(result)
                print(
                    f"  {target.label:38} {mode:14} {result.calls_per_s:8.0f} calls/s"
                    f"  p50 {result.p50_ms:.2f} ms  p99 {result.p99_ms:.2f} ms  errors {result.errors}",
                    flush=True,
                )
        finally:
            stop_server(proc)
    ratio_rows = ratios(results)
    print_report(machine, results, ratio_rows)
    print(f"client: {client}")
    print(f"server (ASGI targets): {server_config['asgi']}")
    machine["loadavg_at_end"] = os.getloadavg()
    print(f"load average at end: {machine['loadavg_at_end']} (the benchmark itself adds up to ~2)")
    if args.json:
        payload = {
            "machine": machine,
            "config": {
                "duration_s": duration,
                "warmup_s": warmup,
                "concurrency": CONCURRENCY,
                "server": server_config,
                "client": client,
            },
            "official_client_verification": verification,
            "results": [asdict(r) for r in results],
            "ratios": ratio_rows,
        }
        Path(args.json).write_text(json.dumps(payload, indent=2) + "\n")  # noqa: ASYNC240 (after timing)
        print(f"wrote {args.json}")
    failed = any(r.errors for r in results) or any(verification.values())
    return 1 if failed else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds timed per target per phase")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 1.5 s per phase (2 s with wrk)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument(
        "--client",
        choices=["wrk", *sorted(CLIENTS)],
        default="wrk" if shutil.which("wrk") else "httpx2",
        help="load generator (default: wrk when on PATH, else httpx2). A Python client costs ~500 us of CPU "
        "per call, which on a small machine caps every target; wrk costs a few us. httpx 0.28's pool costs "
        "O(connections^2) CPU per request at 32 concurrent, which is why httpx2 is the Python default",
    )
    parser.add_argument(
        "--http",
        choices=["httptools", "h11"],
        help="uvicorn HTTP parser for every ASGI target (default httptools when uvicorn[standard] is "
        "installed, else h11; h11 alone also selects the asyncio loop: the old setup)",
    )
    parser.add_argument(
        "--loop", choices=["uvloop", "asyncio"], help="uvicorn event loop (default uvloop with httptools, else asyncio)"
    )
    parser.add_argument("--only", nargs="+", choices=[t.key for t in TARGETS], help="run only these targets")
    args = parser.parse_args()
    if args.client == "wrk" and shutil.which("wrk") is None:
        parser.error("--client wrk: wrk is not on PATH (apt-get install wrk), or use --client httpx2")
    sys.exit(asyncio.run(main_async(args)))


if __name__ == "__main__":
    main()
