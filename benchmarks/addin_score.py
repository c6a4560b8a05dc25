"""Server time of the add-in's Score cycle on a 500-KR workbook (goal: under 0.3 s).

Run: python benchmarks/addin_score.py [--rounds N] [--http]

Times POST /addin/api/score as the add-in sends it (values as the Excel JS API returns them):
JSON parsing, shape checks, the engine, the cell plan and the JSON answer. --http goes through a
real loopback HTTP server (werkzeug) as well.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from addin_fixtures import TOKEN, big_rows, payload  # noqa: E402
from sheets_sync.server import create_app  # noqa: E402
from sheets_sync.server.addin import parse_workbook  # noqa: E402

from sheets_sync import engine  # noqa: E402

GOAL = 0.3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--http", action="store_true", help="also time over loopback HTTP")
    args = parser.parse_args()

    body = payload(rows=big_rows(100, 5))
    data = json.dumps(body).encode()
    app = create_app({"TOKENS": [TOKEN], "WORKSPACE": None})
    client = app.test_client()
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}

    def once() -> float:
        t0 = time.perf_counter()
        r = client.post("/addin/api/score", data=data, headers=headers)
        elapsed = time.perf_counter() - t0
        assert r.status_code == 200, r.get_data(as_text=True)
        return elapsed

    once()  # warm-up: imports, first-call caches
    times = [once() for _ in range(args.rounds)]
    raw, as_of = parse_workbook(body)
    t0 = time.perf_counter()
    report = engine.score_workbook(raw, as_of)
    engine_time = time.perf_counter() - t0
    result = client.post("/addin/api/score", data=data, headers=headers).get_json()

    krs = sum(len(o["krs"]) for o in result["objectives"])
    print(f"workbook: {len(result['objectives'])} objectives, {krs} KRs, {len(data) / 1024:.0f} KiB JSON")
    print(f"answer:   {len(result['updates'])} cells to write, {len(result['notes'])} notes, score {report.score}")
    print(
        f"score cycle, server time over {args.rounds} rounds: median {statistics.median(times):.3f} s, "
        f"max {max(times):.3f} s (engine alone {engine_time:.3f} s); goal < {GOAL} s"
    )
    if args.http:
        from werkzeug.serving import make_server

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        httpd = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{httpd.server_port}/addin/api/score"
        http_times = []
        for _ in range(args.rounds):
            request = urllib.request.Request(url, data=data, headers=headers, method="POST")
            t0 = time.perf_counter()
            with urllib.request.urlopen(request) as response:
                response.read()
            http_times.append(time.perf_counter() - t0)
        httpd.shutdown()
        print(f"over loopback HTTP: median {statistics.median(http_times):.3f} s, max {max(http_times):.3f} s")
    return 0 if statistics.median(times) < GOAL else 1


if __name__ == "__main__":
    raise SystemExit(main())
