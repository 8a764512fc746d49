"""A job's lifecycle: the one table of moves, the one recovery rule, the atomic claim
(racing claimers in several processes, on SQLite and on PostgreSQL), the gallery's
search in SQL, and what a dead run leaves behind (half-written files, file modes)."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from api_server import REPO
from shotsmith.jobs import ClipOutput, JobConflict, JobError, JobFilter, JobResult, LocalBackend, owner_of
from shotsmith.jobs.lifecycle import ALLOWED, TRANSITIONS, after_holder_died, allowed
from shotsmith.jobs.records import ACTIVE, STATUSES, TERMINAL
from shotsmith.jobs.store import JobStore
from test_jobs import FakeStudio, spec, wait_status

OWNER = owner_of("alice-key")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "jobs.sqlite3")
    pg = request.getfixturevalue("postgres")
    pg.query("DROP TABLE IF EXISTS board_takes, board_shots, boards, jobs, alembic_version")
    return pg.url


@pytest.fixture
def store(store_url):
    s = JobStore(store_url)
    yield s
    s.close()


def job_id(n: int) -> str:
    return f"video_{n:032x}"


# The table -----------------------------------------------------------------------------------

def test_the_table_of_moves():
    assert ALLOWED == {("queued", "in_progress"), ("queued", "cancelled"), ("in_progress", "in_progress"),
                       ("in_progress", "completed"), ("in_progress", "failed"), ("in_progress", "cancelled"),
                       ("in_progress", "queued")}
    for t in TRANSITIONS:
        assert t.target in STATUSES and set(t.sources) <= set(ACTIVE), t
    for final in TERMINAL:  # nothing leaves a final status
        assert not any(allowed(final, other) for other in STATUSES)
    assert not allowed("queued", "completed") and not allowed("queued", "failed")


def test_one_recovery_rule():
    rule = lambda **kw: after_holder_died(**{"deleted": False, "cancel_requested": False, "attempts": 1,  # noqa: E731
                                              "max_attempts": 3, **kw})
    assert rule() == "requeued"
    assert rule(attempts=3) == "failed"
    assert rule(cancel_requested=True, attempts=3) == "cancelled"
    assert rule(deleted=True, cancel_requested=True, attempts=9) == "purged"


def test_moves_outside_the_table_are_refused(store):
    a, b = job_id(1), job_id(2)
    store.create(a, OWNER, {"prompt": "x"}, source="native")
    store.create(b, OWNER, {"prompt": "y"}, source="native")
    # a queued job cannot end as if it had run, nor go back to the queue
    assert store.finish_completed(a, JobResult(seeds=[1])) is None
    assert store.finish_failed(a, JobError("x", "y")) is None
    assert store.requeue(a) is None
    assert store.get(a).status == "queued" and store.get(a).seeds == []
    claimed = store.claim_next("w1")
    assert claimed.id == a and claimed.status == "in_progress" and claimed.stage == "starting"
    assert store.finish_completed(a, JobResult(seeds=[1]), worker="w2") is None  # not the holder
    done = store.finish_completed(a, JobResult(seeds=[1], timings={"total": 1.0}), worker="w1")
    assert done.status == "completed" and done.progress == 100 and done.finished_at
    # completed is final
    for attempt in (lambda: store.finish_failed(a, JobError("x", "y")), lambda: store.requeue(a),
                    lambda: store.finish_cancelled(a, JobError("cancelled", "z")),
                    lambda: store.claim(a, "w3", lease_s=0)):
        assert attempt() is None
    with pytest.raises(JobConflict, match="already completed"):
        store.cancel(a, OWNER)
    assert store.get(a).status == "completed" and store.get(a).seeds == [1]
    # a cancelled job stays cancelled; cancelling again is harmless
    assert store.cancel(b, OWNER).status == "cancelled"
    assert store.cancel(b, OWNER).status == "cancelled"
    assert store.claim_next("w1") is None and store.claim(b, "w1", lease_s=0) is None


def test_shutdown_puts_the_running_job_back_in_the_queue(tmp_path):
    home = tmp_path / "home"
    backend = LocalBackend(home, studio_factory=lambda: FakeStudio(steps=500, step_s=0.01))
    backend.start()
    job = backend.submit(OWNER, spec())
    wait_status(backend, OWNER, job.id, ("in_progress",))
    backend.stop()
    store = JobStore(home / "jobs.sqlite3")
    stopped = store.get(job.id)
    store.close()
    assert (stopped.status, stopped.error, stopped.attempts, stopped.finished_at) == ("queued", None, 1, None)
    backend = LocalBackend(home, studio_factory=FakeStudio)
    backend.start()
    try:
        done = wait_status(backend, OWNER, job.id)
        assert done.status == "completed" and done.attempts == 2
    finally:
        backend.stop()


# The atomic claim: many claimers, many jobs, each job claimed exactly once -----------------------

CLAIMER = """
import json, os, sys, threading, time
from shotsmith.jobs.store import JobStore
url, go, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
store = JobStore(url)
claimed, errors = [], []
def claim(name):
    while not os.path.exists(go):
        time.sleep(0.002)
    while True:
        try:
            job = store.claim_next(name)
        except Exception as exc:
            errors.append(repr(exc))
            if len(errors) > 20:
                return
            continue
        if job is None:
            return
        claimed.append([job.id, name])
