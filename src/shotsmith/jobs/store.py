"""Job records through SQLAlchemy: an embedded SQLite file, or a shared PostgreSQL.

One table, one row per job; its schema is managed by Alembic (`migrations/`),
upgraded when a store opens. Within a process, writes are serialised by one lock
(SQLite allows a single writer anyway); between processes and machines, every
status change is one move of `lifecycle.TRANSITIONS`, made by a single conditional
UPDATE (`WHERE id = :id AND status IN (:sources)`), so two workers can never both
win it. A write transaction starts with its UPDATE (or DELETE), never with a read:
SQLite then takes its write lock first and waits on busy_timeout, instead of failing
when another process wrote since the read. With SQLite, WAL journaling keeps readers
and the writer out of each other's way; every change is one committed transaction,
so a process killed at any instant leaves a consistent table. The SQLite file (and
its -wal and -shm files) is readable by its owner only.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import asdict
from pathlib import Path

from sqlalchemy import (JSON, Boolean, Float, Integer, String, case, create_engine, delete, event, exists, false,
                        func, inspect, or_, select, update)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, aliased, mapped_column

from shotsmith.jobs.lifecycle import (CANCEL, CLAIM, COMPLETE, FAIL, GIVE_UP, REQUEUE, STOP, TAKE_OVER, Outcome,
                                      Transition, after_holder_died)
from shotsmith.text import readable
from shotsmith.jobs.records import (ACTIVE, TERMINAL, ClipOutput, Job, JobConflict, JobError, JobFilter, JobNotFound,
                                    JobPage, JobResult)

log = logging.getLogger(__name__)


class Base(DeclarativeBase):
    pass


class JobRow(Base):
    __tablename__ = "jobs"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)  # list order, cursors
    id: Mapped[str] = mapped_column(String(40), unique=True, index=True)
    owner: Mapped[str] = mapped_column(String(64), index=True)
    source: Mapped[str] = mapped_column(String(16), default="native")
    status: Mapped[str] = mapped_column(String(16), index=True, default="queued")
    progress: Mapped[int] = mapped_column(Integer, default=0)
    step: Mapped[int] = mapped_column(Integer, default=0)
    total_steps: Mapped[int] = mapped_column(Integer, default=0)
    stage: Mapped[str] = mapped_column(String(16), default="queued")
    spec: Mapped[dict] = mapped_column(JSON)
    seeds: Mapped[list] = mapped_column(JSON, default=list)
    enhanced_prompt: Mapped[str | None] = mapped_column(String, nullable=True)
    timings: Mapped[dict] = mapped_column(JSON, default=dict)
    error_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    error_message: Mapped[str | None] = mapped_column(String, nullable=True)
    outputs: Mapped[list] = mapped_column(JSON, default=list)
    contact_sheet: Mapped[str | None] = mapped_column(String(64), nullable=True)
    meta: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[float] = mapped_column(Float)
    started_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    finished_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)  # hidden; purged once no worker holds it
    worker: Mapped[str | None] = mapped_column(String(128), nullable=True)  # who holds it while in progress
    heartbeat_at: Mapped[float | None] = mapped_column(Float, nullable=True)  # the holder's last sign of life
    model: Mapped[str | None] = mapped_column(String(128), nullable=True)  # the model it needs (queue routing)
    search_text: Mapped[str | None] = mapped_column(String, nullable=True)  # see search_text()
    search_keys: Mapped[str | None] = mapped_column(String, nullable=True)  # see search_keys()


def search_text(spec: dict, enhanced_prompt: str | None) -> str:
    """What the gallery's words are looked for in: the prompts, lower-cased (by Python,
    so that every language folds the same on SQLite and PostgreSQL)."""
    return " ".join([spec.get("prompt") or "", enhanced_prompt or "", spec.get("enhanced_prompt") or ""]).lower()


def search_keys(seeds: list[int]) -> str:
    """The values a search word must equal exactly: ' 101 102 ' (a word matches ' 101 ')."""
    return " " + " ".join(str(seed) for seed in seeds) + " "


def _to_job(row: JobRow) -> Job:
    # Text fields pass through readable(): a record that cannot be encoded must not break a list.
    error = JobError(row.error_code, readable(row.error_message or "")) if row.error_code else None
    return Job(
        id=row.id, owner=row.owner, status=row.status, spec=readable(dict(row.spec or {})), created_at=row.created_at,
        source=row.source, progress=row.progress, step=row.step, total_steps=row.total_steps, stage=row.stage,
        seeds=list(row.seeds or []), enhanced_prompt=readable(row.enhanced_prompt), timings=dict(row.timings or {}),
        error=error, outputs=[ClipOutput(**clip) for clip in row.outputs or []], contact_sheet=row.contact_sheet,
        meta=readable(dict(row.meta or {})), started_at=row.started_at, finished_at=row.finished_at, attempts=row.attempts,
        cancel_requested=bool(row.cancel_requested), worker=row.worker, model=row.model,
    )


def database_url(db: Path | str) -> str:
    """A path -> an SQLite URL; postgresql:// URLs get the psycopg (v3) driver."""
    text = str(db)
    if "://" not in text:
        return f"sqlite:///{Path(text).expanduser()}"
    if text.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + text.split("://", 1)[1]
    if text.startswith(("sqlite://", "postgresql+")):
        return text
    raise ValueError(f"db: '{text.split('://', 1)[0]}' databases are not supported (use a file path, "
                     "sqlite:///PATH or postgresql://...)")


