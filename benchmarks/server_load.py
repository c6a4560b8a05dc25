"""Bounded load test on loopback: N clients on /api/status and the dashboard while syncs run.

    python benchmarks/server_load.py [--clients 50] [--seconds 20] [--folder okrs/]

Starts `okr-sync serve` on a free port over the demo company (or a folder you give), keeps a sync
running the whole time through POST /api/sync, and prints throughput, latency percentiles and
errors. Clients are spread over several processes so the load generator is not the bottleneck.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "load-test-token-0123456789abcdef0123456789"
PATHS = ["/api/status", "/?lang=en"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def request(conn: http.client.HTTPConnection, method: str, path: str) -> tuple[int, bytes]:
    conn.request(method, path, headers={"Authorization": f"Bearer {TOKEN}"})
    response = conn.getresponse()
    return response.status, response.read()


def client_worker(port: int, threads: int, seconds: float, out: mp.Queue) -> None:  # type: ignore[type-arg]
    """One process: `threads` clients, each on its own keep-alive connection."""
    deadline = time.monotonic() + seconds
    results: list[tuple[str, float, int]] = []
    lock = threading.Lock()

    def loop(offset: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine: list[tuple[str, float, int]] = []
        i = offset
        while time.monotonic() < deadline:
            path = PATHS[i % len(PATHS)]
            i += 1
            started = time.perf_counter()
            try:
                status, _ = request(conn, "GET", path)
            except (OSError, http.client.HTTPException):
                status = 0
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            mine.append((path, time.perf_counter() - started, status))
        conn.close()
        with lock:
            results.extend(mine)

    workers = [threading.Thread(target=loop, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    out.put(results)


def syncer(port: int, stop: threading.Event, log: list[tuple[int, float]]) -> None:
    """Keep a sync running: one POST /api/sync after another until told to stop."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    while not stop.is_set():
        started = time.perf_counter()
        status, _ = request(conn, "POST", "/api/sync")
        log.append((status, time.perf_counter() - started))
    conn.close()


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--folder", type=Path, help="unit workbooks (default: a fresh demo)")
    parser.add_argument("--processes", type=int, default=5)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="okr-load-"))
    folder = args.folder
    if folder is None:
        sys.path.insert(0, str(ROOT))
        from sheets_sync.demo import write_demo_company

        folder = work / "okrs"
        write_demo_company(folder)
    port = free_port()
    env = {**os.environ, "OKR_SYNC_TOKENS": TOKEN, "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen(
        [sys.executable, "-c", "from sheets_sync.cli import main; main()",
         "serve", "--port", str(port), str(folder)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        for _ in range(200):
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                if request(conn, "GET", "/healthz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.05)
        else:
            print("the server did not start", file=sys.stderr)
            return 2
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        assert request(conn, "POST", "/api/sync")[0] == 200  # the dashboard has data

        stop = threading.Event()
        syncs: list[tuple[int, float]] = []
        sync_thread = threading.Thread(target=syncer, args=(port, stop, syncs))
        sync_thread.start()
        queue: mp.Queue = mp.Queue()  # type: ignore[type-arg]
        per = [args.clients // args.processes + (i < args.clients % args.processes)
               for i in range(args.processes)]  # fmt: skip
        procs = [mp.Process(target=client_worker, args=(port, n, args.seconds, queue))
                 for n in per if n]  # fmt: skip
        started = time.monotonic()
        for p in procs:
            p.start()
        results: list[tuple[str, float, int]] = []
        for _ in procs:
            results.extend(queue.get())
        for p in procs:
            p.join()
        elapsed = time.monotonic() - started
        stop.set()
        sync_thread.join()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)

    latencies = [r[1] for r in results]
    errors = sum(1 for r in results if r[2] != 200)
    summary = {
        "clients": args.clients,
        "seconds": round(elapsed, 1),
        "requests": len(results),
        "throughput_rps": round(len(results) / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 1),
        "p95_ms": round(percentile(latencies, 95) * 1000, 1),
        "p99_ms": round(percentile(latencies, 99) * 1000, 1),
        "errors": errors,
        "syncs_completed": sum(1 for s, _ in syncs if s == 200),
        "sync_errors": sum(1 for s, _ in syncs if s != 200),
        "sync_mean_s": round(statistics.mean(d for _, d in syncs), 2) if syncs else None,
    }
    for path in PATHS:
        mine = [r[1] for r in results if r[0] == path]
        summary[f"{path} p95_ms"] = round(percentile(mine, 95) * 1000, 1) if mine else None
        summary[f"{path} requests"] = len(mine)
    print(json.dumps(summary, indent=2))
    return 0 if errors == 0 and summary["sync_errors"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