print("ready", flush=True)
workers = [threading.Thread(target=claim, args=(f"p{os.getpid()}-t{i}",)) for i in range(threads)]
for w in workers:
    w.start()
for w in workers:
    w.join()
print(json.dumps({"claimed": claimed, "errors": errors}), flush=True)
"""


@pytest.mark.slow  # a load check, 3-4 s per database
def test_racing_claimers_take_each_job_exactly_once(store, tmp_path):
    processes, threads, jobs = 4, 3, 160
    ids = [job_id(n) for n in range(jobs)]
    for n in ids:
        store.create(n, OWNER, {"prompt": "x"}, source="native")
    go = tmp_path / "go"
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    procs = [subprocess.Popen([sys.executable, "-c", CLAIMER, store.url, str(go), str(threads)],
                              stdout=subprocess.PIPE, text=True, env=env) for _ in range(processes)]
    try:
        for p in procs:
            assert p.stdout.readline().strip() == "ready"
        go.touch()  # all 12 claimers start together
        reports = [json.loads(p.stdout.readline()) for p in procs]
    finally:
        for p in procs:
            p.wait(60)
    assert [r["errors"] for r in reports] == [[]] * processes
    claims = [c for r in reports for c in r["claimed"]]
    taken = [c[0] for c in claims]
    assert len(taken) == jobs and sorted(taken) == ids  # every job once: no duplicate, none left
    assert len({c[1] for c in claims}) > 1  # the claimers really raced
    assert store.claim_next("late") is None
    for n, name in claims:
        job = store.get(n)
        assert (job.status, job.worker, job.attempts) == ("in_progress", name, 1)


# The gallery's search, in SQL, with the rules it had in Python -----------------------------------

def reference_match(job, words: list[str], style, status, task) -> bool:
    """The gallery's filter as web/routes.py ran it in Python before it moved into SQL."""
    if status == "active" and job.status not in ACTIVE:
        return False
    if status == "finished" and job.status not in TERMINAL:
        return False
    if status not in ("all", "active", "finished") and job.status != status:
        return False
    if style is not None and (job.spec.get("style") or "none") != style:
        return False
    if task is not None and ("i2v" if job.spec.get("image") else "t2v") != task:
        return False
    if words:
        text = " ".join([job.spec.get("prompt") or "", job.enhanced_prompt or "",
                         job.spec.get("enhanced_prompt") or ""]).lower()
        exact = {str(seed) for seed in job.seeds} | {job.id}
        return all(word in text or word in exact for word in words)
    return True


