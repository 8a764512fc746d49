"""Scale-out: job records in PostgreSQL, jobs on Celery/Redis, workers in other processes.

Fast tests check the store's claim/lease rules (SQLite and a real PostgreSQL) and
the Alembic upgrade of a database made before migrations. The slow test is the
whole thing: redis-server + PostgreSQL + an API server + two `shotsmith worker`
processes, 12 jobs, one worker SIGKILLed in the middle of a job, and every job
completed exactly once with a valid clip.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from api_server import FAST_SIZE, KEY_A, PROMPT, REPO, decode_video, png_bytes, start_server, wait_for
from services import start_redis
from shotsmith.jobs import JobError, JobResult, owner_of
from shotsmith.jobs.queue import queue_for
from shotsmith.jobs.store import JobStore, database_url

OWNER = owner_of("alice-key")
SPEC = {"prompt": PROMPT, "enhance": False}


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        url = str(tmp_path / "jobs.sqlite3")
    else:
        pg = request.getfixturevalue("postgres")
        pg.query("DROP TABLE IF EXISTS board_takes, board_shots, boards, jobs, alembic_version")
        url = pg.url
    s = JobStore(url)
    yield s
    s.close()


# The store's rules --------------------------------------------------------------------------

def test_only_one_of_many_racing_workers_claims_a_job(store):
    store.create("video_" + "a" * 32, OWNER, SPEC, source="native", model="cogvideox-shapes")
    other = JobStore(store.url)  # a second connection pool, as another process would have
    winners, barrier = [], threading.Barrier(8)

    def race(i):
        s = store if i % 2 else other
        barrier.wait()
        if s.claim("video_" + "a" * 32, f"worker-{i}", lease_s=30) is not None:
            winners.append(i)

    threads = [threading.Thread(target=race, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    other.close()
    assert len(winners) == 1
    job = store.get("video_" + "a" * 32)
    assert job.status == "in_progress" and job.worker == f"worker-{winners[0]}" and job.attempts == 1


def test_a_live_lease_is_respected_and_a_lapsed_one_is_taken_over(store):
    job_id = "video_" + "b" * 32
    store.create(job_id, OWNER, SPEC, source="native", model="cogvideox-shapes")
    assert store.claim(job_id, "w1", lease_s=30) is not None
    assert store.claim(job_id, "w2", lease_s=30) is None  # w1 is alive
    assert store.heartbeat(job_id, "w1")
    time.sleep(1.1)
    assert [j.id for j in store.stale(lease_s=1)] == [job_id]
    assert store.release_stale(job_id, lease_s=1, max_attempts=3) == "requeued"
    assert store.release_stale(job_id, lease_s=1, max_attempts=3) is None  # only once
    taken = store.claim(job_id, "w2", lease_s=30)
    assert taken.worker == "w2" and taken.attempts == 2
    # the old holder wakes up: it can neither renew, report progress, nor record a result
    assert not store.heartbeat(job_id, "w1")
    store.set_progress(job_id, progress=90, step=9, total_steps=10, stage="denoise", worker="w1")
    assert store.finish_failed(job_id, JobError("x", "x"), worker="w1") is None
    assert store.get(job_id).progress == 0
    done = store.finish_completed(job_id, JobResult(outputs=[], seeds=[1]), worker="w2")
    assert done.status == "completed" and store.get(job_id).worker == "w2"
    assert store.claim(job_id, "w3", lease_s=0) is None  # finished jobs are never run again


def test_a_job_that_keeps_losing_its_worker_fails_with_a_reason(store):
    job_id = "video_" + "c" * 32
    store.create(job_id, OWNER, SPEC, source="native")
    for attempt in range(3):
        assert store.claim(job_id, f"w{attempt}", lease_s=30) is not None
        time.sleep(0.3)
        outcome = store.release_stale(job_id, lease_s=0.2, max_attempts=3)
    assert outcome == "failed"
    job = store.get(job_id)
    assert job.status == "failed" and job.error.code == "interrupted" and "3 times" in job.error.message


def test_cancelled_and_deleted_jobs_are_not_claimed(store):
    a, b = "video_" + "d" * 32, "video_" + "e" * 32
    store.create(a, OWNER, SPEC, source="native")
    store.create(b, OWNER, SPEC, source="native")
    store.cancel(a, OWNER)
    store.delete(b, OWNER)
    assert store.claim(a, "w", lease_s=30) is None
    assert store.claim(b, "w", lease_s=30) is None
    assert store.get(a).status == "cancelled"


def test_a_database_from_before_migrations_is_upgraded_in_place(tmp_path):
    db = tmp_path / "jobs.sqlite3"
    con = sqlite3.connect(db)  # the schema the first release created with create_all
    con.execute("""CREATE TABLE jobs (seq INTEGER PRIMARY KEY AUTOINCREMENT, id VARCHAR(40), owner VARCHAR(64),
        source VARCHAR(16), status VARCHAR(16), progress INTEGER, step INTEGER, total_steps INTEGER,
        stage VARCHAR(16), spec JSON, seeds JSON, enhanced_prompt VARCHAR, timings JSON, error_code VARCHAR(64),
        error_message VARCHAR, outputs JSON, contact_sheet VARCHAR(64), meta JSON, created_at FLOAT,
        started_at FLOAT, finished_at FLOAT, attempts INTEGER, cancel_requested BOOLEAN, deleted BOOLEAN)""")
    con.execute("""INSERT INTO jobs (id, owner, source, status, progress, step, total_steps, stage, spec, seeds,
        timings, outputs, meta, created_at, attempts, cancel_requested, deleted) VALUES
        (?, ?, 'openai', 'completed', 100, 2, 2, 'completed', '{"prompt": "old"}', '[5]', '{}', '[]', '{}', 1.0,
        1, 0, 0)""", ("video_" + "f" * 32, OWNER))
    con.commit()
    con.close()
    store = JobStore(db)
    old = store.get("video_" + "f" * 32)
    assert old.status == "completed" and old.spec == {"prompt": "old"} and old.seeds == [5]
    store.create("video_" + "0" * 32, OWNER, SPEC, source="native", model="cogvideox-shapes")
    assert store.claim("video_" + "0" * 32, "w", lease_s=5).worker == "w"
    store.close()
    versions = sqlite3.connect(db).execute("SELECT version_num FROM alembic_version").fetchall()
    assert versions == [("0004_boards",)]


def test_bad_queue_and_database_urls_are_refused_with_the_field_named(tmp_path):
    from typer.testing import CliRunner

    from shotsmith.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["worker", "--queue", "amqp://localhost", "--home", str(tmp_path)])
    assert result.exit_code == 2 and "queue: 'amqp://localhost' is not a Redis URL" in result.output
    result = runner.invoke(app, ["worker", "--queue", "redis://127.0.0.1:1/0", "--db", "mysql://x/y",
                                 "--home", str(tmp_path)])
    assert result.exit_code == 2 and "db: 'mysql' databases are not supported" in result.output
    result = runner.invoke(app, ["worker", "--queue", "redis://127.0.0.1:1/0", "--models", "no-such-model",
                                 "--home", str(tmp_path)])
    assert result.exit_code == 2 and "unknown model 'no-such-model'" in result.output
    result = runner.invoke(app, ["worker", "--home", str(tmp_path)], env={"SHOTSMITH_QUEUE": ""})
    assert result.exit_code == 2 and "a worker needs --queue" in result.output
    assert database_url("postgresql://u:p@h/db") == "postgresql+psycopg://u:p@h/db"


def test_queue_names_are_safe_and_distinct_per_model():
    assert queue_for("cogvideox-shapes") == "shotsmith.cogvideox-shapes"
    a, b = queue_for("/models/My Model"), queue_for("/models/my_model")
    assert a != b and all(c.isalnum() or c in "._-" for c in a)


# The whole system: redis + PostgreSQL + server + two workers -------------------------------------

class Worker:
    def __init__(self, home: Path, queue: str, db: str, models: str, log: Path, env: dict | None = None):
        env = dict(os.environ, PYTHONPATH=str(REPO / "src"), HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
                   SHOTSMITH_LEASE_S="6", OMP_NUM_THREADS="1", **(env or {}))
        self.log_path = log
        self.proc = subprocess.Popen([sys.executable, "-m", "shotsmith", "worker", "--queue", queue, "--db", db,
                                      "--home", str(home), "--models", models],
                                     stdout=open(log, "wb"), stderr=subprocess.STDOUT, env=env)
        self.name = f"shotsmith-{self.proc.pid}@{os.uname().nodename}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def wait_until(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
def test_two_workers_one_sigkilled_every_job_completes_exactly_once(tmp_path, postgres):
    postgres.query("DROP TABLE IF EXISTS board_takes, board_shots, boards, jobs, alembic_version")
    redis = start_redis()
    home = tmp_path / "home"
    env = {"SHOTSMITH_QUEUE": redis.url, "SHOTSMITH_DB": postgres.url, "SHOTSMITH_LEASE_S": "6"}
    server = start_server(home, env=env)
    workers = [Worker(home, redis.url, postgres.url, "cogvideox-shapes", tmp_path / f"worker{i}.log")
               for i in range(2)]
    try:
        with server.client(KEY_A) as http:
            wait_until(lambda: len(server_health(server).get("remote", {})) == 2, 120, "both workers to register")
            metrics = http.get("/metrics").text
            assert "shotsmith_queue_workers 2" in metrics
            assert 'shotsmith_queue_model_workers{model="cogvideox-shapes"} 2' in metrics
            ids = [http.post("/v1/videos", json={"prompt": PROMPT, "size": FAST_SIZE, "seed": 200 + i, "steps": 30,
                                                 "enhance": False}).json()["id"] for i in range(12)]
            # SIGKILL the first worker in the middle of a job's denoising loop (30 steps: the embedded
            # model denoises 6 in ~0.1 s, shorter than the 0.2 s poll below could be sure to see)
            victim = workers[0]
            killed_job = wait_until(lambda: next(iter(postgres.query(
                "SELECT id FROM jobs WHERE worker = %s AND status = 'in_progress' AND stage = 'denoise' "
                "AND step >= 2", victim.name)), None), 180, "the first worker to be mid-job")[0]
            victim.proc.send_signal(signal.SIGKILL)
            victim.proc.wait(10)
            jobs = [wait_for(http, job_id, timeout=300) for job_id in ids]

            assert [j["status"] for j in jobs] == ["completed"] * 12, [j.get("error") for j in jobs]
            rows = {r[0]: r[1:] for r in postgres.query("SELECT id, status, attempts, worker FROM jobs")}
            assert len(rows) == 12 and all(r[0] == "completed" for r in rows.values())
            status, attempts, holder = rows[killed_job]
            assert attempts == 2 and holder == workers[1].name  # taken over by the survivor
            assert sum(r[1] for r in rows.values()) == 13  # every other job ran once
            for job in jobs:
                assert len(job["clips"]) == 1 and job["seeds"] == [200 + ids.index(job["id"])]
                clip = decode_video(http.get(f"/v1/videos/{job['id']}/content").content)
                assert (clip["width"], clip["height"]) == (480, 320) and clip["frames"] > 0
                names = sorted(p.name for p in (home / "jobs" / job["id"]).iterdir())
                assert names.count("clip.mp4") == 1 and not [n for n in names if "shotsmith-tmp" in n], names
            assert "stopped answering" in server.log() + workers[1].log()

            # a job for a model no worker serves waits and says so; a worker for it then takes it
            i2v = http.post("/v1/videos", files={"input_reference": ("first.png", png_bytes(), "image/png")},
                            data={"prompt": "the ball moves right", "steps": "2", "size": FAST_SIZE,
                                  "enhance": "false"}).json()
            waiting = wait_until(lambda: (lambda j: j if j["stage"] == "waiting_for_worker" else None)(
                http.get(f"/api/v1/jobs/{i2v['id']}").json()), 30, "the no-worker status")
            assert waiting["status"] == "queued"
            workers.append(Worker(home, redis.url, postgres.url, "cogvideox-shapes-i2v", tmp_path / "worker2.log"))
            assert wait_for(http, i2v["id"], timeout=180)["status"] == "completed"

            # cancel reaches a job running in another process
            long = http.post("/v1/videos", json={"prompt": PROMPT, "size": FAST_SIZE, "steps": 60,
                                                 "enhance": False}).json()
            wait_until(lambda: http.get(f"/api/v1/jobs/{long['id']}").json()["step"] >= 1, 120, "the long job")
            assert http.post(f"/api/v1/jobs/{long['id']}/cancel").status_code == 200
            assert wait_for(http, long["id"], timeout=60)["status"] == "cancelled"
    except BaseException:
        for w in workers:
            print(f"--- {w.name}\n{w.log()[-3000:]}")
        print(f"--- server\n{server.log()[-3000:]}")
        raise
    finally:
        for w in workers:
            w.stop()
        server.stop()
        redis.stop()


def server_health(server) -> dict:
    return httpx.get(f"{server.url}/healthz", timeout=5).json().get("worker", {})
