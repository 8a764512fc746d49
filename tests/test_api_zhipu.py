"""The official `zhipuai` SDK against a real `python -m shotsmith.api` server."""

from __future__ import annotations

import time

import httpx
import pytest

from api_server import (  # noqa: F401  (server is a fixture)
    FAST, FAST_SIZE, KEY_A, KEY_B, PROMPT, data_url, decode_video, png_bytes, server,
)

zhipuai = pytest.importorskip("zhipuai")


@pytest.fixture(scope="module")
def client(server):
    return zhipuai.ZhipuAI(api_key=KEY_A, base_url=f"{server.url}/api/paas/v4", max_retries=0)


def poll(client, task_id: str, timeout: float = 240.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = client.videos.retrieve_videos_result(id=task_id)
        if result.task_status != "PROCESSING":
            return result
        time.sleep(0.25)
    raise AssertionError(f"task {task_id} still PROCESSING")


def test_generate_poll_download_and_decode(client):
    task = client.videos.generations(model="cogvideox-shapes", prompt=PROMPT, size=FAST_SIZE, duration=4,
                                     fps=24, request_id="my-request-0001", user_id="user-123456",
                                     extra_body=FAST)
    assert task.task_status == "PROCESSING" and task.id and task.model == "cogvideox-shapes"
    assert task.request_id == "my-request-0001"
    result = poll(client, task.id)
    assert result.task_status == "SUCCESS" and result.request_id == "my-request-0001"
    assert result.id is None  # the upstream poll answer has no id
    assert len(result.video_result) == 1
    with httpx.Client(headers={"Authorization": f"Bearer {KEY_A}"}) as http:
        clip = http.get(result.video_result[0].url)
        cover = http.get(result.video_result[0].cover_image_url)
        assert http.get(result.video_result[0].url, headers={"Authorization": f"Bearer {KEY_B}"}).status_code == 404
    assert clip.status_code == 200 and cover.content[:3] == b"\xff\xd8\xff"
    info = decode_video(clip.content)
    assert (info["width"], info["height"]) == (480, 320) and info["frames"] == round(4.25 * 24)


def test_image_url_as_data_url_makes_an_image_to_video_clip(client):
    task = client.videos.generations(model="cogvideox-shapes-i2v", image_url=data_url(png_bytes(color=(20, 90, 220))),
                                     prompt="a blue square", size=FAST_SIZE, quality="speed", extra_body=FAST)
    result = poll(client, task.id)
    assert result.task_status == "SUCCESS" and task.request_id == task.id  # no request_id sent: the id
    with httpx.Client(headers={"Authorization": f"Bearer {KEY_A}"}) as http:
        assert decode_video(http.get(result.video_result[0].url).content)["frames"] > 10


def test_quality_speed_halves_the_steps(server, client):
    task = client.videos.generations(model="cogvideox-shapes", prompt=PROMPT, quality="speed", size=FAST_SIZE,
                                     extra_body={"enhance": False})
    with server.client(KEY_A) as http:
        job = http.get(f"/api/v1/jobs/{task.id}").json()
        assert job["spec"]["steps"] == 10 and job["spec"]["interpolation"] == "blend"
        http.delete(f"/api/v1/jobs/{task.id}")


@pytest.mark.parametrize("kwargs, error, code, words", [
    ({"model": "cogvideox-9000", "prompt": PROMPT}, "APIRequestFailedError", "1211", "unknown model"),
    ({"model": " ", "prompt": PROMPT}, "APIRequestFailedError", "1213", "model"),
    ({"model": "cogvideox-shapes", "prompt": "x" * 4001}, "APIRequestFailedError", "1261", "prompt"),
    ({"model": "cogvideox-shapes", "prompt": None}, "APIRequestFailedError", "1213", "image_url"),
    ({"model": "cogvideox-shapes", "prompt": PROMPT, "with_audio": True}, "APIRequestFailedError", "1214",
     "with_audio"),
    ({"model": "cogvideox-shapes", "prompt": PROMPT, "size": "1441x960"}, "APIRequestFailedError", "1214", "width"),
    ({"model": "cogvideox-shapes", "prompt": PROMPT, "duration": 60}, "APIRequestFailedError", "1214", "duration"),
    ({"model": "cogvideox-shapes", "prompt": PROMPT, "fps": 120}, "APIRequestFailedError", "1214", "fps"),
    ({"model": "cogvideox-shapes", "prompt": PROMPT, "quality": "ultra"}, "APIRequestFailedError", "1214",
     "quality"),
    ({"model": "cogvideox-shapes", "prompt": PROMPT, "user_id": "abc"}, "APIRequestFailedError", "1214",
     "user_id"),
    ({"model": "cogvideox-shapes-i2v", "image_url": ["data:image/png;base64,AA=="] * 3},
     "APIRequestFailedError", "1214", "[first, last] pair"),
    ({"model": "cogvideox-shapes", "prompt": PROMPT, "image_url": ["data:image/png;base64,AA=="] * 2},
     "APIRequestFailedError", "1214", "image_url"),
])
def test_bad_requests_raise_the_sdk_errors_with_zhipu_codes(client, kwargs, error, code, words):
    with pytest.raises(zhipuai.APIStatusError) as caught:
        client.videos.generations(**kwargs)
    assert type(caught.value).__name__ == error
    body = caught.value.response.json()
    assert body["error"]["code"] == code and words in body["error"]["message"]


def test_wrong_key_is_an_authentication_error(server):
    bad = zhipuai.ZhipuAI(api_key="not-a-key", base_url=f"{server.url}/api/paas/v4", max_retries=0)
    with pytest.raises(zhipuai.APIAuthenticationError):
        bad.videos.generations(model="cogvideox-shapes", prompt=PROMPT)


def test_another_keys_task_is_not_found(server, client):
    task = client.videos.generations(model="cogvideox-shapes", prompt=PROMPT, size=FAST_SIZE, extra_body=FAST)
    other = zhipuai.ZhipuAI(api_key=KEY_B, base_url=f"{server.url}/api/paas/v4", max_retries=0)
    with pytest.raises(zhipuai.APIStatusError) as caught:
        other.videos.retrieve_videos_result(id=task.id)
    assert caught.value.status_code == 404
    assert poll(client, task.id).task_status == "SUCCESS"