def redact(url: str) -> str:
    """The URL with its password hidden, for logs and /healthz."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1]


def migrate(engine) -> None:
    """Bring the schema to the newest revision (a new database gets every table)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    with engine.begin() as connection:
        tables = inspect(connection).get_table_names()
        config.attributes["connection"] = connection
        if "jobs" in tables and "alembic_version" not in tables:
            # made by a release before migrations existed: its table is revision 0001
            command.stamp(config, "0001_jobs")
        command.upgrade(config, "head")


def _private_sqlite_file(path: Path) -> None:
    """Create the database file 0600 before SQLite does (SQLite gives its -wal and -shm
    files the database file's mode), and tighten a file an older release made 0644."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)
    for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        try:
            if name.exists() and name.stat().st_mode & 0o077:
                os.chmod(name, 0o600)
        except OSError as exc:  # not ours to change: say so, and go on
            log.warning("could not make %s private: %s", name, exc)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
    cursor.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL survives a killed process
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


# Values a job takes when a holder starts it (claim, take_over) and when it goes back to the queue.
def _started(worker: str, now: float) -> dict:
    return dict(started_at=now, progress=0, step=0, total_steps=0, worker=worker, heartbeat_at=now,
                attempts=JobRow.attempts + 1, error_code=None, error_message=None, finished_at=None)


_QUEUED_AGAIN = dict(progress=0, step=0, worker=None, error_code=None, error_message=None, finished_at=None)


class JobStore:
    """All reads and writes of job records. Thread-safe; one instance per database."""

    def __init__(self, db: Path | str):
        self.url = database_url(db)
        if self.url.startswith("sqlite"):
            path = self.url.split("sqlite:///", 1)[-1].split("?", 1)[0]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                _private_sqlite_file(Path(path))
            self.engine = create_engine(self.url, connect_args={"check_same_thread": False, "timeout": 10})
            event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            self.engine = create_engine(self.url, pool_pre_ping=True, pool_size=5, max_overflow=5)
        self._write = threading.Lock()
        migrate(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    # Reads -----------------------------------------------------------------

    def get(self, job_id: str, owner: str | None = None) -> Job:
        """The job, if it exists, is not deleted and (when owner is given) belongs to owner."""
        with Session(self.engine) as session:
            row = self._row(session, job_id, owner)
            return _to_job(row)

    def list(self, owner: str, *, after: str | None = None, limit: int = 20, order: str = "desc") -> JobPage:
        return self._page(owner, (), after=after, limit=limit, order=order)

    def search(self, owner: str, where: JobFilter, *, after: str | None = None, limit: int = 20) -> JobPage:
        """The owner's jobs that pass the gallery's filter, newest first, in SQL."""
        return self._page(owner, _filter_clauses(where), after=after, limit=limit, order="desc")

    def _page(self, owner: str, clauses, *, after: str | None, limit: int, order: str) -> JobPage:
        with Session(self.engine) as session:
            query = select(JobRow).where(JobRow.owner == owner, JobRow.deleted.is_(False), *clauses)
            if after:
                cursor = self._row(session, after, owner)
                query = query.where(JobRow.seq < cursor.seq if order == "desc" else JobRow.seq > cursor.seq)
            query = query.order_by(JobRow.seq.desc() if order == "desc" else JobRow.seq.asc()).limit(limit + 1)
            rows = session.scalars(query).all()
            return JobPage([_to_job(r) for r in rows[:limit]], has_more=len(rows) > limit)

    def active_count(self, owner: str) -> int:
        with Session(self.engine) as session:
            query = select(func.count()).select_from(JobRow).where(
                JobRow.owner == owner, JobRow.status.in_(ACTIVE), JobRow.deleted.is_(False))
            return int(session.scalar(query) or 0)

    def counts(self) -> dict[str, int]:
        with Session(self.engine) as session:
            query = select(JobRow.status, func.count()).where(JobRow.deleted.is_(False)).group_by(JobRow.status)
            return {status: int(n) for status, n in session.execute(query).all()}

    def cancel_requested(self, job_id: str) -> bool:
        with Session(self.engine) as session:
            value = session.scalar(select(JobRow.cancel_requested).where(JobRow.id == job_id))
            return bool(value) if value is not None else True  # a purged row: stop working on it

    def is_deleted(self, job_id: str) -> bool:
        with Session(self.engine) as session:
            value = session.scalar(select(JobRow.deleted).where(JobRow.id == job_id))
            return value is None or bool(value)

    def stale(self, lease_s: float) -> list[Job]:
        """Jobs in progress whose holder has not been heard from for longer than the lease."""
        with Session(self.engine) as session:
            rows = session.scalars(select(JobRow).where(
                JobRow.status == "in_progress", JobRow.heartbeat_at < time.time() - lease_s)).all()
            return [_to_job(r) for r in rows]

    # Writes: a new job, and its moves (lifecycle.TRANSITIONS) ----------------------------------

    def create(self, job_id: str, owner: str, spec: dict, *, source: str, meta: dict | None = None,
               model: str | None = None) -> Job:
        with self._write, Session(self.engine) as session:
            row = JobRow(id=job_id, owner=owner, source=source, status="queued", spec=spec, meta=meta or {},
                         created_at=time.time(), seeds=[], timings={}, outputs=[], model=model, progress=0,
                         step=0, total_steps=0, stage="queued", attempts=0, cancel_requested=False, deleted=False,
                         search_text=search_text(spec, None), search_keys=search_keys([]))
            session.add(row)
            session.commit()
            return _to_job(row)

    def claim_next(self, worker: str = "local") -> Job | None:
        """Move the oldest queued job to in_progress for `worker` and return it (None: nothing queued).

        One UPDATE whose WHERE picks the oldest queued row and re-checks that it is still
        queued, so of any number of claimers (threads, processes, servers sharing one
        PostgreSQL) exactly one gets each job. On PostgreSQL the pick is `FOR UPDATE SKIP
        LOCKED`: a row another claimer is taking is skipped rather than waited for.
        """
        pick = aliased(JobRow)
        oldest = (select(pick.seq).where(pick.status.in_(CLAIM.sources), pick.deleted.is_(False))
                  .order_by(pick.seq.asc()).limit(1).with_for_update(skip_locked=True).scalar_subquery())
        for _ in range(50):  # each lost race means another claimer took a job: this ends
            now = time.time()
            with self._write, Session(self.engine) as session:
                taken = session.execute(
                    update(JobRow).where(JobRow.seq == oldest, JobRow.status.in_(CLAIM.sources),
                                         JobRow.deleted.is_(False))
                    .values(status=CLAIM.target, stage=CLAIM.stage, **_started(worker, now))
                    .returning(JobRow.id).execution_options(synchronize_session=False)).scalars().first()
                if taken is not None:
                    row = session.scalars(select(JobRow).where(JobRow.id == taken)).one()
                    session.commit()
                    return _to_job(row)
                session.commit()
            with Session(self.engine) as session:
                if not session.scalar(select(exists().where(JobRow.status.in_(CLAIM.sources),
                                                            JobRow.deleted.is_(False)))):
                    return None
        return None  # others keep winning; the caller polls again

    def claim(self, job_id: str, worker: str, lease_s: float) -> Job | None:
        """Take one job for `worker`: queued (claim), or in progress under a lease that ran out
        (take_over).

        One UPDATE with the conditions in its WHERE clause, so of any number of workers
        (on any machines) racing for the same job exactly one gets it; the others get
        None. A job that is finished, cancelled, deleted or held by a live worker is
        never taken.
        """
        now = time.time()
        with self._write, Session(self.engine) as session:
            taken = session.execute(update(JobRow).where(
                JobRow.id == job_id, JobRow.deleted.is_(False), JobRow.cancel_requested.is_(False),
                or_(JobRow.status.in_(CLAIM.sources),
                    JobRow.status.in_(TAKE_OVER.sources) & (JobRow.heartbeat_at < now - lease_s)),
            ).values(status=CLAIM.target, stage=CLAIM.stage, **_started(worker, now))
             .execution_options(synchronize_session=False))
            if taken.rowcount != 1:
                session.rollback()
                return None
            row = session.scalars(select(JobRow).where(JobRow.id == job_id)).one()
            session.commit()
            return _to_job(row)

    def heartbeat(self, job_id: str, worker: str) -> bool:
        """Renew `worker`'s lease on a running job; False when it no longer holds it."""
        with self._write, Session(self.engine) as session:
            held = session.execute(update(JobRow).where(
                JobRow.id == job_id, JobRow.worker == worker, JobRow.status == "in_progress",
            ).values(heartbeat_at=time.time()))
            session.commit()
            return held.rowcount == 1

    def set_progress(self, job_id: str, *, progress: int, step: int, total_steps: int, stage: str,
                     worker: str | None = None) -> None:
        where = [JobRow.id == job_id, JobRow.status == "in_progress"]
        if worker is not None:
            where.append(JobRow.worker == worker)
        with self._write, Session(self.engine) as session:
            session.execute(update(JobRow).where(*where).values(
                progress=case((JobRow.progress > progress, JobRow.progress), else_=progress), step=step,
                total_steps=total_steps, stage=stage, heartbeat_at=time.time()))
            session.commit()

    def finish_completed(self, job_id: str, result: JobResult, *, worker: str | None = None) -> Job | None:
        """Record a run's outputs (complete). None when the job is no longer in progress (for
        `worker`: no longer held by it, so a worker whose lease was taken over cannot
        overwrite the result of the one that took it)."""
        return self._move_held(COMPLETE, job_id, worker, finished_at=time.time(), progress=100,
                               outputs=[asdict(o) for o in result.outputs], seeds=list(result.seeds),
                               timings=dict(result.timings), contact_sheet=result.contact_sheet,
                               enhanced_prompt=result.enhanced_prompt, error_code=None, error_message=None,
                               more_meta={"notes": list(result.notes)} if result.notes else None)

    def finish_failed(self, job_id: str, error: JobError, *, timings: dict[str, float] | None = None,
                      worker: str | None = None) -> Job | None:
        """Record why a run failed (fail); None as for finish_completed."""
        extra = {} if timings is None else {"timings": dict(timings)}
        return self._move_held(FAIL, job_id, worker, finished_at=time.time(), error_code=error.code,
                               error_message=error.message, **extra)

    def finish_cancelled(self, job_id: str, error: JobError, *, worker: str | None = None) -> Job | None:
        """Record a run stopped at its client's request (stop); None as for finish_completed."""
        return self._move_held(STOP, job_id, worker, finished_at=time.time(), error_code=error.code,
                               error_message=error.message)

    def requeue(self, job_id: str, *, worker: str | None = None) -> Job | None:
        """Put a job its holder had to drop (server shutdown) back in the queue (requeue)."""
        return self._move_held(REQUEUE, job_id, worker, **_QUEUED_AGAIN)

    def _move_held(self, move: Transition, job_id: str, holder: str | None, more_meta: dict | None = None,
                   **values) -> Job | None:
        """A move by the job's holder (any holder when None); None when it no longer holds the job.
        `more_meta` is added to the record's meta (which keeps what the API put there)."""
        held = () if holder is None else (JobRow.worker == holder,)
        with self._write, Session(self.engine) as session:
            if not self._move(session, move, job_id, *held, **values):
                session.rollback()
                return None
            row = session.scalars(select(JobRow).where(JobRow.id == job_id)).one()
            if move is COMPLETE:  # the enhanced prompt and the seeds are searchable from now on
                row.search_text = search_text(row.spec or {}, row.enhanced_prompt)
                row.search_keys = search_keys(list(row.seeds or []))
            if more_meta:
                row.meta = {**(row.meta or {}), **more_meta}
            session.commit()
            return _to_job(row)

    def cancel(self, job_id: str, owner: str) -> Job:
        """Queued: cancelled now (cancel). In progress: flagged; the holder stops it at the next step."""
        owned = (JobRow.owner == owner, JobRow.deleted.is_(False))
        with self._write, Session(self.engine) as session:
            if not self._move(session, CANCEL, job_id, *owned, finished_at=time.time(), error_code="cancelled",
                              error_message="cancelled by the client before it started"):
                session.execute(update(JobRow).where(JobRow.id == job_id, JobRow.status == "in_progress", *owned)
                                .values(cancel_requested=True).execution_options(synchronize_session=False))
            row = self._row(session, job_id, owner)
            if row.status not in ("in_progress", "cancelled"):
                raise JobConflict(f"job '{job_id}' is already {row.status}")
            session.commit()
            return _to_job(row)

    def delete(self, job_id: str, owner: str) -> tuple[Job, bool]:
        """Hide the job; returns (job, purge_now). A running job is purged by its holder when it stops."""
        owned = (JobRow.id == job_id, JobRow.owner == owner, JobRow.deleted.is_(False))
        flag = dict(deleted=True, cancel_requested=True)
        with self._write, Session(self.engine) as session:
            job = None
            if session.execute(update(JobRow).where(*owned, JobRow.status == "in_progress").values(**flag)
                               .execution_options(synchronize_session=False)).rowcount != 1:
                job = _to_job(self._row(session, job_id, owner))
                gone = session.execute(delete(JobRow).where(*owned, JobRow.status != "in_progress")
                                       .execution_options(synchronize_session=False)).rowcount == 1
                if gone:
                    session.commit()
                    return job, True
                session.execute(update(JobRow).where(*owned).values(**flag)  # claimed meanwhile
                                .execution_options(synchronize_session=False))
            row = session.scalars(select(JobRow).where(JobRow.id == job_id)).one()
            job = job or _to_job(row)
            session.commit()
            return job, False

    def purge(self, job_id: str) -> None:
        with self._write, Session(self.engine) as session:
            session.execute(delete(JobRow).where(JobRow.id == job_id).execution_options(synchronize_session=False))
            session.commit()

    # The holder is gone: one rule (lifecycle.after_holder_died) for a restart and a lapsed lease

    def recover(self, max_attempts: int, *, holder: str | None = None,
                lease_s: float | None = None) -> dict[str, list[str]]:
        """At start-up: the jobs a dead process held in progress are taken back (at-least-once):
        queued again, or cancelled, purged or failed by `after_holder_died`.

        Without `holder`, every job in progress is taken (one process owns this database).
        With it, only the jobs `holder` held before it restarted, and other holders' jobs whose
        heartbeat is older than `lease_s`: a server sharing the database (PostgreSQL) keeps
        the jobs it is running while another one restarts."""
        report: dict[str, list[str]] = {"requeued": [], "cancelled": [], "failed": [], "purged": []}
        with Session(self.engine) as session:
            rows = session.execute(select(JobRow.id, JobRow.worker).where(JobRow.status == "in_progress")
                                   .order_by(JobRow.seq.asc())).all()
        stale_before = time.time() - lease_s if lease_s is not None else None
        for job_id, worker in rows:
            mine = holder is None or worker == holder
            if not mine and stale_before is None:
                continue
            outcome = self._take_back(job_id, max_attempts, "the server stopped during this job",
                                      stale_before=None if mine else stale_before)
            if outcome is not None:
                report[outcome].append(job_id)
        report["purged"] += self._purge_deleted()
        return report

    def release_stale(self, job_id: str, lease_s: float, max_attempts: int) -> Outcome | None:
        """Take a job back from a worker that stopped heart-beating. Returns what happened:

        'requeued' (to be published again), 'cancelled' (its cancel was asked for),
        'failed' (started max_attempts times), 'purged' (deleted while running), or
        None when the lease was renewed meanwhile or another process got there first.
        """
        return self._take_back(job_id, max_attempts, "the worker running this job stopped",
                               stale_before=time.time() - lease_s)

    def _take_back(self, job_id: str, max_attempts: int, who: str, *,
                   stale_before: float | None = None) -> Outcome | None:
        for _ in range(3):  # the row changed between the read and the move: read it again
            with Session(self.engine) as session:
                row = session.scalars(select(JobRow).where(JobRow.id == job_id)).first()
                if row is None or row.status != "in_progress":
                    return None
                if stale_before is not None and (row.heartbeat_at or 0) >= stale_before:
                    return None  # the holder is alive after all
                seen = dict(heartbeat_at=row.heartbeat_at, deleted=row.deleted,
                            cancel_requested=row.cancel_requested, attempts=row.attempts)
            outcome = after_holder_died(deleted=seen["deleted"], cancel_requested=seen["cancel_requested"],
                                        attempts=seen["attempts"], max_attempts=max_attempts)
            unchanged = [getattr(JobRow, name) == value for name, value in seen.items()]
            now = time.time()
            with self._write, Session(self.engine) as session:
                if outcome == "purged":
                    done = session.execute(delete(JobRow).where(
                        JobRow.id == job_id, JobRow.status == "in_progress", *unchanged)
                        .execution_options(synchronize_session=False)).rowcount == 1
                elif outcome == "cancelled":
                    done = self._move(session, STOP, job_id, *unchanged, finished_at=now, error_code="cancelled",
                                      error_message="cancelled by the client")
                elif outcome == "failed":
                    done = self._move(session, GIVE_UP, job_id, *unchanged, finished_at=now,
                                      error_code="interrupted",
                                      error_message=f"{who} {seen['attempts']} times; not retrying it again")
                else:
                    done = self._move(session, REQUEUE, job_id, *unchanged, **_QUEUED_AGAIN)
                session.commit()
            if done:
                return outcome
        return None

    def _purge_deleted(self) -> list[str]:
        gone = (JobRow.deleted.is_(True), JobRow.status != "in_progress")
        with Session(self.engine) as session:
            ids = list(session.scalars(select(JobRow.id).where(*gone)).all())
        if ids:
            with self._write, Session(self.engine) as session:
                session.execute(delete(JobRow).where(JobRow.id.in_(ids), *gone)
                                .execution_options(synchronize_session=False))
                session.commit()
        return ids

    # Helpers ---------------------------------------------------------------

    @staticmethod
    def _move(session: Session, move: Transition, job_id: str, *where, **values) -> bool:
        """One move of the lifecycle table: True when this caller made it."""
        done = session.execute(update(JobRow).where(JobRow.id == job_id, JobRow.status.in_(move.sources), *where)
                               .values(status=move.target, stage=move.stage, **values)
                               .execution_options(synchronize_session=False))
        return done.rowcount == 1

    @staticmethod
    def _row(session: Session, job_id: str, owner: str | None) -> JobRow:
        query = select(JobRow).where(JobRow.id == job_id, JobRow.deleted.is_(False))
        if owner is not None:
            query = query.where(JobRow.owner == owner)
        row = session.scalars(query).first()
        if row is None:
            raise JobNotFound(job_id)
        return row


