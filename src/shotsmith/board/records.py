"""Storyboard records: boards, their shots and the takes made for each shot.

Three tables in the jobs store's database (the same SQLite file or PostgreSQL, created by
the Alembic migration 0004_boards). A take is a pointer to one job: its status, progress
and files are the job's, read from the jobs table when a board is shown, never copied.
Like jobs, a board belongs to the owner (the key's SHA-256) that created it, and another
owner's board is "not found".

Every write is one short transaction behind one process lock (SQLite has one writer
anyway); the one step that must happen once across processes (submitting a waiting
"continue" shot) is a conditional UPDATE whose row count says who won it.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from dataclasses import dataclass, field

from sqlalchemy import JSON, BigInteger, Boolean, Float, Integer, String, delete, func, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from shotsmith.jobs.records import TERMINAL, ClipOutput, Job, JobError
from shotsmith.jobs.store import Base, JobRow, _to_job
from shotsmith.text import readable

_IDS = {prefix: re.compile(rf"^{prefix}_[0-9a-f]{{24}}$") for prefix in ("board", "shot", "take")}


def new_id(prefix: str) -> str:
    """Server-made and unguessable; safe as a folder or file name."""
    return f"{prefix}_{secrets.token_hex(12)}"


def is_id(prefix: str, value) -> bool:
    return isinstance(value, str) and bool(_IDS[prefix].match(value))


class BoardNotFound(LookupError):
    """No such board, shot or take for this owner (another owner's is 'not found' too).
    `field` names the request field that pointed at it."""

    def __init__(self, what: str, value: str, field: str):
        shown = value if len(str(value)) <= 80 else str(value)[:80] + "..."
        super().__init__(f"no {what} '{shown}'")
        self.what, self.value, self.field = what, value, field


class BoardConflict(RuntimeError):
    """The board is in the wrong state for the request (a shot without a pick at export...)."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field, self.message = field, message


class BoardRow(Base):
    __tablename__ = "boards"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(40), unique=True, index=True)
    owner: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(200))
    model: Mapped[str | None] = mapped_column(String(128), nullable=True)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    fps: Mapped[int] = mapped_column(Integer)
    style: Mapped[str | None] = mapped_column(String(64), nullable=True)
    steps: Mapped[int | None] = mapped_column(Integer, nullable=True)
    interpolation: Mapped[str | None] = mapped_column(String(16), nullable=True)
    export: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)


class ShotRow(Base):
    __tablename__ = "board_shots"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(40), unique=True, index=True)
    board_id: Mapped[str] = mapped_column(String(40), index=True)
    position: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String)
    text: Mapped[str] = mapped_column(String)
    prompt: Mapped[str] = mapped_column(String)
    mode: Mapped[str] = mapped_column(String(16))
    image: Mapped[str | None] = mapped_column(String(64), nullable=True)  # a file name in the board's folder
    duration: Mapped[float] = mapped_column(Float)
    style: Mapped[str | None] = mapped_column(String(64), nullable=True)
    seed: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # seeds reach 2**32 - 1
    candidates: Mapped[int] = mapped_column(Integer)
    picked_take_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    pending: Mapped[bool] = mapped_column(Boolean, default=False)  # render asked, waiting for the shot before
    created_at: Mapped[float] = mapped_column(Float)


class TakeRow(Base):
    __tablename__ = "board_takes"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(40), unique=True, index=True)
    board_id: Mapped[str] = mapped_column(String(40), index=True)
    shot_id: Mapped[str] = mapped_column(String(40), index=True)
    job_id: Mapped[str] = mapped_column(String(40))
    seed: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[float] = mapped_column(Float)


# What the rest of the code sees: plain frozen values, never a row bound to a session.

@dataclass(frozen=True)
class Take:
    id: str
    shot_id: str
    job_id: str
    seed: int
    created_at: float


@dataclass(frozen=True)
class Shot:
    id: str
    position: int
    title: str
    text: str
    prompt: str
    mode: str
    image: str | None
    duration: float
    style: str | None
    seed: int | None
    candidates: int
    picked_take_id: str | None
    pending: bool
    takes: tuple[Take, ...] = ()


