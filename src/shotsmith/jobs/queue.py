"""The distributed queue: Celery on Redis, one queue per model.

What travels on the queue is only a job id; the job itself (spec, progress, result,
cancel flag, which worker holds it) lives in the shared database. That split is
what makes delivery safe to repeat: a message delivered twice, or re-delivered
after a worker died, is just "look at job X again", and `JobStore.claim` decides
in one conditional UPDATE whether this worker should run it.

Settings that give at-least-once delivery (see docs/scaling.md):
- `task_acks_late`: a message is acknowledged after the job ran, not when it was
  received, so a worker killed mid-job leaves its message unacknowledged;
- `task_reject_on_worker_lost`: ... and a lost worker's message goes back;
- `worker_prefetch_multiplier=1`: a busy worker does not sit on queued jobs that
  an idle worker could start;
- Redis `visibility_timeout`: how long an unacknowledged message waits before
  Redis hands it out again. Our own lease (heartbeats in the database, checked
  by every server and worker) takes a dead worker's job back far sooner; the
  visibility timeout is the backstop should every server and worker be down.
"""

from __future__ import annotations

import hashlib
import re

from shotsmith.spec import GenerationSpec

TASK_NAME = "shotsmith.run_job"
QUEUE_PREFIX = "shotsmith."
DEFAULT_VISIBILITY_TIMEOUT_S = 3600
_UNSAFE = re.compile(r"[^a-z0-9_.-]")


def model_key(spec: GenerationSpec) -> str:
    """The name a job's model goes by in routing: the registry name, or the folder path."""
    return spec.entry().name


def queue_for(model: str) -> str:
    """The queue that carries jobs for one model; workers that serve the model consume it."""
    key = model.strip().lower()
    safe = _UNSAFE.sub("_", key)
    if safe != key or len(safe) > 80:  # folder paths: readable tail + a hash, never a collision
        safe = f"{safe[-60:]}-{hashlib.sha256(key.encode()).hexdigest()[:10]}"
    return QUEUE_PREFIX + safe


def check_queue_url(url: str) -> str:
    """Only Redis brokers are supported (and tested); say so plainly for anything else."""
    if not url.startswith(("redis://", "rediss://", "redis+socket://")):
        raise ValueError(f"queue: '{url}' is not a Redis URL (redis://HOST:PORT/DB)")
    return url


def make_celery(broker_url: str, *, visibility_timeout_s: int = DEFAULT_VISIBILITY_TIMEOUT_S):
    from celery import Celery

    app = Celery("shotsmith", broker=check_queue_url(broker_url))
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,  # results live in the job database, not in Celery
        task_default_queue=QUEUE_PREFIX + "default",
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": visibility_timeout_s},
        task_serializer="json",
        accept_content=["json"],
    )
    return app


def publish(app, job_id: str, model: str) -> None:
    """Put one job on its model's queue."""
    app.send_task(TASK_NAME, args=[job_id], queue=queue_for(model))
