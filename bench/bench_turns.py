"""Latency and throughput of one conversation turn that makes one function call, next to the cost
of calling that function directly, in the same run.

    .venv/bin/python bench/bench_turns.py [--duration S] [--quick] [--json PATH]
                                          [--database-url postgresql://postgres@127.0.0.1:5432/test]
                                          [--turns-per-conversation N] [--profile]

Two servers, each in its own process (``turns_servers.py``), both under the uvicorn configuration
of ``targets.py`` (httptools + uvloop when installed): the SDK's e-commerce example server and the
platform (``create_app``, SQLite in a temporary directory, or a fresh PostgreSQL database made
from ``--database-url`` and dropped afterwards) with an instant scripted model, and the abuse
limits out of the way (``PLATI_RATE_LIMIT=off``, ``PLATI_MAX_CONCURRENT_TURNS`` at twice the
highest concurrency): the benchmark measures turns, not limits. The model asks
for ``check_order_status(order_id="ORD-001")``, then answers "Order ORD-001 is <status>" from the
result, so a turn is: request in, model, one function call to the shop over loopback, model,
reply out, with everything stored.

One Python ``httpx2.AsyncClient`` in this process is the load generator for both: (a) ``POST
{shop}/call`` back to back (the direct cost of the function); (b) ``POST /conversation/{identity}
/chat/{channel}`` at 1, 16 and 64 concurrent workers, each worker with its own identity (so its
own conversation; a conversation's turns are serialized by design), moving to a fresh identity
every ``--turns-per-conversation`` turns. Every reply is checked (200, the one call succeeded,
the expected text); anything else is an error. The CPU time of each process is read from /proc
around each timed phase.

"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import importlib.util
import json
import os
import platform
import pstats
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# As in bench_sdk.py: cache httpcore's failing ``import sniffio`` (a path scan on every request).
if importlib.util.find_spec("sniffio") is None:
    sys.modules["sniffio"] = None  # type: ignore[assignment]

import httpx2

from bench_sdk import client_cpu_seconds, cpu_seconds, machine_busy_seconds
from targets import default_http_loop, uvicorn_options
from turns_servers import FUNCTION, ORDER_ID, ROOT, expected_reply, platform_settings

HERE = Path(__file__).resolve().parent
CONCURRENCIES = (1, 16, 64)
OVERHEAD_GOAL = 2.0  # the platform adds at most this many direct round trips to a turn at c=1
REPLICA_CPU_GOAL = 1.2  # platform CPU per turn with N processes, at most this times one process's
CHAT_TEXT = f"Where is my order {ORDER_ID}?"
ERROR_SAMPLES = 5


@dataclass
class Phase:
    name: str  # "direct" or "turns"
    concurrency: int
    count: int
    seconds: float
    per_s: float
    p50_ms: float
    p99_ms: float
    mean_ms: float
    errors: int
    # CPU used during the timed phase, in % of one core (so 2 cores = 200 %).
    platform_cpu_pct: float | None
    shop_cpu_pct: float | None
    client_cpu_pct: float
    machine_busy_pct: float | None  # every core, every process
    postgres_cpu_pct: float | None  # every process named "postgres" (the server's backends)
    # machine - platform - shop - client - postgres: the kernel and anything else running.
    other_cpu_pct: float | None
    platform_cpu_ms_per_op: float | None
    error_samples: list[str] = field(default_factory=list)
    replicas: int = 1  # platform processes serving the phase


# -- servers ----------------------------------------------------------------------------------------


def limits_off(concurrencies: tuple[int, ...], rate_limit: str = "off") -> dict[str, str]:
    """Settings for the platform process, so the benchmark measures turns and not the abuse
    limits: no per-key rate limit by default (every turn is a request of the one key; pass a rate
    too high to reach to measure the limiter's cost), and room for twice the highest concurrency
    in the per-workspace cap on turns running at once."""
    return {"PLATI_RATE_LIMIT": rate_limit, "PLATI_MAX_CONCURRENT_TURNS": str(2 * max(concurrencies))}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(
    kind: str,
    args: list[str],
    http: str,
    loop: str,
    extra: list[str] | None = None,
    env: dict[str, str] | None = None,
) -> tuple[Any, str]:
    port = free_port()
    argv = [sys.executable, str(HERE / "turns_servers.py"), kind, str(port), *args, http, loop, *(extra or [])]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, cwd=ROOT, env={**os.environ, **(env or {})})
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{kind} server exited with {proc.returncode} before answering")
        try:
            httpx2.get(base + "/health" if kind == "platform" else base + "/tools", timeout=1)
            return proc, base
        except httpx2.TransportError:
            time.sleep(0.1)
    stop(proc)
    raise RuntimeError(f"{kind} server did not answer on {base} within 60 s")


def stop(proc: Any) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class PostgresDatabase:
    """A fresh database next to the one ``url`` names, dropped at the end."""

    def __init__(self, url: str) -> None:
        from sqlalchemy.engine import make_url

        self.admin = make_url(url).set(drivername="postgresql")
        self.name = f"plati_bench_{secrets.token_hex(4)}"
        self.url = self.admin.set(database=self.name).render_as_string(hide_password=False)

    async def _execute(self, sql: str) -> None:
        import asyncpg

        conn = await asyncpg.connect(self.admin.render_as_string(hide_password=False))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    async def create(self) -> None:
        await self._execute(f'CREATE DATABASE "{self.name}"')

    async def drop(self) -> None:
        await self._execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


async def set_up_platform(client: httpx2.AsyncClient, base: str, shop: str) -> str:
    """Register the shop (simple protocol), an assistant using it, and a channel; the channel id."""

    async def post(method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await client.request(method, base + path, json=body)
        if response.status_code not in (200, 201):
            raise RuntimeError(f"{method} {path} answered {response.status_code}: {response.text[:500]}")
        data: dict[str, Any] = response.json()["data"]
        return data

    mcp = await post("POST", "/workspace/mcps", {"name": "shop", "url": shop, "transport": "rest"})
    assistant = await post(
        "POST",
        "/assistant",
        {"name": "Shop assistant", "instructions": "Help with orders: {{function.check_order_status(order_id)}}."},
    )
    await post("PUT", f"/assistant/{assistant['id']}/mcp/{mcp['id']}")
    channel = await post("POST", "/channels", {"name": "bench", "assistant_id": assistant["id"]})
    return str(channel["id"])


# -- load -------------------------------------------------------------------------------------------


def check_direct(response: Any) -> str | None:
    if response.status_code != 200:
        return f"HTTP {response.status_code}: {response.text[:300]}"
    body = response.json()
    if body.get("success") is not True or (body.get("data") or {}).get("order_id") != ORDER_ID:
        return f"wrong body: {body!r:.300}"
    return None


def check_turn(response: Any) -> str | None:
    if response.status_code != 200:
        return f"HTTP {response.status_code}: {response.text[:300]}"
    data = response.json().get("data") or {}
    calls = data.get("function_calls") or []
    if len(calls) != 1 or calls[0].get("name") != FUNCTION or calls[0].get("success") is not True:
        return f"function call not as expected: {calls!r:.300}"
    if data.get("reply") != expected_reply():
        return f"wrong reply: {data.get('reply')!r:.300}"
    return None


class Load:
    """The one load generator: an httpx2 client and the phases it runs."""

    def __init__(
        self, client: httpx2.AsyncClient, shop: str, bases: list[str], channel: str, per_conversation: int
    ) -> None:
        self.client = client
        self.shop = shop
        self.bases = bases  # one per platform process; turns go round robin
        self.channel = channel
        self.per_conversation = per_conversation
        self.run_id = secrets.token_hex(3)
        self.phase_number = 0

    async def run(self, name: str, workers: int, seconds: float) -> tuple[list[float], list[str], float]:
        self.phase_number += 1
        tag = f"{self.run_id}-p{self.phase_number}"
        latencies: list[float] = []
        errors: list[str] = []
        deadline = time.perf_counter() + seconds
        direct_body = {"name": FUNCTION, "arguments": {"order_id": ORDER_ID}}

        async def worker(number: int) -> None:
            done = 0
            while (started := time.perf_counter()) < deadline:
                if name == "direct":
                    url, body, check = self.shop + "/call", direct_body, check_direct
                else:
                    conversation = done // self.per_conversation if self.per_conversation else 0
                    identity = f"bench-{tag}-w{number}-c{conversation}"
                    url, body, check = (
                        f"{self.bases[(number + done) % len(self.bases)]}/conversation/{identity}/chat/{self.channel}",
                        {"text": CHAT_TEXT},
                        check_turn,
                    )
                done += 1
                try:
                    response = await self.client.post(url, json=body)
                except httpx2.HTTPError as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")
                    continue
                elapsed = time.perf_counter() - started
                problem = check(response)
                if problem is None:
                    latencies.append(elapsed)
                else:
                    errors.append(problem)

        began = time.perf_counter()
        await asyncio.gather(*(worker(n) for n in range(workers)))
        return latencies, errors, time.perf_counter() - began


def cpu_of(pids: list[int]) -> float | None:
    """CPU seconds so far of every process in ``pids`` together (None if one cannot be read)."""
    times = [cpu_seconds(pid) for pid in pids]
    return None if any(t is None for t in times) else sum(t or 0.0 for t in times)


async def measure(
    load: Load, name: str, workers: int, warmup: float, seconds: float, pids: dict[str, list[int]]
) -> Phase:
    await load.run(name, workers, warmup)
    before = {k: cpu_of(group) for k, group in pids.items()}
    before["postgres"] = postgres_cpu_seconds()
    client_before, busy_before = client_cpu_seconds(), machine_busy_seconds()
    latencies, errors, elapsed = await load.run(name, workers, seconds)
    after = {k: cpu_of(group) for k, group in pids.items()}
    after["postgres"] = postgres_cpu_seconds()
    client_after, busy_after = client_cpu_seconds(), machine_busy_seconds()
    count = len(latencies)
    cuts = statistics.quantiles(latencies, n=100, method="inclusive") if count >= 2 else [float("nan")] * 99

    def pct(key: str) -> float | None:
        b, a = before.get(key), after.get(key)
        return None if a is None or b is None else (a - b) / elapsed * 100

    busy = None if busy_before is None or busy_after is None else (busy_after - busy_before) / elapsed * 100
    platform_pct = pct("platform")
    return Phase(
        name=name,
        concurrency=workers,
        count=count,
        seconds=elapsed,
        per_s=count / elapsed,
        p50_ms=cuts[49] * 1e3,
        p99_ms=cuts[98] * 1e3,
        mean_ms=statistics.fmean(latencies) * 1e3 if latencies else float("nan"),
        errors=len(errors),
        platform_cpu_pct=platform_pct,
        shop_cpu_pct=pct("shop"),
        client_cpu_pct=(client_after - client_before) / elapsed * 100,
        machine_busy_pct=busy,
        postgres_cpu_pct=pct("postgres"),
        other_cpu_pct=None
        if busy is None
        else busy
        - (platform_pct or 0)
        - (pct("shop") or 0)
        - (pct("postgres") or 0)
        - (client_after - client_before) / elapsed * 100,
        platform_cpu_ms_per_op=(platform_pct / 100 * elapsed / count * 1e3)
        if platform_pct is not None and count
        else None,
        error_samples=_samples(errors),
        replicas=len(load.bases),
    )


def postgres_cpu_seconds() -> float:
    """CPU time so far of every live process named ``postgres`` (a backend that exits mid-phase
    takes its time with it; the platform keeps its pooled connections, so few do)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if stat[stat.index("(") + 1 : stat.rindex(")")] == "postgres":
            total += cpu_seconds(int(entry.name)) or 0.0
    return total


def _samples(errors: list[str]) -> list[str]:
    seen: list[str] = []
    for error in errors:
        if error not in seen:
            seen.append(error)
        if len(seen) >= ERROR_SAMPLES:
            break
    return seen


# -- report -----------------------------------------------------------------------------------------


def _num(value: float | None, fmt: str = ".0f") -> str:
    return "n/a" if value is None else format(value, fmt)


def print_table(phases: list[Phase]) -> None:
    print()
    header = (
        f"{'what':22} {'proc':>4} {'conc':>4} {'ops/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6}"
        f" {'platf CPU%':>10} {'shop CPU%':>9} {'client CPU%':>11} {'pg CPU%':>7} {'other CPU%':>10} {'machine %':>9}"
        f" {'platf CPU ms/op':>15}"
    )
    print(header)
    print("-" * len(header))
    for p in phases:
        what = "direct POST /call" if p.name == "direct" else "turn (1 function call)"
        print(
            f"{what:22} {p.replicas if p.name == 'turns' else '':>4} {p.concurrency:4d}"
            f" {p.per_s:7.1f} {p.p50_ms:7.2f} {p.p99_ms:7.2f} {p.errors:6d}"
            f" {_num(p.platform_cpu_pct):>10} {_num(p.shop_cpu_pct):>9} {p.client_cpu_pct:11.0f}"
            f" {_num(p.postgres_cpu_pct):>7} {_num(p.other_cpu_pct):>10}"
            f" {_num(p.machine_busy_pct):>9} {_num(p.platform_cpu_ms_per_op, '.2f'):>15}"
        )
        for sample in p.error_samples:
            print(f"    error: {sample}")


def summarize(phases: list[Phase]) -> dict[str, Any]:
    direct = next(p for p in phases if p.name == "direct")
    first = min((p.replicas for p in phases if p.name == "turns"), default=1)
    turns = {p.concurrency: p for p in phases if p.name == "turns" and p.replicas == first}
    summary: dict[str, Any] = {}
    replicas = replica_cpu(phases)
    if replicas:
        summary["replicas"] = replicas
        summary["replica_cpu_goal"] = REPLICA_CPU_GOAL
        summary["replica_cpu_met"] = all(
            row["cpu_ms_x_of_one"] <= REPLICA_CPU_GOAL for row in replicas if row["cpu_ms_x_of_one"] is not None
        )
    one = turns.get(1)
    if one is not None and direct.p50_ms:
        overhead = (one.p50_ms - direct.p50_ms) / direct.p50_ms
        summary["overhead_round_trips_c1"] = overhead
        summary["turn_p50_in_direct_round_trips_c1"] = one.p50_ms / direct.p50_ms
        summary["overhead_goal"] = OVERHEAD_GOAL
        summary["overhead_met"] = overhead <= OVERHEAD_GOAL
    if one is not None and one.per_s:
        summary["scaling"] = {
            c: {
                "turns_per_s": p.per_s,
                "x_of_c1": p.per_s / one.per_s,
                "platform_cpu_pct": p.platform_cpu_pct,
                "machine_busy_pct": p.machine_busy_pct,
            }
            for c, p in sorted(turns.items())
        }
    return summary


def replica_cpu(phases: list[Phase]) -> list[dict[str, Any]]:
    """Platform CPU per turn with N processes next to one process's, per concurrency (same run)."""
    one = {p.concurrency: p for p in phases if p.name == "turns" and p.replicas == 1}
    rows = []
    for p in phases:
        base = one.get(p.concurrency)
        if p.name != "turns" or p.replicas == 1 or base is None:
            continue
        ratio = (
            p.platform_cpu_ms_per_op / base.platform_cpu_ms_per_op
            if p.platform_cpu_ms_per_op and base.platform_cpu_ms_per_op
            else None
        )
        rows.append(
            {
                "replicas": p.replicas,
                "concurrency": p.concurrency,
                "turns_per_s": p.per_s,
                "x_turns_per_s_of_one": p.per_s / base.per_s if base.per_s else None,
                "cpu_ms_per_turn": p.platform_cpu_ms_per_op,
                "cpu_ms_x_of_one": ratio,
                "errors": p.errors,
            }
        )
    return rows


def print_summary(summary: dict[str, Any], nproc: int) -> None:
    print()
    for row in summary.get("replicas") or []:
        print(
            f"{row['replicas']} processes, c={row['concurrency']}: platform CPU {_num(row['cpu_ms_per_turn'], '.2f')} "
            f"ms/turn = {_num(row['cpu_ms_x_of_one'], '.2f')}x one process's (goal <= {REPLICA_CPU_GOAL:g}), "
            f"turns/s {_num(row['x_turns_per_s_of_one'], '.2f')}x, errors {row['errors']}"
        )
    if "replicas" in summary:
        print(f"Platform CPU per turn across processes: goal {'met' if summary['replica_cpu_met'] else 'MISSED'}")
    if "overhead_round_trips_c1" in summary:
        verdict = "met" if summary["overhead_met"] else "MISSED"
        print(
            f"Overhead at c=1: (turn p50 - direct p50) / direct p50 = {summary['overhead_round_trips_c1']:.1f} "
            f"direct round trips (goal <= {OVERHEAD_GOAL:g}: {verdict}); a turn's p50 is "
            f"{summary['turn_p50_in_direct_round_trips_c1']:.1f}x a direct call's."
        )
    scaling = summary.get("scaling") or {}
    if scaling:
        parts = [
            f"c={c}: {s['turns_per_s']:.1f}/s ({s['x_of_c1']:.2f}x), platform CPU {_num(s['platform_cpu_pct'])}%, "
            f"machine {_num(s['machine_busy_pct'])}%"
            for c, s in scaling.items()
        ]
        print("Scaling of turns/s: " + "; ".join(parts))
        print(
            f"  (CPU in % of one core; the machine has {nproc} core(s) = {nproc * 100}%. The platform is one "
            "process with one event loop, so ~100% platform CPU is its ceiling whatever the cores.)"
        )


def print_profile(path: Path, turns: int, top: int = 30) -> dict[str, Any]:
    stats = pstats.Stats(str(path))
    rows = []
    for (filename, line, function), (_cc, ncalls, tottime, cumtime, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append(
            {
                "where": f"{_short(filename)}:{line}({function})",
                "calls_per_turn": ncalls / turns,
                "tottime_ms_per_turn": tottime / turns * 1e3,
                "cumtime_ms_per_turn": cumtime / turns * 1e3,
            }
        )
    total = sum(r["tottime_ms_per_turn"] for r in rows)
    print()
    print(
        f"cProfile (thread CPU clock) of the platform's event-loop thread, {turns} turns at c=1: "
        f"{total:.2f} ms CPU per turn under the profiler (it inflates small calls)"
    )
    by_own = sorted(rows, key=lambda r: -r["tottime_ms_per_turn"])[:top]
    by_cum = sorted(rows, key=lambda r: -r["cumtime_ms_per_turn"])[:top]
    for label, key, chosen in (("own", "tottime_ms_per_turn", by_own), ("cumulative", "cumtime_ms_per_turn", by_cum)):
        print(f"  top {top} by {label} time (ms per turn, calls per turn [a coroutine: per resume], file:function):")
        for row in chosen:
            print(f"    {row[key]:7.3f}  {row['calls_per_turn']:7.1f}  {row['where']}")
    sql: list[tuple[str, int]] = []
    sql_path = Path(str(path) + ".sql.json")
    if sql_path.exists():
        sql = [(text, n) for text, n in json.loads(sql_path.read_text())]
        print(f"  SQL statements per turn: {sum(n for text, n in sql if text != 'COMMIT') / turns:.1f}, of which:")
        for text, n in sql[:20]:
            print(f"    {n / turns:5.2f}  {text}")
    return {"own": by_own, "cumulative": by_cum, "sql_per_turn": [(text, n / turns) for text, n in sql]}


def _short(filename: str) -> str:
    for marker in ("site-packages/", "/src/", "/lib/python3"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds per thread name of a process (Linux /proc), to split the event loop from helpers."""
    out: dict[str, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat.rsplit(")", 1)[1].split()
        key = "event loop (main thread)" if task.name == str(pid) else f"other threads ({name})"
        out[key] = out.get(key, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return out


def machine_info() -> dict[str, Any]:
    packages = {}
    names = ("plati", "sqlalchemy", "aiosqlite", "asyncpg", "fastapi", "starlette", "uvicorn", "httptools", "uvloop")
    for name in (*names, "httpx", "httpx2"):
        try:
            packages[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            packages[name] = None
    cpu = None
    try:
        cpu = next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            None,
        )
    except OSError:
        pass
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": cpu,
        "python": platform.python_version(),
        "loadavg_at_start": os.getloadavg(),
        "packages": packages,
    }


# -- main -------------------------------------------------------------------------------------------


async def main_async(args: argparse.Namespace) -> int:
    duration = 2.0 if args.quick else args.duration
    warmup = 0.5 if args.quick else 1.0
    concurrencies = (1,) if args.profile else tuple(args.concurrency)
    http, loop = default_http_loop()
    machine = machine_info()
    tmp = Path(tempfile.mkdtemp(prefix="plati-bench-turns-"))
    pg = PostgresDatabase(args.database_url) if args.database_url else None
    database_url = pg.url if pg else f"sqlite:///{tmp / 'data' / 'plati.db'}"
    database = f"PostgreSQL (fresh database {pg.name})" if pg else "SQLite (file in a temporary directory)"
    print(
        f"Turn benchmark: direct calls then turns at c={','.join(map(str, concurrencies))}, {duration:g} s each after "
        f"{warmup:g} s warm-up; {machine['nproc']} CPU(s) shared by client, platform and shop"
    )
    print(f"platform database: {database}; servers: uvicorn {uvicorn_options(http, loop)}")
    print(
        f"client: httpx2.AsyncClient in this process; a fresh identity (conversation) every "
        f"{args.turns_per_conversation or 'never'} turns per worker"
    )
    platform_env = limits_off(concurrencies, args.rate_limit)
    if args.redis_url:
        platform_env["PLATI_REDIS_URL"] = args.redis_url
    if max(args.replicas) > 1 and not args.database_url:
        raise SystemExit("--replicas above 1 needs --database-url (PostgreSQL): SQLite serves from one process")
    if args.profile and max(args.replicas) > 1:
        raise SystemExit("--profile runs one platform process: leave --replicas out")
    print("platform settings: " + " ".join(f"{name}={value}" for name, value in platform_env.items()))
    print(f"load average at start: {machine['loadavg_at_start']}")
    procs: list[Any] = []
    profile_path = tmp / "platform.prof"
    phases: list[Phase] = []
    profile_rows: dict[str, Any] = {}
    try:
        if pg:
            await pg.create()
        data_dir = str(tmp / "data")
        # The workspace and key are made the operator's way, straight in the database.
        from plati.admin import create_workspace

        settings = platform_settings(data_dir, database_url)
        _workspace, key = await create_workspace(settings, "bench")
        shop_proc, shop = start("shop", [str(tmp / "shop.db")], http, loop)
        procs.append(shop_proc)
        extra = [str(profile_path)] if args.profile else []
        platforms = [start("platform", [data_dir, database_url], http, loop, extra, env=platform_env)]
        procs.extend(proc for proc, _ in platforms)
        platform_proc, base = platforms[0]
        pids = {"platform": [platform_proc.pid], "shop": [shop_proc.pid]}
        limits = httpx2.Limits(max_connections=256, max_keepalive_connections=256)
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx2.AsyncClient(http1=True, http2=False, limits=limits, timeout=120, headers=headers) as client:
            channel = await set_up_platform(client, base, shop)
            load = Load(client, shop, [base], channel, args.turns_per_conversation)
            phase = await measure(load, "direct", 1, warmup, duration, pids)
            phases.append(phase)
            print(
                f"  direct c=1: {phase.per_s:.0f}/s p50 {phase.p50_ms:.2f} ms p99 {phase.p99_ms:.2f} ms "
                f"errors {phase.errors}",
                flush=True,
            )
            for count in args.replicas:
                if count != len(platforms) or count > 1:
                    # A fresh set of `count` platform processes on the one database.
                    for proc, _ in platforms:
                        stop(proc)
                        procs.remove(proc)
                    platforms = [
                        start("platform", [data_dir, database_url], http, loop, extra, env=platform_env)
                        for _ in range(count)
                    ]
                    procs.extend(proc for proc, _ in platforms)
                platform_proc = platforms[0][0]
                pids["platform"] = [proc.pid for proc, _ in platforms]
                load.bases = [url for _, url in platforms]
                for workers in concurrencies:
                    threads_before = thread_cpu(platform_proc.pid)
                    if args.profile:
                        await load.run("turns", workers, warmup)
                        platform_proc.send_signal(signal.SIGUSR1)
                        phase = await measure(load, "turns", workers, 0, duration, pids)
                        platform_proc.send_signal(signal.SIGUSR2)
                    else:
                        phase = await measure(load, "turns", workers, warmup, duration, pids)
                    phases.append(phase)
                    threads_after = thread_cpu(platform_proc.pid)
                    split = ", ".join(
                        f"{k} {(threads_after.get(k, 0) - threads_before.get(k, 0)) / phase.seconds * 100:.0f}%"
                        for k in threads_after
                    )
                    print(
                        f"  turns c={workers}: {phase.per_s:.1f}/s p50 {phase.p50_ms:.2f} ms p99 {phase.p99_ms:.2f} ms "
                        f"errors {phase.errors}; platform CPU by thread (incl. warm-up): {split}",
                        flush=True,
                    )
        if args.profile:
            for _ in range(50):
                if profile_path.exists():
                    break
                await asyncio.sleep(0.1)
            time.sleep(0.5)  # noqa: ASYNC251 (let the dump finish; nothing else is running)
            profile_rows = print_profile(profile_path, max(phases[-1].count, 1))
            if args.profile_out:
                shutil.copyfile(profile_path, args.profile_out)
                print(f"wrote the cProfile stats to {args.profile_out} (pstats format)")
    finally:
        for proc in reversed(procs):
            stop(proc)
        if pg:
            await pg.drop()
        shutil.rmtree(tmp, ignore_errors=True)
    print_table(phases)
    summary = summarize(phases)
    print_summary(summary, machine["nproc"])
    machine["loadavg_at_end"] = os.getloadavg()
    print(f"load average at end: {machine['loadavg_at_end']}")
    if args.json:
        payload = {
            "machine": machine,
            "config": {
                "duration_s": duration,
                "warmup_s": warmup,
                "database": "postgresql" if pg else "sqlite",
                "server": f"uvicorn {uvicorn_options(http, loop)}",
                "client": "httpx2.AsyncClient (benchmark process)",
                "turns_per_conversation": args.turns_per_conversation,
                "platform_settings": platform_env,
            },
            "phases": [asdict(p) for p in phases],
            "summary": summary,
            "profile_top": profile_rows,
        }
        Path(args.json).write_text(json.dumps(payload, indent=2) + "\n")  # noqa: ASYNC240 (after timing)
        print(f"wrote {args.json}")
    return 1 if any(p.errors for p in phases) else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds timed per phase (default 5)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 2 s per phase after 0.5 s warm-up")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help="PostgreSQL server to use, e.g. postgresql://postgres@127.0.0.1:5432/test: a fresh database is "
        "created next to the one named and dropped at the end (default: SQLite in a temporary directory)",
    )
    parser.add_argument("--concurrency", type=int, nargs="+", default=list(CONCURRENCIES), help="default: 1 16 64")
    parser.add_argument(
        "--rate-limit",
        default="off",
        metavar="RATE",
        help="the platform's per-key rate limit (default off; e.g. 1000000/minute to measure the limiter's cost)",
    )
    parser.add_argument(
        "--turns-per-conversation",
        type=int,
        default=10,
        metavar="N",
        help="each worker moves to a fresh identity (conversation) every N turns (default 10; 0 = one "
        "conversation per worker per phase, whose history grows to the engine's 200-part cap)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="only c=1, with the platform process under cProfile for the timed phase; prints the top costs",
    )
    parser.add_argument(
        "--replicas",
        type=int,
        nargs="+",
        default=[1],
        metavar="N",
        help="run the turn phases against N platform processes on one database, for each N given "
        "(e.g. 1 2 3; more than 1 needs --database-url: SQLite serves from one process)",
    )
    parser.add_argument(
        "--redis-url", metavar="URL", help="give the platform processes this Redis (the shared per-workspace turn cap)"
    )
    parser.add_argument("--profile-out", metavar="PATH", help="with --profile: also keep the cProfile stats file")
    args = parser.parse_args()
    sys.exit(asyncio.run(main_async(args)))


if __name__ == "__main__":
    main()
