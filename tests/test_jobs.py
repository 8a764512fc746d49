"""Jobs: the SQLite store, the local worker, cancel, delete, recovery, and a real
server killed with SIGKILL mid-job that finishes every job after a restart."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from api_server import FAST, FAST_SIZE, KEY_A, PROMPT, REPO, decode_video, free_port, start_server, wait_for
from shotsmith.jobs import JobConflict, JobNotFound, LocalBackend, QueueFull, owner_of
from shotsmith.jobs.store import JobStore
from shotsmith.jobs.worker import progress_percent
from shotsmith.spec import build_spec

ALICE, BOB = owner_of("alice-key"), owner_of("bob-key")


class FakeEngine:
    """Stands in for Engine: 'loads' a model by remembering its name."""

    def __init__(self):
        self.models: list[str] = []

    def pipeline(self, entry):
        self.models.append(entry.name)

    def loaded(self) -> list[str]:
        return list(self.models)


class FakeStudio:
    """Stands in for Studio: steps with progress and cancel checks, writes small files like finish_clip."""

    def __init__(self, steps: int = 5, step_s: float = 0.01, fail: str | None = None):
        self.steps, self.step_s, self.fail = steps, step_s, fail
        self.engine = FakeEngine()
        self.runs: list[str] = []
        self.gate = threading.Event()
        self.gate.set()

    def generate(self, spec, out: Path, on_progress, should_cancel):
        from shotsmith.engine import Cancelled

        self.runs.append(out.parent.name)
        for i in range(1, self.steps + 1):
            self.gate.wait(10)
            if should_cancel():
                raise Cancelled(f"cancelled at step {i}")
            on_progress(SimpleNamespace(stage="denoise", step=i, total=self.steps, candidate=0))
            time.sleep(self.step_s)
        if self.fail:
            raise ValueError(self.fail)
        out.parent.mkdir(parents=True, exist_ok=True)
        names = {"video": out, "gif": out.with_suffix(".gif"), "cover": out.with_suffix(".jpg"),
                 "sprite": out.with_name(out.stem + ".sprite.jpg"), "sidecar": out.with_suffix(".json")}
        for path in names.values():
            path.write_bytes(b"x")
        clip = SimpleNamespace(**names, width=spec.width, height=spec.height, fps=24.0, frames=150, duration=6.25)
        return SimpleNamespace(spec=spec.model_copy(update={"enhanced_prompt": "enhanced"}), clips=[clip],
                               seeds=[spec.seed or 7], contact_sheet=None, timings={"total": 0.1}, notes=[])


def spec(**kw):
    return build_spec(prompt=kw.pop("prompt", PROMPT), enhance=False, **kw)


def wait_status(backend, owner, job_id, statuses=("completed", "failed", "cancelled"), timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = backend.get(owner, job_id)
        if job.status in statuses:
            return job
        time.sleep(0.02)
    raise AssertionError(f"{job_id} still {job.status}")


@pytest.fixture
def make_backend(tmp_path):
    made = []

    def make(studio=None, **kw):
        backend = LocalBackend(tmp_path / "home", studio_factory=lambda: studio or FakeStudio(), **kw)
        backend.start()
        made.append(backend)
        return backend

    yield make
    for backend in made:
        backend.stop()


# Store and worker (in process, a fake studio) -------------------------------------------------------

def test_job_runs_to_completion_with_progress_and_outputs(make_backend):
    backend = make_backend()
    job = backend.submit(ALICE, spec(seed=42))
    assert job.status == "queued" and re.fullmatch(r"video_[0-9a-f]{32}", job.id)
    done = wait_status(backend, ALICE, job.id)
    assert done.status == "completed" and done.progress == 100
    assert (done.step, done.total_steps) == (5, 5)
    assert done.seeds == [42] and done.enhanced_prompt == "enhanced"
    assert done.outputs[0].video == "clip.mp4" and done.started_at and done.finished_at
    assert backend.file_path(done, "clip.mp4") == (backend.job_dir(job.id) / "clip.mp4").resolve()
    with pytest.raises(FileNotFoundError):
        backend.file_path(done, "../jobs.sqlite3")
    with pytest.raises(FileNotFoundError):
        backend.file_path(done, "input.png")  # exists or not, it is not an output


def test_jobs_run_in_submission_order_one_at_a_time(make_backend):
    studio = FakeStudio()
    studio.gate.clear()
    backend = make_backend(studio)
    ids = [backend.submit(ALICE, spec()).id for _ in range(3)]
    time.sleep(0.2)
    states = [backend.get(ALICE, i).status for i in ids]
    assert states == ["in_progress", "queued", "queued"]
    studio.gate.set()
    for job_id in ids:
        wait_status(backend, ALICE, job_id)
    assert studio.runs == ids


def test_owner_isolation_and_hashed_keys(make_backend, tmp_path):
    backend = make_backend()
    job = backend.submit(ALICE, spec())
    for call in (backend.get, backend.cancel, backend.delete):
        with pytest.raises(JobNotFound):
            call(BOB, job.id)
    assert backend.list(BOB).jobs == []
    wait_status(backend, ALICE, job.id)
    with sqlite3.connect(tmp_path / "home" / "jobs.sqlite3") as db:
        rows = [" ".join(map(str, row)) for row in db.execute("select * from jobs")]
    assert rows and all("alice-key" not in row and owner_of("alice-key") in row for row in rows)


def test_ids_that_are_not_server_ids_never_reach_the_filesystem(make_backend):
    backend = make_backend()
    for bad in ("../etc", "video_../../x", "video_" + "g" * 32, "", "/etc/passwd", "video_" + "a" * 33):
        with pytest.raises(JobNotFound):
            backend.get(ALICE, bad)
        with pytest.raises(JobNotFound):
            backend.job_dir(bad)


def test_list_cursor_pages_both_orders(make_backend):
    studio = FakeStudio()
    studio.gate.clear()
    backend = make_backend(studio)
    ids = [backend.submit(ALICE, spec()).id for _ in range(5)]
    page = backend.list(ALICE, limit=2, order="asc")
    assert [j.id for j in page.jobs] == ids[:2] and page.has_more
    page = backend.list(ALICE, after=ids[1], limit=2, order="asc")
    assert [j.id for j in page.jobs] == ids[2:4] and page.has_more
    page = backend.list(ALICE, after=ids[3], limit=2, order="asc")
    assert [j.id for j in page.jobs] == ids[4:] and not page.has_more
    assert [j.id for j in backend.list(ALICE, limit=10).jobs] == ids[::-1]
    assert [j.id for j in backend.list(ALICE, after=ids[2], order="desc").jobs] == ids[:2][::-1]
    studio.gate.set()


def test_cancel_queued_is_immediate_and_running_stops_between_steps(make_backend):
    studio = FakeStudio(steps=200, step_s=0.02)
    backend = make_backend(studio)
    running = backend.submit(ALICE, spec())
    queued = backend.submit(ALICE, spec())
    wait_status(backend, ALICE, running.id, ("in_progress",))
    assert backend.cancel(ALICE, queued.id).status == "cancelled"
    while backend.get(ALICE, running.id).step < 3:
        time.sleep(0.01)
    assert backend.cancel(ALICE, running.id).cancel_requested
    done = wait_status(backend, ALICE, running.id)
    assert done.status == "cancelled" and done.error.code == "cancelled"
    assert 3 <= done.step < 200
    assert queued.id not in studio.runs


def test_cancel_of_a_finished_job_is_a_conflict(make_backend):
    backend = make_backend()
    done = wait_status(backend, ALICE, backend.submit(ALICE, spec()).id)
    with pytest.raises(JobConflict, match="already completed"):
        backend.cancel(ALICE, done.id)


def test_failed_job_records_a_readable_error(make_backend):
    backend = make_backend(FakeStudio(fail="the encoder broke"))
    done = wait_status(backend, ALICE, backend.submit(ALICE, spec()).id)
    assert done.status == "failed"
    assert done.error.code == "internal_error" and "the encoder broke" in done.error.message


def test_delete_removes_record_and_files_even_while_running(make_backend):
    studio = FakeStudio(steps=500, step_s=0.01)
    backend = make_backend(studio)
    job = backend.submit(ALICE, spec())
    wait_status(backend, ALICE, job.id, ("in_progress",))
    folder = backend.job_dir(job.id)
    backend.delete(ALICE, job.id)
    with pytest.raises(JobNotFound):
        backend.get(ALICE, job.id)
    deadline = time.monotonic() + 10
    while folder.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not folder.exists()
    assert backend.store.counts() == {}


def test_queue_limit_per_key(make_backend):
    studio = FakeStudio()
    studio.gate.clear()
    backend = make_backend(studio, max_active_per_owner=2)
    backend.submit(ALICE, spec())
    backend.submit(ALICE, spec())
    with pytest.raises(QueueFull):
        backend.submit(ALICE, spec())
    backend.submit(BOB, spec())  # other keys are not affected
    studio.gate.set()


def test_recover_requeues_interrupted_jobs_and_gives_up_after_max_attempts(tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite3")
    ids = [f"video_{i:032x}" for i in range(4)]
    for job_id in ids:
        store.create(job_id, ALICE, spec().model_dump(mode="json"), source="native")
    for _ in range(4):
        store.claim_next()
    store.cancel(ids[1], ALICE)  # cancel asked while running, then the process died
    store.delete(ids[2], ALICE)  # deleted while running
    first = store.recover(max_attempts=3)
    assert first["requeued"] == [ids[0], ids[3]]
    assert first["cancelled"] == [ids[1]] and first["purged"] == [ids[2]]
    assert store.get(ids[1]).status == "cancelled"
    with pytest.raises(JobNotFound):
        store.get(ids[2])
    for _ in range(2):  # the same two jobs keep dying with the server
        assert [store.claim_next().id, store.claim_next().id] == [ids[0], ids[3]]
        if _ == 0:
            assert store.recover(max_attempts=3)["requeued"] == [ids[0], ids[3]]
    assert store.get(ids[0]).attempts == 3
    last = store.recover(max_attempts=3)
    assert last["failed"] == [ids[0], ids[3]]
    job = store.get(ids[0])
    assert job.status == "failed" and job.error.code == "interrupted"
    store.close()


@pytest.mark.slow  # two servers and their workers: ~7 s
def test_servers_sharing_a_database_keep_each_others_running_jobs(tmp_path):
    """Two servers on one database (PostgreSQL with --db; one SQLite file here): a restart
    takes back its own interrupted job at once, leaves the job the other live server runs
    alone, and takes that one over only after its holder has been silent for the lease."""
    db = str(tmp_path / "shared.sqlite3")
    other = LocalBackend(tmp_path / "other-home", db=db, run_worker=False)
    other.start()
    mine_before = LocalBackend(tmp_path / "home", db=db, run_worker=False)
    mine_before.start()
    theirs = other.submit(ALICE, spec())
    assert other.store.claim_next(other.worker_name).id == theirs.id  # the other server runs it
    alive = threading.Event()
    alive.set()

    def beat():  # the other server's heartbeat, until it "dies"
        while alive.is_set():
            other.store.heartbeat(theirs.id, other.worker_name)
            time.sleep(0.2)

    beating = threading.Thread(target=beat, daemon=True)
    beating.start()
    ours = mine_before.submit(ALICE, spec())
    assert mine_before.store.claim_next(mine_before.worker_name).id == ours.id
    mine_before.stop()  # this server dies mid-job and restarts

    studio = FakeStudio()
    restarted = LocalBackend(tmp_path / "home", db=db, studio_factory=lambda: studio, lease_s=3)
    assert restarted.worker_name == mine_before.worker_name != other.worker_name
    restarted.start()
    try:
        deadline = time.monotonic() + 180  # the worker thread's first imports, on a busy machine
        while not restarted.health()["worker"]["ready"] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert wait_status(restarted, ALICE, ours.id, timeout=60).status == "completed"
        time.sleep(3.5)  # more than a lease: the heartbeat keeps the job the other server's
        assert restarted.get(ALICE, theirs.id).status == "in_progress"
        assert theirs.id not in studio.runs
        alive.clear()  # the other server goes silent: after the lease this one takes it over
        beating.join()
        done = wait_status(restarted, ALICE, theirs.id, timeout=60)
        assert done.status == "completed" and done.attempts == 2 and theirs.id in studio.runs
        assert not other.store.heartbeat(theirs.id, other.worker_name)  # it no longer holds it
    finally:
        alive.clear()
        restarted.stop()
        other.stop()


def test_store_is_safe_under_concurrent_writers(tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite3")
    errors = []

    def writer(n):
        try:
            for i in range(15):
                job_id = f"video_{n:016x}{i:016x}"
                store.create(job_id, ALICE, {"prompt": "x"}, source="native")
                store.set_progress(job_id, progress=10, step=1, total_steps=2, stage="denoise")
        except Exception as exc:  # pragma: no cover - the assertion reports it
            errors.append(exc)

    def claimer(claimed):
        for _ in range(60):
            job = store.claim_next()
            if job:
                claimed.append(job.id)

    claimed: list[str] = []
    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    threads += [threading.Thread(target=claimer, args=(claimed,)) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(claimed) == len(set(claimed))  # no job was claimed twice
    assert sum(store.counts().values()) == 60
    store.close()


def test_progress_bar_only_moves_forward():
    values = [progress_percent("load", 0, 0, 0, 1), progress_percent("text", 0, 20, 0, 1)]
    values += [progress_percent("denoise", i, 20, 0, 1) for i in range(1, 21)]
    values += [progress_percent("decode", 20, 20, 0, 1), progress_percent("encode", 20, 20, 0, 1)]
    assert values == sorted(values) and values[-1] < 100 and values[0] == 0


# A real server, killed with SIGKILL mid-job ---------------------------------------------------------

@pytest.mark.slow  # ~1.5-3 min: a real server, a real render, a kill -9 and a restart
def test_sigkill_mid_job_then_restart_completes_every_job(tmp_path):
    home = tmp_path / "home"
    server = start_server(home)
    try:
        with server.client(KEY_A) as http:
            body = {"prompt": PROMPT, "size": FAST_SIZE, **FAST}
            # the first job is long enough to be killed in the middle of its denoising loop
            ids = [http.post("/v1/videos", json={**body, "seed": 100 + i, "steps": 12 if i == 0 else 2}).json()["id"]
                   for i in range(3)]
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                first = http.get(f"/api/v1/jobs/{ids[0]}").json()
                if first["status"] == "in_progress" and first["step"] >= 2:
                    break
                time.sleep(0.1)
            assert first["status"] == "in_progress", first
        server.kill()
        assert server.proc.returncode == -9
        with sqlite3.connect(home / "jobs.sqlite3") as db:
            states = dict(db.execute("select id, status from jobs").fetchall())
        assert states[ids[0]] == "in_progress" and states[ids[2]] == "queued"

        server = start_server(home, port=server.port)
        with server.client(KEY_A) as http:
            for job_id in ids:
                job = wait_for(http, job_id, timeout=300)
                assert job["status"] == "completed", job
                clip = http.get(f"/v1/videos/{job_id}/content")
                assert clip.status_code == 200
                info = decode_video(clip.content)
                assert (info["width"], info["height"]) == (480, 320) and info["frames"] > 10
            first = http.get(f"/api/v1/jobs/{ids[0]}").json()
            assert first["attempts"] == 2 and first["seeds"] == [100]
        assert "resuming 3 job(s)" in server.log() or "resuming" in server.log()
        leftovers = [p.name for p in (home / "jobs" / ids[0]).iterdir() if "shotsmith-tmp" in p.name]
        assert leftovers == []
    finally:
        server.stop()


# Start-up rules --------------------------------------------------------------------------------------

def test_serve_refuses_a_public_host_without_keys(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "SHOTSMITH_API_KEYS"}
    env.update(PYTHONPATH=str(REPO / "src"), SHOTSMITH_HOME=str(tmp_path / "home"))
    result = subprocess.run([sys.executable, "-m", "shotsmith.api", "--host", "0.0.0.0", "--port",
                             str(free_port())], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "SHOTSMITH_API_KEYS" in result.stderr and "refusing" in result.stderr
    assert not (tmp_path / "home").exists()


def test_importing_the_api_does_no_work():
    code = ("import sys, shotsmith.api, shotsmith.api.app, shotsmith.jobs; "
            "assert 'torch' not in sys.modules, 'torch imported'; "
            "assert not any(t.name == 'shotsmith-worker' for t in __import__('threading').enumerate())")
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), SHOTSMITH_HOME="/nonexistent/shotsmith-home")
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_every_setting_is_documented():
    from shotsmith.settings import variables

    doc = (REPO / "docs" / "api.md").read_text()
    missing = [env for env in variables() if env not in doc]
    assert not missing, f"settings not in docs/api.md: {missing}"
