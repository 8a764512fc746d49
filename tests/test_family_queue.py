"""Each model family through the distributed queue: `serve --queue` (Redis + PostgreSQL) takes the
job, a separate `shotsmith worker` process renders it.

The worker serves the registry entries of the four families (wan2.1-t2v-1.3b,
ltx-video-0.9.7-distilled, hunyuanvideo1.5-480p, ltx-2), each pointed at a tiny random-weight
folder the way a user points an entry at a download: a folder named after the entry in
`SHOTSMITH_MODELS`, on the server and the worker alike. For each family: a decodable MP4 at the
asked size and fps, the same seed gives the same frames (another seed other frames), and a
cancel sent to the server stops the job in the worker between denoising steps.
"""

from __future__ import annotations

import io
import shutil
import time

import numpy as np
import pytest

from api_server import KEY_A, start_server, wait_for
from services import start_redis
from test_scaleout import Worker, wait_until

pytestmark = pytest.mark.slow

# entry -> (fixture holding its tiny folder, fps the family renders at, frames 0.3 s gives under its rule)
FAMILIES = {
    "wan2.1-t2v-1.3b": ("tiny_wan_dirs", 16, 5),  # 4k+1 at 16 fps: 4.8 -> 5
    "ltx-video-0.9.7-distilled": ("tiny_ltx_dirs", 24, 9),  # 8k+1 at 24 fps: 7.2 -> 9
    "hunyuanvideo1.5-480p": ("tiny_hunyuan_dirs", 24, 9),  # 4k+1 at 24 fps: 7.2 -> 9
    "ltx-2": ("tiny_ltx2_dirs", 24, 9),
}


@pytest.fixture(scope="module")
def cluster(request, tmp_path_factory, postgres):
    postgres.query("DROP TABLE IF EXISTS board_takes, board_shots, boards, jobs, alembic_version")
    root = tmp_path_factory.mktemp("family-queue")
    models = root / "models"
    for name, (fixture, _, _) in FAMILIES.items():
        shutil.copytree(request.getfixturevalue(fixture)["t2v"], models / name)
    # the LTX entry renders in two stages: its spatial upsampler under the hub repository's name
    shutil.copytree(request.getfixturevalue("tiny_ltx_dirs")["upsampler"], models / "ltxv-spatial-upscaler-0.9.7")
    redis = start_redis()
    home = root / "home"
    env = {"SHOTSMITH_QUEUE": redis.url, "SHOTSMITH_DB": postgres.url, "SHOTSMITH_MODELS": str(models)}
    server = start_server(home, env=env)
    worker = Worker(home, redis.url, postgres.url, ",".join(FAMILIES), root / "worker.log",
                    env={"SHOTSMITH_MODELS": str(models)})
    try:
        wait_until(lambda: server.client().get("/healthz").json().get("worker", {}).get("remote"), 300,
                   "the worker to load its four models and register")
        yield server, worker, postgres
    except BaseException:
        print(f"--- worker\n{worker.log()[-4000:]}\n--- server\n{server.log()[-4000:]}")
        raise
    finally:
        worker.stop()
        server.stop()
        redis.stop()


def _frames_and_rate(data: bytes) -> tuple[np.ndarray, float, tuple[int, int]]:
    import av

    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        frames = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(stream)])
        return frames, float(stream.average_rate), (stream.codec_context.width, stream.codec_context.height)


@pytest.mark.parametrize("model", list(FAMILIES))
def test_a_queue_worker_renders_the_family_and_cancel_reaches_it(cluster, model):
    server, worker, postgres = cluster
    _, fps, frames = FAMILIES[model]
    body = {"prompt": "a red ball rolls to the right", "model": model, "size": "192x128", "seconds": "0.3",
            "fps": fps, "steps": 2, "guidance": 1.0, "interpolation": "none", "enhance": False}
    try:
        with server.client(KEY_A) as http:
            ids = [http.post("/v1/videos", json={**body, "seed": seed}).json()["id"] for seed in (11, 11, 12)]
            clips = []
            for job_id in ids:
                job = wait_for(http, job_id, timeout=300)
                assert job["status"] == "completed", job
                clips.append(_frames_and_rate(http.get(f"/v1/videos/{job_id}/content").content))
            # rendered by the worker process, not by the server
            holders = {row[0] for row in postgres.query("SELECT worker FROM jobs WHERE id = ANY(%s)", ids)}
            assert holders == {worker.name}
            video, rate, size = clips[0]
            assert size == (192, 128) and video.shape[0] == frames and round(rate) == fps
            assert np.array_equal(video, clips[1][0])  # same seed, same frames
            assert not np.array_equal(video, clips[2][0])  # another seed, other frames

            # a cancel sent to the server reaches the worker between denoising steps
            long = http.post("/v1/videos", json={**body, "steps": 200, "seed": 3})
            assert long.status_code == 200, long.text
            long = long.json()["id"]
            wait_until(lambda: http.get(f"/api/v1/jobs/{long}").json()["step"] >= 1, 300, f"{model} to start")
            assert http.post(f"/api/v1/jobs/{long}/cancel").status_code == 200
            started = time.monotonic()
            stopped = wait_for(http, long, timeout=120)
            assert stopped["status"] == "cancelled" and stopped["step"] < 200, stopped
            assert time.monotonic() - started < 60
            status, holder = postgres.query("SELECT status, worker FROM jobs WHERE id = %s", long)[0]
            assert (status, holder) == ("cancelled", worker.name)
    except BaseException:
        print(f"--- worker\n{worker.log()[-4000:]}\n--- server\n{server.log()[-3000:]}")
        raise
