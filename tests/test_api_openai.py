"""The official `openai` SDK against a real `python -m shotsmith.api` server."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from api_server import (  # noqa: F401  (server is a fixture)
    FAST, FAST_SIZE, KEY_A, KEY_B, PROMPT, decode_video, png_bytes, server, wait_for,
)

openai = pytest.importorskip("openai")
# The SDK marks the hosted Videos API as shutting down (2026-09-24); pointed at shotsmith it keeps working.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(api_key=KEY_A, base_url=f"{server.url}/v1", max_retries=0)


@pytest.fixture(scope="module")
def finished(client):
    """One clip made through create_and_poll (multipart, as the SDK sends it)."""
    return client.videos.create_and_poll(prompt=PROMPT, size=FAST_SIZE, seconds="4", poll_interval_ms=250,
                                         extra_body={**FAST, "seed": 1234})


def test_create_and_poll_then_download_and_decode_the_mp4(client, finished):
    video = finished
    assert video.status == "completed" and video.progress == 100 and video.object == "video"
    assert video.model == "cogvideox-shapes" and video.size == FAST_SIZE and video.prompt == PROMPT
    assert video.seconds == "4.25"  # 17 native frames at 4 fps: the nearest the model allows, reported as is
    assert video.completed_at >= video.created_at and video.error is None
    clip = client.videos.download_content(video.id, variant="video").read()
    info = decode_video(clip)
    assert (info["width"], info["height"], info["codec"]) == (480, 320, "h264")
    assert info["frames"] == round(4.25 * 24)
    thumb = client.videos.download_content(video.id, variant="thumbnail").read()
    sprite = client.videos.download_content(video.id, variant="spritesheet").read()
    assert thumb[:3] == b"\xff\xd8\xff" and sprite[:3] == b"\xff\xd8\xff"


def test_retrieve_sends_poll_interval_while_unfinished(server, client):
    video = client.videos.create(prompt=PROMPT, size=FAST_SIZE, extra_body=FAST)
    assert video.status == "queued" and video.progress == 0 and video.seconds == "6.25"
    raw = client.videos.with_raw_response.retrieve(video.id)
    if raw.parse().status in ("queued", "in_progress"):
        assert raw.headers["openai-poll-after-ms"] == "200"
    done = client.videos.poll(video.id, poll_interval_ms=200)
    assert done.status == "completed"
    assert "openai-poll-after-ms" not in client.videos.with_raw_response.retrieve(video.id).headers


def test_image_to_video_with_an_uploaded_first_frame(client):
    video = client.videos.create_and_poll(prompt="a red square slides left", size=FAST_SIZE, poll_interval_ms=250,
                                          input_reference=("first.png", png_bytes(), "image/png"), extra_body=FAST)
    assert video.status == "completed", video.error
    assert video.model == "cogvideox-shapes-i2v"  # model omitted + image = the embedded i2v model
    assert decode_video(client.videos.download_content(video.id).read())["frames"] > 10


def test_json_body_and_data_url_reference_are_accepted(server):
    from api_server import data_url

    with server.client(KEY_A) as http:
        body = {"prompt": "a blue ball", "input_reference": {"image_url": data_url(png_bytes())},
                "size": FAST_SIZE, **FAST}
        created = http.post("/v1/videos", json=body)
        assert created.status_code == 200, created.text
        video = created.json()
        assert video["model"] == "cogvideox-shapes-i2v" and video["status"] == "queued"
        job = http.get(f"/api/v1/jobs/{video['id']}").json()
        assert job["spec"]["image"] == "input.png"  # saved by the server, under its own name
        assert http.delete(f"/v1/videos/{video['id']}").json()["deleted"] is True


def test_list_pages_with_cursor_and_delete(server, client, finished):
    made = [client.videos.create(prompt=f"{PROMPT} {i}", size=FAST_SIZE, extra_body=FAST).id for i in range(3)]
    page = client.videos.list(limit=2)
    assert [v.id for v in page.data] == made[::-1][:2] and page.has_more
    assert page.last_id == made[1]
    everything = [v.id for v in client.videos.list(limit=2)]  # the SDK follows last_id
    assert everything[:3] == made[::-1] and finished.id in everything
    assert len(everything) == len(set(everything))
    ascending = [v.id for v in client.videos.list(order="asc", limit=100)]
    assert ascending == everything[::-1]
    for video_id in made:
        deleted = client.videos.delete(video_id)
        assert (deleted.id, deleted.deleted, deleted.object) == (video_id, True, "video.deleted")
        with pytest.raises(openai.NotFoundError):
            client.videos.retrieve(video_id)
        # a clip that was rendering when deleted is removed by its worker as soon as it stops
        folder, deadline = server.home / "jobs" / video_id, time.monotonic() + 30
        while folder.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not folder.exists()
    other = openai.OpenAI(api_key=KEY_B, base_url=f"{server.url}/v1", max_retries=0)
    assert finished.id not in [v.id for v in other.videos.list()]


def test_remix_keeps_settings_and_seed(client, finished):
    remix = client.videos.remix(finished.id, prompt="a red ball rolls to the left on green grass")
    assert remix.remixed_from_video_id == finished.id and remix.size == finished.size
    done = client.videos.poll(remix.id, poll_interval_ms=250)
    assert done.status == "completed"
    assert done.seeds == finished.seeds == [1234]
    assert decode_video(client.videos.download_content(done.id).read())["frames"] > 10


def test_candidates_make_several_clips_with_distinct_seeds(server, client):
    video = client.videos.create_and_poll(prompt=PROMPT, size=FAST_SIZE, seconds="4", poll_interval_ms=250,
                                          extra_body={**FAST, "candidates": 2, "seed": 77})
    assert video.status == "completed" and video.seeds == [77, 78] and video.candidates == 2
    first = client.videos.download_content(video.id).read()
    second = client.videos.download_content(video.id, extra_query={"candidate": 2}).read()
    assert first != second and decode_video(second)["frames"] > 10
    with server.client(KEY_A) as http:
        job = http.get(f"/api/v1/jobs/{video.id}").json()
        assert [c["seed"] for c in job["clips"]] == [77, 78] and job["contact_sheet_url"]
        sheet = http.get(job["contact_sheet_url"])
        assert sheet.status_code == 200 and sheet.content[:3] == b"\xff\xd8\xff"


def test_progress_stream_and_cancel_between_steps(server, client):
    video = client.videos.create(prompt=PROMPT, size=FAST_SIZE, extra_body={**FAST, "steps": 200})
    events, cancelled = [], False
    with server.client(KEY_A) as http:
        with http.stream("GET", f"/api/v1/jobs/{video.id}/events", timeout=120) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            name = None
            for line in stream.iter_lines():
                if line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: "):
                    data = json.loads(line[6:])
                    events.append((name, data))
                    if name == "progress" and not cancelled and data["stage"] == "denoise" and data["step"] >= 2:
                        assert http.post(f"/api/v1/jobs/{video.id}/cancel").status_code == 200
                        cancelled = True
                        events.append(("cancel", {}))
        names = [e[0] for e in events]
        assert names[-1] == "done" and "cancel" in names
        progress = [e[1]["progress"] for e in events if e[0] == "progress"]
        assert progress == sorted(progress)
        final = events[-1][1]
        assert final["status"] == "cancelled" and 2 <= final["step"] < 200
    video = client.videos.retrieve(video.id)
    assert video.status == "failed" and video.error.code == "cancelled"  # the OpenAI contract has no cancelled


def test_openapi_document_describes_both_contracts(server):
    spec = httpx.get(f"{server.url}/openapi.json").json()
    paths = spec["paths"]
    assert {"/v1/videos", "/v1/videos/{video_id}", "/v1/videos/{video_id}/content",
            "/v1/videos/{video_id}/remix", "/api/paas/v4/videos/generations",
            "/api/paas/v4/async-result/{task_id}", "/api/v1/enhance", "/api/v1/jobs/{job_id}/events",
            "/healthz"} <= set(paths)
    create = paths["/v1/videos"]["post"]["requestBody"]["content"]
    assert create["multipart/form-data"]["schema"]["properties"]["input_reference"]["format"] == "binary"
    assert "prompt" in create["application/json"]["schema"]["required"]
    assert "400" in paths["/v1/videos"]["post"]["responses"]
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


def test_enhance_endpoint(server):
    with server.client(KEY_A) as http:
        answer = http.post("/api/v1/enhance", json={"text": "a red ball rolls right", "style": "realistic"})
        assert answer.status_code == 200, answer.text
        result = answer.json()
        assert "red" in result["prompt"] and "ball" in result["prompt"]
        assert http.post("/api/v1/enhance", json={"text": ""}).status_code == 400


def test_enhance_writes_the_prompt_for_the_named_model(server):
    idea = "a red ball rolls to the right on green grass"
    with server.client(KEY_A) as http:
        # the embedded model reads 48 tokens: an English idea goes as typed, and the answer says why
        embedded = http.post("/api/v1/enhance", json={"text": idea, "model": "cogvideox-shapes"}).json()
        assert embedded["prompt"] == idea and embedded["token_limit"] == 48 and embedded["mode"] == "t2v"
        assert any("as written" in note for note in embedded["notes"])
        # a CogVideoX checkpoint (its weights need not be here: only its window is read) and no model
        # at all get the 226-token formula prompt, camera and light included
        for body in ({"text": idea, "model": "cogvideox-2b"}, {"text": idea}):
            formula = http.post("/api/v1/enhance", json=body).json()
            camera = formula["slots"]["camera"]
            assert formula["token_limit"] == 226 and camera["source"] != "omitted"
            assert camera["text"].lower() in formula["prompt"].lower()
            assert idea in formula["prompt"] and formula["tokens"] > 2 * embedded["tokens"]
        # the mode follows the model: the embedded image-to-video model gets a prompt that continues the image
        i2v = http.post("/api/v1/enhance", json={"model": "cogvideox-shapes-i2v"}).json()
        assert i2v["mode"] == "i2v" and "first frame" in i2v["prompt"] and i2v["tokens"] <= 48


def test_default_generation_runs_the_prompt_agent(client):
    video = client.videos.create_and_poll(prompt=PROMPT, size=FAST_SIZE, seconds="4", poll_interval_ms=250,
                                          extra_body={"steps": 2})
    assert video.status == "completed", video.error
    # The embedded model gets an English idea in its own words as written (docs/prompt-agent.md); one
    # in other words, or a Chinese one, in its training words, which shows that the agent ran.
    assert video.enhanced_prompt == PROMPT
    video = client.videos.create_and_poll(prompt="a crimson sphere glides rightward over the lawn", size=FAST_SIZE,
                                          seconds="4", poll_interval_ms=250, extra_body={"steps": 2})
    assert video.status == "completed", video.error
    assert video.enhanced_prompt == "A red circle moves right on green grass."
    idea = "一个红色的球在绿色的草地上向右滚动"
    video = client.videos.create_and_poll(prompt=idea, size=FAST_SIZE, seconds="4", poll_interval_ms=250,
                                          extra_body={"steps": 2})
    assert video.status == "completed", video.error
    assert "A red circle moves right on green grass." in video.enhanced_prompt


def test_server_answers_quickly_while_a_job_runs(server, client):
    video = client.videos.create(prompt=PROMPT, size=FAST_SIZE, extra_body={**FAST, "steps": 30})
    with server.client(KEY_A) as http:
        wait_for(http, video.id, statuses=("in_progress",))
        started = time.perf_counter()
        for _ in range(5):
            assert http.get("/healthz").status_code == 200
        assert (time.perf_counter() - started) / 5 < 1.0
        http.delete(f"/v1/videos/{video.id}")
