"""Zhipu BigModel video API -> job backend. No HTTP here: the router does that."""

from __future__ import annotations

from shotsmith.api.common import Services, model_name, request_spec, submit_job
from shotsmith.api.media import image_from_reference
from shotsmith.api.zhipu.protocol import RENAMES, VideoGenerationRequest, VideoTask, VideoTaskResult


def create_task(svc: Services, owner: str, body: dict) -> VideoTask:
    request = VideoGenerationRequest.model_validate(body)
    request.check()
    first, last = (image_from_reference(ref, svc.settings, "image_url") if ref else None
                   for ref in request.image_references())
    meta = {"request_id": request.request_id, "user_id": request.user_id}
    values = request.spec_values(model_name(request.model, svc.settings, "i2v" if first else "t2v"))
    job = submit_job(svc, owner, lambda files: request_spec(svc, values, files, RENAMES),
                     inputs={"image": first, "last_image": last},
                     source="zhipu", meta={k: v for k, v in meta.items() if v is not None})
    return VideoTask(id=job.id, model=job.spec["model"], request_id=request.request_id or job.id)


def task_result(svc: Services, owner: str, task_id: str, base_url: str) -> VideoTaskResult:
    job = svc.backend.get(owner, task_id)
    return VideoTaskResult.from_job(job, f"{base_url}/api/v1/jobs/{job.id}/files")
