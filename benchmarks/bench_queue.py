"""Queue throughput: the local worker against Celery workers (1 and 2) on the same jobs.

    python benchmarks/bench_queue.py [--jobs 8] [--repeats 2] [--out benchmarks/RESULTS_queue.md]

Starts real servers like the scale-out test does (redis-server and PostgreSQL from
their Debian packages, on 127.0.0.1), then for each configuration starts an API
server (and workers), submits the same N jobs over HTTP, and measures the wall
time from the first submit to the last completed job. Each worker process uses
one torch thread, so on a 2-core machine two workers can at best halve the time.

Reported, per configuration: min and median of the repeats, jobs per minute, the
ratio against the local worker measured in the same run, and the queue overhead
per job ((queue with one worker - local) / N).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests"), str(REPO / "src"), str(REPO / "benchmarks")]

from api_server import KEY_A, PROMPT, start_server, wait_for  # noqa: E402
from bench_clip import machine  # noqa: E402
from services import start_postgres, start_redis  # noqa: E402

JOB = {"prompt": PROMPT, "size": "480x320", "steps": 6, "enhance": False}


def run_jobs(server, n: int) -> tuple[float, list[float]]:
    with server.client(KEY_A) as http:
        started = time.perf_counter()
        ids = [http.post("/v1/videos", json={**JOB, "seed": 1000 + i}).json()["id"] for i in range(n)]
        jobs = [wait_for(http, i, timeout=600) for i in ids]
        wall = time.perf_counter() - started
    bad = [j for j in jobs if j["status"] != "completed"]
    if bad:
        raise RuntimeError(f"{len(bad)} job(s) did not complete: {bad[0].get('error')}")
    return wall, [j["finished_at"] - j["created_at"] for j in jobs]


def one_config(kind: str, workers: int, n: int, redis_url: str | None, pg) -> float:
    from test_scaleout import Worker

    home = Path(tempfile.mkdtemp(prefix=f"shotsmith-bench-{kind}-"))
    env = {"OMP_NUM_THREADS": "1"}
    procs = []
    if kind == "queue":
        pg.query("DROP TABLE IF EXISTS jobs, alembic_version")
        env.update(SHOTSMITH_QUEUE=redis_url, SHOTSMITH_DB=pg.url)
    server = start_server(home / "home", env=env)
    try:
        if kind == "queue":
            procs = [Worker(home / "home", redis_url, pg.url, "cogvideox-shapes", home / f"w{i}.log")
                     for i in range(workers)]
            deadline = time.monotonic() + 180
            import httpx

            while len(httpx.get(f"{server.url}/healthz").json()["worker"].get("remote", {})) < workers:
                if time.monotonic() > deadline:
                    raise RuntimeError("workers did not register")
                time.sleep(0.5)
        run_jobs(server, 1)  # warm: models loaded, first-job costs paid
        wall, _ = run_jobs(server, n)
        return wall
    finally:
        for p in procs:
            p.stop()
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "RESULTS_queue.md")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    redis, pg = start_redis(), start_postgres()
    configs = [("local worker (SQLite, in the server process)", "local", 1),
               ("Celery queue, 1 worker (PostgreSQL)", "queue", 1),
               ("Celery queue, 2 workers (PostgreSQL)", "queue", 2)]
    times: dict[str, list[float]] = {label: [] for label, _, _ in configs}
    try:
        for r in range(args.repeats):  # interleaved, so a noisy minute hits every configuration
            for label, kind, workers in configs:
                wall = one_config(kind, workers, args.jobs, redis.url, pg)
                times[label].append(wall)
                print(f"repeat {r + 1}: {label}: {wall:.1f}s for {args.jobs} jobs", flush=True)
    finally:
        redis.stop()
        pg.stop()
    base = statistics.median(times[configs[0][0]])
    one = statistics.median(times[configs[1][0]])
    lines = [
        "# Queue throughput (benchmarks/bench_queue.py)", "",
        f"Machine: {machine()}; Python {platform.python_version()}; one torch thread per worker process. "
        f"{args.jobs} jobs of {JOB['steps']} steps at 480x320 (embedded model), after one warm-up job; "
        f"{args.repeats} repeats, interleaved.", "",
        "| configuration | min (s) | median (s) | jobs/min | time vs local worker |",
        "|---|---|---|---|---|",
    ]
    for label, _, _ in configs:
        med = statistics.median(times[label])
        lines.append(f"| {label} | {min(times[label]):.1f} | {med:.1f} | {60 * args.jobs / med:.1f} | "
                     f"{med / base:.2f}x |")
    lines += ["", f"Queue overhead per job (1 worker - local) / jobs: {(one - base) / args.jobs * 1000:.0f} ms. "
              f"Two workers against one: {one / statistics.median(times[configs[2][0]]):.2f}x the throughput."]
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