@dataclass(frozen=True)
class Board:
    id: str
    owner: str
    name: str
    model: str | None
    width: int
    height: int
    fps: int
    style: str | None
    steps: int | None
    interpolation: str | None
    export: dict | None
    created_at: float
    updated_at: float
    shots: tuple[Shot, ...] = field(default=())
    shot_count: int = 0


@dataclass(frozen=True)
class JobState:
    """The part of a take's job a board shows (records.Job has the rest)."""

    id: str
    status: str
    progress: int
    outputs: list[ClipOutput]
    error: JobError | None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


BOARD_FIELDS = ("name", "model", "width", "height", "fps", "style", "steps", "interpolation")
SHOT_FIELDS = ("title", "text", "prompt", "mode", "image", "duration", "style", "seed", "candidates")


def _board(row: BoardRow, shots=(), shot_count: int = 0) -> Board:
    return Board(id=row.id, owner=row.owner, name=readable(row.name), model=row.model, width=row.width,
                 height=row.height, fps=row.fps, style=row.style, steps=row.steps, interpolation=row.interpolation,
                 export=dict(row.export) if row.export else None, created_at=row.created_at,
                 updated_at=row.updated_at, shots=tuple(shots), shot_count=shot_count)


def _shot(row: ShotRow, takes=()) -> Shot:
    return Shot(id=row.id, position=row.position, title=readable(row.title), text=readable(row.text),
                prompt=readable(row.prompt), mode=row.mode, image=row.image, duration=row.duration, style=row.style,
                seed=row.seed, candidates=row.candidates, picked_take_id=row.picked_take_id,
                pending=bool(row.pending), takes=tuple(takes))


def _take(row: TakeRow) -> Take:
    return Take(id=row.id, shot_id=row.shot_id, job_id=row.job_id, seed=row.seed, created_at=row.created_at)


