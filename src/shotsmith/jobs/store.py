"""Job records through SQLAlchemy: an embedded SQLite file, or a shared PostgreSQL.

One table, one row per job; its schema is managed by Alembic (`migrations/`),
upgraded when a store opens. Within a process, writes are serialised by one lock
(SQLite allows a single writer anyway); between processes and machines, every
state change that must happen once ("take this job", "record its result") is a
single conditional UPDATE, so two workers can never both win it. With SQLite, WAL
journaling keeps readers and the writer out of each other's way; every change is
one committed transaction, so a process killed at any instant leaves a consistent
table.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from sqlalchemy import (JSON, Boolean, Float, Integer, String, case, create_engine, event, func, inspect, or_,
                        select, update)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from shotsmith.jobs.records import ACTIVE, ClipOutput, Job, JobConflict, JobError, JobNotFound, JobPage


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


def _to_job(row: JobRow) -> Job:
    error = JobError(row.error_code, row.error_message or "") if row.error_code else None
    return Job(
        id=row.id, owner=row.owner, status=row.status, spec=dict(row.spec or {}), created_at=row.created_at,
        source=row.source, progress=row.progress, step=row.step, total_steps=row.total_steps, stage=row.stage,
        seeds=list(row.seeds or []), enhanced_prompt=row.enhanced_prompt, timings=dict(row.timings or {}),
        error=error, outputs=[ClipOutput(**clip) for clip in row.outputs or []], contact_sheet=row.contact_sheet,
        meta=dict(row.meta or {}), started_at=row.started_at, finished_at=row.finished_at, attempts=row.attempts,
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


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
    cursor.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL survives a killed process
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


class JobStore:
    """All reads and writes of job records. Thread-safe; one instance per database."""

    def __init__(self, db: Path | str):
        self.url = database_url(db)
        if self.url.startswith("sqlite"):
            path = self.url.split("sqlite:///", 1)[-1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
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
        with Session(self.engine) as session:
            query = select(JobRow).where(JobRow.owner == owner, JobRow.deleted.is_(False))
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

    # Writes ----------------------------------------------------------------

    def create(self, job_id: str, owner: str, spec: dict, *, source: str, meta: dict | None = None,
               model: str | None = None) -> Job:
        with self._write, Session(self.engine) as session:
            row = JobRow(id=job_id, owner=owner, source=source, status="queued", spec=spec, meta=meta or {},
                         created_at=time.time(), seeds=[], timings={}, outputs=[], model=model, progress=0,
                         step=0, total_steps=0, stage="queued", attempts=0, cancel_requested=False, deleted=False)
            session.add(row)
            session.commit()
            return _to_job(row)

    def claim_next(self, worker: str = "local") -> Job | None:
        """Atomically move the oldest queued job to in_progress and return it."""
        with self._write, Session(self.engine) as session:
            row = session.scalars(select(JobRow).where(JobRow.status == "queued", JobRow.deleted.is_(False))
                                  .order_by(JobRow.seq.asc()).limit(1)).first()
            if row is None:
                return None
            now = time.time()
            row.status, row.stage, row.started_at = "in_progress", "starting", now
            row.progress, row.step, row.total_steps = 0, 0, 0
            row.worker, row.heartbeat_at = worker, now
            row.attempts += 1
            session.commit()
            return _to_job(row)

    def claim(self, job_id: str, worker: str, lease_s: float) -> Job | None:
        """Take one job for `worker`: queued, or in progress under a lease that ran out.

        One UPDATE with the conditions in its WHERE clause, so of any number of workers
        (on any machines) racing for the same job exactly one gets it; the others get
        None. A job that is finished, cancelled, deleted or held by a live worker is
        never taken.
        """
        now = time.time()
        with self._write, Session(self.engine) as session:
            taken = session.execute(update(JobRow).where(
                JobRow.id == job_id, JobRow.deleted.is_(False), JobRow.cancel_requested.is_(False),
                or_(JobRow.status == "queued",
                    (JobRow.status == "in_progress") & (JobRow.heartbeat_at < now - lease_s)),
            ).values(status="in_progress", stage="starting", started_at=now, progress=0, step=0, total_steps=0,
                     worker=worker, heartbeat_at=now, attempts=JobRow.attempts + 1,
                     error_code=None, error_message=None, finished_at=None))
            session.commit()
            if taken.rowcount != 1:
                return None
            return _to_job(session.scalars(select(JobRow).where(JobRow.id == job_id)).one())

    def heartbeat(self, job_id: str, worker: str) -> bool:
        """Renew `worker`'s lease on a running job; False when it no longer holds it."""
        with self._write, Session(self.engine) as session:
            held = session.execute(update(JobRow).where(
                JobRow.id == job_id, JobRow.worker == worker, JobRow.status == "in_progress",
            ).values(heartbeat_at=time.time()))
            session.commit()
            return held.rowcount == 1

    def stale(self, lease_s: float) -> list[Job]:
        """Jobs in progress whose holder has not been heard from for longer than the lease."""
        with Session(self.engine) as session:
            rows = session.scalars(select(JobRow).where(
                JobRow.status == "in_progress", JobRow.heartbeat_at < time.time() - lease_s)).all()
            return [_to_job(r) for r in rows]

    def release_stale(self, job_id: str, lease_s: float, max_attempts: int) -> str | None:
        """Take a job back from a worker that stopped heart-beating. Returns what happened:

        'requeued' (to be published again), 'cancelled' (its cancel was asked for),
        'failed' (started max_attempts times), 'purged' (deleted while running), or
        None when the lease was renewed meanwhile or another process got there first.
        """
        now = time.time()
        with self._write, Session(self.engine) as session:
            row = session.scalars(select(JobRow).where(JobRow.id == job_id)).first()
            if row is None or row.status != "in_progress" or (row.heartbeat_at or 0) >= now - lease_s:
                return None
            held = (JobRow.id == job_id) & (JobRow.status == "in_progress") & (JobRow.heartbeat_at == row.heartbeat_at)
            if row.deleted:
                outcome = "purged"
                values = dict(status="cancelled", stage="cancelled", finished_at=now)
            elif row.cancel_requested:
                outcome = "cancelled"
                values = dict(status="cancelled", stage="cancelled", finished_at=now, error_code="cancelled",
                              error_message="cancelled by the client")
            elif row.attempts >= max_attempts:
                outcome = "failed"
                values = dict(status="failed", stage="failed", finished_at=now, error_code="interrupted",
                              error_message=f"the worker running this job stopped {row.attempts} times; "
                                            "not retrying it again")
            else:
                outcome = "requeued"
                values = dict(status="queued", stage="queued", progress=0, step=0, worker=None)
            done = session.execute(update(JobRow).where(held).values(**values))
            session.commit()
            if done.rowcount != 1:
                return None
        if outcome == "purged":
            self.purge(job_id)
        return outcome

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

    def finish(self, job_id: str, status: str, *, error: JobError | None = None, worker: str | None = None,
               **values) -> Job | None:
        """Record the end of a run: completed (with outputs), failed (with error) or cancelled.

        With `worker`, only while that worker still holds the job: a worker whose lease
        was taken over cannot overwrite the result of the one that took it (None).
        """
        with self._write, Session(self.engine) as session:
            query = select(JobRow).where(JobRow.id == job_id)
            if worker is not None:
                query = query.where(JobRow.worker == worker, JobRow.status == "in_progress")
                if session.bind.dialect.name == "postgresql":
                    query = query.with_for_update()  # held until commit: no one takes it meanwhile
            row = session.scalars(query).first()
            if row is None:
                return None
            row.status, row.stage, row.finished_at = status, status, time.time()
            if status == "completed":
                row.progress = 100
            if error is not None:
                row.error_code, row.error_message = error.code, error.message
            for key, value in values.items():
                setattr(row, key, value)
            session.commit()
            return _to_job(row)

    def cancel(self, job_id: str, owner: str) -> Job:
        """Queued: cancelled now. In progress: flagged; the worker stops at the next step."""
        with self._write, Session(self.engine) as session:
            row = self._row(session, job_id, owner)
            if row.status == "queued":
                row.status, row.stage, row.finished_at = "cancelled", "cancelled", time.time()
                row.error_code, row.error_message = "cancelled", "cancelled by the client before it started"
            elif row.status == "in_progress":
                row.cancel_requested = True
            elif row.status != "cancelled":
                raise JobConflict(f"job '{job_id}' is already {row.status}")
            session.commit()
            return _to_job(row)

    def delete(self, job_id: str, owner: str) -> tuple[Job, bool]:
        """Hide the job; returns (job, purge_now). A running job is purged by its worker when it stops."""
        with self._write, Session(self.engine) as session:
            row = self._row(session, job_id, owner)
            job = _to_job(row)
            if row.status == "in_progress":
                row.deleted, row.cancel_requested = True, True
                session.commit()
                return job, False
            session.delete(row)
            session.commit()
            return job, True

    def is_deleted(self, job_id: str) -> bool:
        with Session(self.engine) as session:
            value = session.scalar(select(JobRow.deleted).where(JobRow.id == job_id))
            return value is None or bool(value)

    def requeue(self, job_id: str) -> None:
        """Put an interrupted job back in the queue, as if it had never started."""
        with self._write, Session(self.engine) as session:
            session.execute(update(JobRow).where(JobRow.id == job_id).values(
                status="queued", stage="queued", progress=0, step=0, error_code=None, error_message=None,
                finished_at=None, worker=None))
            session.commit()

    def purge(self, job_id: str) -> None:
        with self._write, Session(self.engine) as session:
            row = session.scalars(select(JobRow).where(JobRow.id == job_id)).first()
            if row is not None:
                session.delete(row)
                session.commit()

    def recover(self, max_attempts: int) -> dict[str, list[str]]:
        """At start-up: jobs a dead process held in progress are queued again (at-least-once).

        A job whose cancel was asked for ends cancelled, one deleted while running is purged,
        and one that has already been started max_attempts times fails instead of looping.
        """
        report: dict[str, list[str]] = {"requeued": [], "cancelled": [], "failed": [], "purged": []}
        now = time.time()
        with self._write, Session(self.engine) as session:
            for row in session.scalars(select(JobRow).where(JobRow.status == "in_progress")).all():
                if row.deleted:
                    session.delete(row)
                    report["purged"].append(row.id)
                elif row.cancel_requested:
                    row.status = row.stage = "cancelled"
                    row.finished_at = now
                    row.error_code, row.error_message = "cancelled", "cancelled by the client"
                    report["cancelled"].append(row.id)
                elif row.attempts >= max_attempts:
                    row.status = row.stage = "failed"
                    row.finished_at = now
                    row.error_code = "interrupted"
                    row.error_message = (f"the server stopped during this job {row.attempts} times; "
                                         "not retrying it again")
                    report["failed"].append(row.id)
                else:
                    row.status, row.stage = "queued", "queued"
                    row.progress, row.step, row.worker = 0, 0, None
                    report["requeued"].append(row.id)
            session.commit()
        report["purged"] += self._purge_deleted()
        return report

    def _purge_deleted(self) -> list[str]:
        with self._write, Session(self.engine) as session:
            rows = session.scalars(select(JobRow).where(JobRow.deleted.is_(True),
                                                        JobRow.status != "in_progress")).all()
            ids = [row.id for row in rows]
            for row in rows:
                session.delete(row)
            session.commit()
            return ids

    # Helpers ---------------------------------------------------------------

    @staticmethod
    def _row(session: Session, job_id: str, owner: str | None) -> JobRow:
        query = select(JobRow).where(JobRow.id == job_id, JobRow.deleted.is_(False))
        if owner is not None:
            query = query.where(JobRow.owner == owner)
        row = session.scalars(query).first()
        if row is None:
            raise JobNotFound(job_id)
        return row