def _storable(text: str) -> bool:
    """Whether text can be stored (and sent as a parameter): no NUL, no lone surrogate."""
    return "\x00" not in text and not any("\ud800" <= c <= "\udfff" for c in text)


def _filter_clauses(where: JobFilter) -> list:
    """JobFilter -> SQL conditions: the gallery's rules, in the database."""
    if not all(_storable(text) for text in (*where.words, where.style or "")):
        return [false()]  # no stored job holds such text (and neither database takes it as a parameter)
    clauses = []
    if where.status == "active":
        clauses.append(JobRow.status.in_(ACTIVE))
    elif where.status == "finished":
        clauses.append(JobRow.status.in_(TERMINAL))
    elif where.status != "all":
        clauses.append(JobRow.status == where.status)
    if where.style is not None:
        style = func.coalesce(func.nullif(JobRow.spec["style"].as_string(), ""), "none")
        clauses.append(style == where.style)
    if where.task is not None:
        image = func.nullif(JobRow.spec["image"].as_string(), "")
        clauses.append(image.is_not(None) if where.task == "i2v" else image.is_(None))
    for word in where.words:
        word = word.lower()
        clauses.append(or_(JobRow.search_text.contains(word, autoescape=True),
                           JobRow.search_keys.contains(f" {word} ", autoescape=True), JobRow.id == word))
    return clauses