class BoardStore:
    """Reads and writes of board records, on the jobs store's engine. Thread-safe."""

    def __init__(self, engine):
        self.engine = engine
        self._write = threading.Lock()

    # Reads -------------------------------------------------------------------

    def get(self, owner: str, board_id: str) -> Board:
        """The whole board: its shots in order, each with its takes in the order they were made."""
        with Session(self.engine) as session:
            row = self._board_row(session, owner, board_id)
            shots = session.scalars(select(ShotRow).where(ShotRow.board_id == row.id)
                                    .order_by(ShotRow.position, ShotRow.seq)).all()
            takes: dict[str, list[Take]] = {}
            for take in session.scalars(select(TakeRow).where(TakeRow.board_id == row.id).order_by(TakeRow.seq)):
                takes.setdefault(take.shot_id, []).append(_take(take))
            return _board(row, [_shot(s, takes.get(s.id, ())) for s in shots], len(shots))

    def list(self, owner: str) -> list[Board]:
        """The owner's boards, newest first, without their shots (with their count)."""
        with Session(self.engine) as session:
            counts = dict(session.execute(select(ShotRow.board_id, func.count()).join(
                BoardRow, BoardRow.id == ShotRow.board_id).where(BoardRow.owner == owner)
                .group_by(ShotRow.board_id)).all())
            rows = session.scalars(select(BoardRow).where(BoardRow.owner == owner).order_by(BoardRow.seq.desc()))
            return [_board(row, shot_count=int(counts.get(row.id, 0))) for row in rows]

    def count(self, owner: str) -> int:
        with Session(self.engine) as session:
            return int(session.scalar(select(func.count()).select_from(BoardRow).where(BoardRow.owner == owner)) or 0)

    def jobs(self, owner: str, job_ids: list[str]) -> dict[str, Job]:
        """The takes' jobs in one query (a board of 60 shots x 4 takes is one read, not 240);
        a deleted or purged job is simply absent."""
        if not job_ids:
            return {}
        with Session(self.engine) as session:
            rows = session.scalars(select(JobRow).where(JobRow.id.in_(job_ids), JobRow.owner == owner,
                                                        JobRow.deleted.is_(False))).all()
            return {row.id: _to_job(row) for row in rows}

    def job_states(self, owner: str, job_ids: list[str]) -> dict[str, JobState]:
        """What a board shows of its takes' jobs, reading only those columns: a board is read on
        every poll of the studio, and whole job records (their specs) are most of that read's cost."""
        if not job_ids:
            return {}
        columns = (JobRow.id, JobRow.status, JobRow.progress, JobRow.outputs, JobRow.error_code,
                   JobRow.error_message)
        with Session(self.engine) as session:
            rows = session.execute(select(*columns).where(JobRow.id.in_(job_ids), JobRow.owner == owner,
                                                          JobRow.deleted.is_(False))).all()
        return {job_id: JobState(job_id, status, progress, [ClipOutput(**clip) for clip in outputs or []],
                                 JobError(code, readable(message or "")) if code else None)
                for job_id, status, progress, outputs, code, message in rows}

    # Writes ------------------------------------------------------------------

    def create(self, owner: str, values: dict) -> str:
        board_id = new_id("board")
        now = time.time()
        with self._write, Session(self.engine) as session:
            session.add(BoardRow(id=board_id, owner=owner, created_at=now, updated_at=now, export=None,
                                 **{k: values.get(k) for k in BOARD_FIELDS}))
            session.commit()
        return board_id

    def update(self, owner: str, board_id: str, values: dict) -> None:
        with self._write, Session(self.engine) as session:
            row = self._board_row(session, owner, board_id)
            for name, value in values.items():
                if name not in BOARD_FIELDS:
                    raise KeyError(name)
                setattr(row, name, value)
            row.updated_at = time.time()
            row.export = None  # a cut of other settings is no longer this board's
            session.commit()

    def delete(self, owner: str, board_id: str) -> Board:
        """Remove the board's rows; returns it as it was (the caller removes its files and jobs)."""
        board = self.get(owner, board_id)
        with self._write, Session(self.engine) as session:
            for table in (TakeRow, ShotRow):
                session.execute(delete(table).where(table.board_id == board.id))
            session.execute(delete(BoardRow).where(BoardRow.id == board.id, BoardRow.owner == owner))
            session.commit()
        return board

    def add_shots(self, owner: str, board_id: str, shots: list[dict], *, max_shots: int,
                  replace: bool = False) -> list[str]:
        """Append shots (or replace every shot and take) in one transaction; the shot count stays
        within max_shots. Returns the new shots' ids."""
        from shotsmith.errors import FieldError

        now = time.time()
        ids = []
        with self._write, Session(self.engine) as session:
            row = self._board_row(session, owner, board_id)
            existing = 0 if replace else int(session.scalar(
                select(func.count()).select_from(ShotRow).where(ShotRow.board_id == row.id)) or 0)
            if existing + len(shots) > max_shots:
                raise FieldError("shots", f"a board holds at most {max_shots} shots; it has {existing} and "
                                 f"{len(shots)} more were sent")
            if replace:
                session.execute(delete(TakeRow).where(TakeRow.board_id == row.id))
                session.execute(delete(ShotRow).where(ShotRow.board_id == row.id))
            for offset, values in enumerate(shots):
                shot_id = values.get("id") or new_id("shot")
                ids.append(shot_id)
                session.add(ShotRow(id=shot_id, board_id=row.id, position=existing + offset, created_at=now,
                                    picked_take_id=None, pending=False,
                                    **{k: values.get(k) for k in SHOT_FIELDS}))
            row.updated_at, row.export = now, None
            session.commit()
        return ids

    def update_shot(self, owner: str, board_id: str, shot_id: str, values: dict, *, keep_export: bool = False) -> None:
        with self._write, Session(self.engine) as session:
            board = self._board_row(session, owner, board_id)
            row = self._shot_row(session, board.id, shot_id)
            for name, value in values.items():
                if name not in SHOT_FIELDS and name not in ("picked_take_id", "pending"):
                    raise KeyError(name)
                setattr(row, name, value)
            board.updated_at = time.time()
            if not keep_export:
                board.export = None  # the cut no longer shows this board
            session.commit()

    def delete_shot(self, owner: str, board_id: str, shot_id: str) -> list[Take]:
        """Remove a shot and its takes; the rest close up. Returns its takes (their jobs go too)."""
        with self._write, Session(self.engine) as session:
            board = self._board_row(session, owner, board_id)
            row = self._shot_row(session, board.id, shot_id)
            takes = [_take(t) for t in session.scalars(select(TakeRow).where(TakeRow.shot_id == row.id))]
            session.execute(delete(TakeRow).where(TakeRow.shot_id == row.id))
            session.delete(row)
            session.flush()
            self._renumber(session, board.id)
            board.updated_at, board.export = time.time(), None
            session.commit()
            return takes

    def reorder(self, owner: str, board_id: str, shot_ids: list[str]) -> None:
        from shotsmith.errors import FieldError

        with self._write, Session(self.engine) as session:
            board = self._board_row(session, owner, board_id)
            rows = {r.id: r for r in session.scalars(select(ShotRow).where(ShotRow.board_id == board.id))}
            if len(shot_ids) != len(set(shot_ids)):
                raise FieldError("shot_ids", "lists a shot more than once")
            unknown = [s for s in shot_ids if s not in rows]
            if unknown:
                raise FieldError("shot_ids", f"'{str(unknown[0])[:80]}' is not a shot of this board")
            missing = [s for s in rows if s not in shot_ids]
            if missing:
                raise FieldError("shot_ids", f"must list every shot of the board once ({len(rows)} shots); "
                                 f"'{missing[0]}' is missing", "missing")
            for position, shot_id in enumerate(shot_ids):
                rows[shot_id].position = position
            board.updated_at, board.export = time.time(), None
            session.commit()

    def add_take(self, board_id: str, shot_id: str, job_id: str, seed: int) -> str:
        take_id = new_id("take")
        with self._write, Session(self.engine) as session:
            session.add(TakeRow(id=take_id, board_id=board_id, shot_id=shot_id, job_id=job_id, seed=seed,
                                created_at=time.time()))
            session.execute(update(BoardRow).where(BoardRow.id == board_id).values(updated_at=time.time()))
            session.commit()
        return take_id

    def set_pending(self, board_id: str, shot_ids: list[str], pending: bool) -> None:
        with self._write, Session(self.engine) as session:
            session.execute(update(ShotRow).where(ShotRow.board_id == board_id, ShotRow.id.in_(shot_ids))
                            .values(pending=pending))
            session.commit()

    def take_pending(self, shot_id: str) -> bool:
        """Clear a waiting shot's flag; True for exactly one caller (of any process), who then
        submits its takes."""
        with self._write, Session(self.engine) as session:
            won = session.execute(update(ShotRow).where(ShotRow.id == shot_id, ShotRow.pending.is_(True))
                                  .values(pending=False).execution_options(synchronize_session=False)).rowcount
            session.commit()
            return won == 1

    def set_export(self, owner: str, board_id: str, export: dict | None) -> None:
        with self._write, Session(self.engine) as session:
            row = self._board_row(session, owner, board_id)
            row.export = export
            session.commit()

    # Helpers -----------------------------------------------------------------

    @staticmethod
    def _board_row(session: Session, owner: str, board_id: str) -> BoardRow:
        row = None
        if is_id("board", board_id):
            row = session.scalars(select(BoardRow).where(BoardRow.id == board_id, BoardRow.owner == owner)).first()
        if row is None:
            raise BoardNotFound("board", board_id, "board_id")
        return row

    @staticmethod
    def _shot_row(session: Session, board_id: str, shot_id: str) -> ShotRow:
        row = None
        if is_id("shot", shot_id):
            row = session.scalars(select(ShotRow).where(ShotRow.id == shot_id, ShotRow.board_id == board_id)).first()
        if row is None:
            raise BoardNotFound("shot", shot_id, "shot_id")
        return row

    @staticmethod
    def _renumber(session: Session, board_id: str) -> None:
        rows = session.scalars(select(ShotRow).where(ShotRow.board_id == board_id)
                               .order_by(ShotRow.position, ShotRow.seq)).all()
        for position, row in enumerate(rows):
            row.position = position
