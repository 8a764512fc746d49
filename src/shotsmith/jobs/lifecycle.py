"""The life of a job: its statuses and the only moves between them, in one table.

    move       from         to           made by
    claim      queued       in_progress  a worker taking the oldest queued job, or one by id
    take_over  in_progress  in_progress  another worker, once the holder's lease ran out
    complete   in_progress  completed    the holder, with the outputs
    fail       in_progress  failed       the holder, with the error
    stop       in_progress  cancelled    the holder, once the client asked to cancel
    cancel     queued       cancelled    the client, before the job started (a running one
                                         is only flagged; its holder stops between steps)
    requeue    in_progress  queued       the holder is gone (restart, lapsed lease,
                                         shutdown): the job runs again
    give_up    in_progress  failed       ... after it was started max_attempts times

Completed, failed and cancelled are final: nothing leaves them (remix makes a new
job). Every move is one conditional UPDATE (`... WHERE id = :id AND status IN
(:sources)`) in `JobStore`, so of two processes racing for one move at most one
succeeds, on SQLite and on PostgreSQL alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Transition:
    name: str
    sources: tuple[str, ...]
    target: str
    stage: str  # the stage a job shows right after the move


CLAIM = Transition("claim", ("queued",), "in_progress", "starting")
TAKE_OVER = Transition("take_over", ("in_progress",), "in_progress", "starting")
COMPLETE = Transition("complete", ("in_progress",), "completed", "completed")
FAIL = Transition("fail", ("in_progress",), "failed", "failed")
STOP = Transition("stop", ("in_progress",), "cancelled", "cancelled")
CANCEL = Transition("cancel", ("queued",), "cancelled", "cancelled")
REQUEUE = Transition("requeue", ("in_progress",), "queued", "queued")
GIVE_UP = Transition("give_up", ("in_progress",), "failed", "failed")

TRANSITIONS: tuple[Transition, ...] = (CLAIM, TAKE_OVER, COMPLETE, FAIL, STOP, CANCEL, REQUEUE, GIVE_UP)
ALLOWED: frozenset[tuple[str, str]] = frozenset((s, t.target) for t in TRANSITIONS for s in t.sources)


def allowed(source: str, target: str) -> bool:
    """Whether a job may go from status `source` to status `target`."""
    return (source, target) in ALLOWED


Outcome = Literal["requeued", "cancelled", "failed", "purged"]


def after_holder_died(*, deleted: bool, cancel_requested: bool, attempts: int, max_attempts: int) -> Outcome:
    """What becomes of a job in progress whose holder is gone (the server restarted, or
    a worker stopped renewing its lease): the one recovery rule, at-least-once.

    Deleted while running: its record goes ('purged'). Its cancel was asked for: it
    ends 'cancelled'. Started `max_attempts` times already: it ends 'failed' rather than
    crash the next holder too. Otherwise it is 'requeued' and runs again.
    """
    if deleted:
        return "purged"
    if cancel_requested:
        return "cancelled"
    if attempts >= max_attempts:
        return "failed"
    return "requeued"

