"""kill -9 of the server while ffmpeg encodes a clip, five times (issue 18, item 10).

Each trial, on a fresh HOME: start a real server, submit a clip with a slow encode (job A)
and a small one queued behind it (job B), wait until A's stage is `encode` with an ffmpeg
child running, SIGKILL the server, then check:

- no orphan: no process the server had started (ffmpeg above all) is still running;
- after a restart on the same HOME, both jobs complete, A started exactly twice (requeued
  once), B once; each appears once in the key's list (nothing lost, nothing duplicated);
- no half-written file is left in the job folders, and every clip decodes (PyAV) with the
  frame count its record states.
"""

from __future__ import annotations

import os
import time

import httpx
import pytest

from api_server import KEY_A, decode_video, start_server, wait_for

psutil = pytest.importorskip("psutil")

TRIALS = 5
ORPHAN_GRACE_S = 0.5
# Slow to encode on a CPU: the model's longest clip (49 native frames), motion interpolation to
# 24 fps (294 frames) and a 1440x960 H.264 encode; denoising stays short (2 steps).
SLOW = {"prompt": "a red ball rolls to the right on green grass", "steps": 2, "enhance": False,
        "size": "1440x960", "seconds": 12, "fps": 24, "interpolation": "minterpolate", "seed": 7}
SMALL = {"prompt": "a blue cube slides to the left", "steps": 2, "enhance": False, "size": "480x320",
         "seconds": 4, "seed": 8}


def server_env() -> dict:
    # SHOTSMITH_TEST_SRC: run the trials against another checkout's sources
    src = os.environ.get("SHOTSMITH_TEST_SRC")
    return {"PYTHONPATH": src} if src else {}


def descendants(pid: int) -> list:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def running(proc) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_for_encoding(server, http: httpx.Client, job_id: str, timeout: float = 600.0) -> list:
    """Until the job's stage is `encode` and the server has an ffmpeg child; returns its children then."""
    deadline = time.monotonic() + timeout
    job = {}
    while time.monotonic() < deadline:
        job = http.get(f"/api/v1/jobs/{job_id}").json()
        assert job["status"] in ("queued", "in_progress"), f"job ended before it was killed: {job}"
        if job["stage"] == "encode":
            children = descendants(server.proc.pid)
            if any("ffmpeg" in (p.name() or "").lower() for p in children if running(p)):
                return children
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} never reached encode with ffmpeg running: {job}")


@pytest.mark.slow
@pytest.mark.parametrize("trial", range(1, TRIALS + 1))
def test_kill_9_during_encoding(tmp_path, trial):
    home = tmp_path / "home"
    server = start_server(home, env=server_env())
    orphans = []
    try:
        with server.client(KEY_A) as http:
            a = http.post("/api/v1/jobs", json=SLOW)
            assert a.status_code == 200, a.text
            b = http.post("/api/v1/jobs", json=SMALL)
            assert b.status_code == 200, b.text
            job_a, job_b = a.json()["id"], b.json()["id"]
            children = wait_for_encoding(server, http, job_a)
        server.kill()  # SIGKILL: no cleanup at all
        # A child that dies with its parent is gone within milliseconds. An orphan ffmpeg sees
        # EOF on stdin and goes on encoding what it has for a while: look after half a second.
        killed_at = time.monotonic()
        time.sleep(ORPHAN_GRACE_S)
        orphans = [p for p in children if running(p)]
        described = [f"{p.pid} {p.name()} {' '.join(p.cmdline())[:100]}" for p in orphans]
        while orphans and any(running(p) for p in orphans) and time.monotonic() - killed_at < 60:
            time.sleep(0.2)
        lived = time.monotonic() - killed_at
        if orphans:
            described.append(f"(still running {lived:.1f} s after the kill)" if any(running(p) for p in orphans)
                             else f"(exited by themselves {lived:.1f} s after the kill)")

        server = start_server(home, env=server_env(), port=server.port)
        with server.client(KEY_A) as http:
            done_a = wait_for(http, job_a, timeout=900)
            done_b = wait_for(http, job_b, timeout=600)
            listed = [j["id"] for j in http.get("/api/v1/jobs?limit=100").json()["data"]]
            clips = []
            for job in (done_a, done_b):
                for clip in job["clips"]:
                    video = http.get(clip["video_url"])
                    assert video.status_code == 200, video.text
                    clips.append((job["id"], clip["frames"], decode_video(video.content)["frames"]))

        problems = []
        if orphans:
            problems.append(f"processes left running after kill -9 of the server: {described}")
        for name, job, attempts in (("killed", done_a, 2), ("queued", done_b, 1)):
            if job["status"] != "completed":
                problems.append(f"{name} job {job['id']} ended {job['status']}: {job['error']}")
            if job["attempts"] != attempts:
                problems.append(f"{name} job {job['id']} was started {job['attempts']} times (want {attempts})")
            folder = home / "jobs" / job["id"]
            names = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
            if [n for n in names if n.startswith(".")]:
                problems.append(f"half-written files left in {job['id']}: {names}")
            if len([n for n in names if n.endswith(".mp4")]) != len(job["clips"]):
                problems.append(f"{job['id']}: {len(job['clips'])} clips in the record, files {names}")
            for clip in job["clips"]:
                if clip["frames"] != round(clip["duration"] * clip["fps"]):
                    problems.append(f"{job['id']}: {clip['frames']} frames for {clip['duration']} s at {clip['fps']}")
        if sorted(listed) != sorted([job_a, job_b]):
            problems.append(f"the key's list holds {listed}, want each of {[job_a, job_b]} once")
        for job_id, frames, decoded in clips:
            if decoded != frames:
                problems.append(f"{job_id}: the clip decodes to {decoded} frames, its record says {frames}")
        if not clips:
            problems.append("no clip to decode")
        print(f"trial {trial}: {len(children)} child process(es) of the server at the kill, {len(orphans)} left "
              f"running; killed job: {done_a['status']}, {done_a['attempts']} starts; queued job: {done_b['status']}, "
              f"{done_b['attempts']} start(s); listed {len(listed)}; clips (record, decoded frames): "
              f"{[(f, d) for _, f, d in clips]}")
        assert not problems, f"trial {trial}:\n" + "\n".join(problems)
    finally:
        for p in orphans:  # leave nothing running, whatever the verdict
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        server.stop()
