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
from services import start_postgres, start_redis  # noqa: E402

JOB = {"prompt": PROMPT, "size": "480x320", "steps": 6, "enhance": False}


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.machine()) if Path("/proc/cpuinfo").exists() else \
        platform.machine()
    import celery
    import torch

    return (f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, torch {torch.__version__}, "
            f"celery {celery.__version__}")


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
        # one job at a time: submit-to-finished latency, where queue overhead would show
        latency = statistics.median(run_jobs(server, 1)[1][0] for _ in range(3))
        return wall, latency
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
    latencies: dict[str, list[float]] = {label: [] for label, _, _ in configs}
    try:
        for r in range(args.repeats):  # interleaved, so a noisy minute hits every configuration
            for label, kind, workers in configs:
                wall, latency = one_config(kind, workers, args.jobs, redis.url, pg)
                times[label].append(wall)
                latencies[label].append(latency)
                print(f"repeat {r + 1}: {label}: {wall:.1f}s for {args.jobs} jobs, single-job latency "
                      f"{latency:.2f}s", flush=True)
    finally:
        redis.stop()
        pg.stop()
    base = statistics.median(times[configs[0][0]])
    one = statistics.median(times[configs[1][0]])
    lat_local, lat_queue = min(latencies[configs[0][0]]), min(latencies[configs[1][0]])
    lines = [
        "# Queue throughput (benchmarks/bench_queue.py)", "",
        f"Machine: {machine()}; one torch thread per worker process "
        "(OMP_NUM_THREADS=1). "
        f"{args.jobs} jobs of {JOB['steps']} steps at 480x320 (embedded model), after one warm-up job; "
        f"{args.repeats} repeats, interleaved.", "",
        "| configuration | min (s) | median (s) | jobs/min | time vs local worker | single-job latency, min (s) |",
        "|---|---|---|---|---|---|",
    ]
    for label, _, _ in configs:
        med = statistics.median(times[label])
        lines.append(f"| {label} | {min(times[label]):.1f} | {med:.1f} | {60 * args.jobs / med:.1f} | "
                     f"{med / base:.2f}x | {min(latencies[label]):.2f} |")
    lines += ["", f"Queue overhead per job: {1000 * (lat_queue - lat_local):+.0f} ms (single-job latency, queue with one "
              f"worker minus local worker, best of repeats); from the batch medians "
              f"{(one - base) / args.jobs * 1000:+.0f} ms. Two workers against one: "
              f"{one / statistics.median(times[configs[2][0]]):.2f}x the throughput."]
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