GALLERY = [  # spec, final status, seeds, enhanced prompt
    ({"prompt": "A red ball rolls on GREEN grass"}, "completed", [101, 102], "A steady shot: a red ball."),
    ({"prompt": "Ein GROSSES Café — ÄRGER", "style": "anime-2d"}, "completed", [7], None),
    ({"prompt": "İstanbul at night, ΣΟΦΙΑ"}, "queued", [], None),
    ({"prompt": "100% pure_red / 50\\50"}, "failed", [], None),
    ({"prompt": "", "image": "/srv/x/input.png", "style": "documentary"}, "completed", [55], "A still red door"),
    ({"prompt": "a blue square", "style": ""}, "cancelled", [], None),
    ({"prompt": "a red square", "enhanced_prompt": "spec side ZEBRA"}, "in_progress", [], None),
    ({"prompt": "another RED ball", "image": ""}, "completed", [10], None),
]


def test_search_in_sql_gives_what_the_python_filter_gave(store):
    for n, (spec_, status, seeds, enhanced) in enumerate(GALLERY):
        store.create(job_id(n), OWNER, spec_, source="native")
        if status == "queued":
            continue
        if status == "cancelled":
            store.cancel(job_id(n), OWNER)
            continue
        store.claim(job_id(n), "w", lease_s=60)
        if status == "completed":
            clip = ClipOutput("clip.mp4", "clip.jpg", "clip.sprite.jpg", "clip.json", None, seeds[0], 8, 8, 8.0, 8,
                              1.0)
            store.finish_completed(job_id(n), JobResult(outputs=[clip], seeds=seeds, enhanced_prompt=enhanced))
        elif status == "failed":
            store.finish_failed(job_id(n), JobError("internal_error", "broke"))
    store.create(job_id(99), owner_of("bob-key"), {"prompt": "a red ball of bob"}, source="native")
    jobs = store.list(OWNER, limit=100).jobs
    assert len(jobs) == len(GALLERY)
    queries = ["", "red", "RED", "red grass", "café", "CAFÉ", "ärger", "σοφια", "istanbul", "i̇stanbul", "100%",
               "%", "_", "pure_red", "p_re", "101", "10", "1", "55", job_id(3), job_id(3)[:10], "zebra", "steady",
               "door", "red ball", "nothing", "/", "50\\50", "\\", "\x00", "red\x00", "\ud800"]
    statuses = ["all", "active", "finished", *STATUSES]
    checked = 0
    for q in queries:
        combos = [(s, None, None) for s in statuses]
        combos += [("all", style, task) for style in (None, "none", "anime-2d", "documentary", "\x00", "\ud800")
                   for task in (None, "t2v", "i2v")]
        for status, style, task in combos:
            where = JobFilter.search(q, status=status, style=style, task=task)
            found = [j.id for j in store.search(OWNER, where, limit=100).jobs]
            expected = [j.id for j in jobs if reference_match(j, q.lower().split(), style, status, task)]
            assert found == expected, (q, status, style, task)
            checked += 1
    assert checked == len(queries) * 26
    # the rules the studio's tests name, once more by value
    red = lambda **kw: [j.id for j in store.search(OWNER, JobFilter.search("red", **kw)).jobs]  # noqa: E731
    assert red() == [job_id(7), job_id(6), job_id(4), job_id(3), job_id(0)]
    assert red(task="i2v") == [job_id(4)] and red(status="active") == [job_id(6)]
    page = store.search(OWNER, JobFilter.search("red"), limit=2)
    assert [j.id for j in page.jobs] == [job_id(7), job_id(6)] and page.has_more
    rest = store.search(OWNER, JobFilter.search("red"), after=job_id(6), limit=2)
    assert [j.id for j in rest.jobs] == [job_id(4), job_id(3)] and rest.has_more


