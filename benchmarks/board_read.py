"""How long the studio waits for a board: GET /api/v1/boards/{id} on the largest board allowed.

A board of MAX_SHOTS shots with 4 takes each (every take a real queued job in the store) is
made through the HTTP API with no worker (the jobs stay queued, so nothing renders), then read
N times through the ASGI app in this process; the studio polls this route while a board renders.
Reported: median and 95th percentile milliseconds per read, and the answer's size.

    python benchmarks/board_read.py [--shots 60] [--takes 4] [--reads 50] [--db postgresql://...]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shots", type=int, default=None, help="default: the limit per board")
    ap.add_argument("--takes", type=int, default=4)
    ap.add_argument("--reads", type=int, default=50)
    ap.add_argument("--db", default=None, help="a postgresql:// URL (default: SQLite in a temporary home)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "board_read.json")
    args = ap.parse_args(argv)

    from fastapi.testclient import TestClient

    from shotsmith.api.app import create_app
    from shotsmith.board.limits import MAX_SHOTS
    from shotsmith.settings import Settings

    shots = args.shots or MAX_SHOTS
    headers = {"Authorization": "Bearer bench"}
    with tempfile.TemporaryDirectory() as home:
        settings = Settings(home=Path(home), worker=False, preload="", api_keys=("bench",), db_url=args.db,
                            max_active_jobs_per_key=shots * args.takes + 1)
        with TestClient(create_app(settings)) as client:
            made = time.perf_counter()
            body = {"name": "bench", "width": 192, "height": 128, "shots": [
                {"text": f"a red ball rolls on green grass, beat {i + 1}", "candidates": args.takes,
                 "duration": 2.25} for i in range(shots)]}
            board = client.post("/api/v1/boards", json=body, headers=headers).json()
            url = f"/api/v1/boards/{board['id']}"
            rendered = client.post(f"{url}/render", headers=headers)
            assert rendered.status_code == 202, rendered.text
            setup_s = time.perf_counter() - made
            times, size = [], 0
            for _ in range(args.reads):
                start = time.perf_counter()
                answer = client.get(url, headers=headers)
                times.append((time.perf_counter() - start) * 1000)
                size = len(answer.content)
            takes = sum(len(s["takes"]) for s in answer.json()["shots"])
    times.sort()
    result = {"shots": shots, "takes": takes, "reads": args.reads, "db": "postgresql" if args.db else "sqlite",
              "median_ms": round(statistics.median(times), 1),
              "p95_ms": round(times[int(0.95 * (len(times) - 1))], 1), "answer_bytes": size,
              "create_and_render_s": round(setup_s, 2)}
    print(json.dumps(result, indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