def test_search_columns_are_filled_for_a_database_from_an_older_release(tmp_path):
    db = tmp_path / "jobs.sqlite3"
    JobStore(db).close()
    con = sqlite3.connect(db)  # as release 0002 left it: a job without the search columns
    con.execute("UPDATE alembic_version SET version_num = '0002_worker_leases'")
    for table in ("board_takes", "board_shots", "boards"):  # release 0002 had no boards (0004)
        con.execute(f"DROP TABLE {table}")
    con.execute("ALTER TABLE jobs DROP COLUMN search_text")
    con.execute("ALTER TABLE jobs DROP COLUMN search_keys")
    con.execute("""INSERT INTO jobs (id, owner, source, status, progress, step, total_steps, stage, spec, seeds,
        enhanced_prompt, timings, outputs, meta, created_at, attempts, cancel_requested, deleted) VALUES
        (?, ?, 'openai', 'completed', 100, 2, 2, 'completed', '{"prompt": "An OLD Clip"}', '[5, 6]',
         'Enhanced Words', '{}', '[]', '{}', 1.0, 1, 0, 0)""", (job_id(5), OWNER))
    con.commit()
    con.close()
    store = JobStore(db)
    try:
        for q in ("old clip", "ENHANCED", "6"):
            assert [j.id for j in store.search(OWNER, JobFilter.search(q)).jobs] == [job_id(5)], q
        assert store.search(OWNER, JobFilter.search("66")).jobs == []
    finally:
        store.close()


# What a dead run leaves behind, and who may read it -----------------------------------------------

def test_restart_clears_the_half_written_files_of_interrupted_runs(tmp_path):
    home = tmp_path / "home"
    store = JobStore(home / "jobs.sqlite3")
    requeued, given_up = job_id(1), job_id(2)
    for n in (requeued, given_up):
        store.create(n, OWNER, {"prompt": "x"}, source="native")
        store.claim(n, "dead-server", lease_s=60)
    for _ in range(2):  # the second job has already been started three times
        assert store.release_stale(given_up, lease_s=0, max_attempts=9) == "requeued"
        store.claim(given_up, "dead-server", lease_s=60)
    store.close()
    for n in (requeued, given_up):
        folder = home / "jobs" / n
        folder.mkdir(parents=True)
        for name in ("input.png", ".clip.shotsmith-tmp-0a1b2c3d-video", ".clip-2.shotsmith-tmp-0a1b2c3d-gif"):
            (folder / name).write_bytes(b"x")
    backend = LocalBackend(home, run_worker=False)
    backend.start()
    try:
        assert backend.store.get(requeued).status == "queued"
        assert backend.store.get(given_up).status == "failed"
        for n in (requeued, given_up):
            assert sorted(p.name for p in (home / "jobs" / n).iterdir()) == ["input.png"]
    finally:
        backend.stop()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_database_and_job_folders_are_private(tmp_path):
    old = os.umask(0o022)
    try:
        home = tmp_path / "home"
        backend = LocalBackend(home, studio_factory=FakeStudio)
        backend.start()
        try:
            staged = backend.new_job_id()
            backend.job_dir(staged).mkdir()  # as the API stages an input image before submitting
            assert mode(backend.job_dir(staged)) == 0o755
            jobs = [backend.submit(OWNER, spec(), job_id=staged), backend.submit(OWNER, spec())]
            for job in jobs:
                assert wait_status(backend, OWNER, job.id).status == "completed"
                assert mode(backend.job_dir(job.id)) == 0o700
            assert mode(home / "jobs") == 0o700
            db = home / "jobs.sqlite3"
            files = [db, Path(f"{db}-wal"), Path(f"{db}-shm")]
            assert all(p.exists() for p in files)
            assert [mode(p) for p in files] == [0o600] * 3
        finally:
            backend.stop()
        # a database and folders an older release made readable are tightened on the next start
        for p in files:
            if p.exists():
                os.chmod(p, 0o644)
        os.chmod(home / "jobs", 0o755)
        backend = LocalBackend(home, run_worker=False)
        backend.start()
        backend.stop()
        assert mode(db) == 0o600 and mode(home / "jobs") == 0o700
        assert all(mode(p) == 0o600 for p in files if p.exists())
    finally:
        os.umask(old)
