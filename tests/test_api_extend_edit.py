"""Extensions and edits (issue 21) through the official `openai` SDK and the native contract,
against a real `python -m shotsmith.api` server: what the answers say, and every bad input
refused with a clear 4xx before anything is queued.

The SDK (3.51) sends `video` as a file part; its by-id form `video={"id": ...}` is refused by the
SDK itself before any request (its file extraction expects a file at `video`), so a reference
goes as `video=openai.omit, extra_body={"video": {"id": ...}}`, which the SDK encodes as the
multipart field `video[id]`: both forms are exercised here.
"""

from __future__ import annotations

import base64
import http.client
import time

import pytest
from api_server import KEY_A, KEY_B, start_server, wait_for
from clips import clip_bytes

openai = pytest.importorskip("openai")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

SMALL = {"steps": 2, "enhance": False, "interpolation": "none"}
SIZE = "192x128"
MAX_VIDEO_BYTES = 200_000  # the server's cap here, so an oversized clip is cheap to send


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = start_server(tmp_path_factory.mktemp("home"), env={"SHOTSMITH_MAX_VIDEO_BYTES": str(MAX_VIDEO_BYTES)})
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(api_key=KEY_A, base_url=f"{server.url}/v1", max_retries=0)


@pytest.fixture(scope="module")
def source(client):
    """One finished small clip of key A (4.25 s at 24 fps, 192x128)."""
    video = client.videos.create_and_poll(prompt="a red ball rolls to the right on green grass", size=SIZE,
                                          seconds="4", poll_interval_ms=200, extra_body={**SMALL, "seed": 5})
    assert video.status == "completed", video.error
    return video


@pytest.fixture(scope="module")
def source_mp4(client, source) -> bytes:
    return client.videos.download_content(source.id).read()


def by_id(video_id: str, **extra) -> dict:
    """The SDK arguments that send `video[id]`."""
    return {"video": openai.omit, "extra_body": {"video": {"id": video_id}, **SMALL, **extra}}


def job_folders(server) -> set[str]:
    root = server.home / "jobs"
    return {p.name for p in root.iterdir()} if root.exists() else set()


def all_jobs(server, key=KEY_A) -> list[str]:
    with server.client(key) as http:
        return [j["id"] for j in http.get("/api/v1/jobs", params={"limit": 100}).json()["data"]]


def forget(server, video_id: str) -> None:
    """Delete a queued job whose render is not this test's subject (its folder goes with it)."""
    with server.client(KEY_A) as http:
        assert http.delete(f"/api/v1/jobs/{video_id}").status_code == 200


# Answers ------------------------------------------------------------------------------------


def test_extension_by_id_answers_a_new_video_linked_to_its_source(server, client, source):
    video = client.videos.extend(prompt="the ball keeps rolling", seconds="8", **by_id(source.id))
    assert video.id != source.id and video.status == "queued" and video.operation == "extend"
    assert video.source_video_id == source.id
    assert video.seconds == "12.25"  # the source's 4.25 s + 8: the stitched total it will have
    assert video.size == source.size and video.model == "cogvideox-shapes-i2v"
    assert client.videos.retrieve(video.id).source_video_id == source.id
    with server.client(KEY_A) as http:
        job = http.get(f"/api/v1/jobs/{video.id}").json()
    assert job["operation"] == "extend" and job["source_job_id"] == source.id
    assert job["spec"]["extend_from"] == "input-source.mp4" and job["spec"]["seconds"] == 8
    assert (server.home / "jobs" / video.id / "input-source.mp4").read_bytes() == \
        client.videos.download_content(source.id).read()  # the source's clip, copied by the server
    forget(server, video.id)


def test_edit_by_id_answers_a_new_video_with_its_strength(server, client, source):
    video = client.videos.edit(prompt="a blue ball rolls to the right on green grass", **by_id(source.id,
                                                                                               strength=0.4))
    assert video.operation == "edit" and video.source_video_id == source.id and video.status == "queued"
    assert video.model == "cogvideox-shapes" and video.size == source.size
    with server.client(KEY_A) as http:
        job = http.get(f"/api/v1/jobs/{video.id}").json()
    assert job["spec"]["video"] == "input-video.mp4" and job["spec"]["strength"] == 0.4
    forget(server, video.id)


def test_uploaded_clip_made_elsewhere_is_taken_unmodified_by_the_sdk(server, client):
    clip = clip_bytes()  # 12 frames at 12 fps: 1 s, 96x64
    video = client.videos.extend(prompt="more", seconds="4", video=("clip.mp4", clip, "video/mp4"),
                                 extra_body=SMALL)
    assert video.source_video_id is None and video.operation == "extend"
    assert video.seconds == "5" and video.size == "96x64"  # 1 s + 4; the output keeps the clip's size
    forget(server, video.id)
    webm = clip_bytes(fmt="webm")
    edit = client.videos.edit(prompt="a blue ball", video=("clip.webm", webm, "video/webm"),
                              extra_body={**SMALL, "size": "192x128"})
    assert edit.operation == "edit" and edit.size == "192x128"
    forget(server, edit.id)


def test_native_job_takes_a_job_id_or_a_data_url(server, source, source_mp4):
    with server.client(KEY_A) as http:
        answer = http.post("/api/v1/jobs", json={"prompt": "more", "extend_from": source.id, "seconds": 4, **SMALL})
        assert answer.status_code == 200, answer.text
        job = answer.json()
        assert (job["operation"], job["source_job_id"], job["spec"]["width"]) == ("extend", source.id, 192)
        forget(server, job["id"])
        url = "data:video/mp4;base64," + base64.b64encode(source_mp4).decode()
        answer = http.post("/api/v1/jobs", json={"prompt": "a blue ball", "video": url, "strength": 0.7, **SMALL})
        assert answer.status_code == 200, answer.text
        job = answer.json()
        assert (job["operation"], job["source_job_id"], job["spec"]["strength"]) == ("edit", None, 0.7)
        assert job["spec"]["video"] == "input-video.mp4"  # a server name, never the client's
        forget(server, job["id"])


def test_openapi_documents_both_endpoints(server):
    import httpx

    paths = httpx.get(f"{server.url}/openapi.json").json()["paths"]
    for path, required in (("/v1/videos/extensions", {"prompt", "seconds"}), ("/v1/videos/edits", {"prompt"})):
        body = paths[path]["post"]["requestBody"]["content"]
        assert body["multipart/form-data"]["schema"]["properties"]["video"]["format"] == "binary"
        assert required <= set(body["application/json"]["schema"]["required"])
    assert "strength" in paths["/v1/videos/edits"]["post"]["requestBody"]["content"]["application/json"][
        "schema"]["properties"]


def test_other_methods_are_405_with_the_documented_allow(server):
    with server.client(KEY_A) as http:
        for path in ("/v1/videos/extensions", "/v1/videos/edits"):
            answer = http.request("PUT", path)
            assert answer.status_code == 405 and answer.headers["allow"] == "POST"


# Bad input: a clear 4xx naming the field, nothing queued -------------------------------------


def multipart(server, path: str, fields: dict, files: dict | None = None, key: str = KEY_A):
    with server.client(key) as http:
        return http.post(path, data=fields, files=files or None)


BAD_FORMS = [
    # (what, endpoint, form fields, file part or None, status, param)
    ("seconds outside the list", "extensions", {"seconds": "5"}, None, 400, "seconds"),
    ("seconds zero", "extensions", {"seconds": "0"}, None, 400, "seconds"),
    ("seconds not a number", "extensions", {"seconds": "eight"}, None, 400, "seconds"),
    ("seconds huge", "extensions", {"seconds": "1e9"}, None, 400, "seconds"),
    ("no seconds", "extensions", {}, None, 400, "seconds"),
    ("no video", "extensions", {"seconds": "4", "video[id]": None}, None, 400, "video"),
    ("path traversal id", "extensions", {"seconds": "4", "video[id]": "../../../etc/passwd"}, None, 404, "video"),
    ("odd unicode id", "edits", {"video[id]": "vidéo_\u202e\U0001f47e\u0301"}, None, 404, "video"),
    ("control character id", "edits", {"video[id]": "video_\x07abc"}, None, 400, "video"),
    ("id too long", "extensions", {"seconds": "4", "video[id]": "v" * 5000}, None, 400, "video"),
    ("unreadable upload", "extensions", {"seconds": "4"}, b"this is not a video at all" * 20, 400, "video"),
    ("corrupt mp4 upload", "edits", {}, b"\x00\x00\x00\x18ftypmp42" + b"\x00junk" * 300, 400, "video"),
    ("empty upload", "edits", {}, b"", 400, "video"),
    ("upload over the cap", "edits", {}, b"\x00\x00\x00\x18ftypmp42" + b"\x00" * MAX_VIDEO_BYTES, 413, "video"),
    ("strength over 1", "edits", {"strength": "1.5"}, "source", 400, "strength"),
    ("edit on an image-to-video model", "edits", {"model": "cogvideox-shapes-i2v"}, "source", 400, "model"),
    ("extension on a text-to-video model", "extensions", {"seconds": "4", "model": "cogvideox-shapes"}, "source",
     400, "model"),
    ("size not a size", "extensions", {"seconds": "4", "size": "big"}, "source", 400, "size"),
    ("no prompt", "edits", {"prompt": None}, "source", 400, "prompt"),
]


@pytest.mark.parametrize("what,endpoint,fields,upload,status,param", BAD_FORMS, ids=[c[0] for c in BAD_FORMS])
def test_bad_openai_requests_are_refused_and_nothing_is_queued(server, source, source_mp4, what, endpoint, fields,
                                                               upload, status, param):
    fields = {"prompt": "more", "video[id]": source.id, **fields}
    fields = {k: v for k, v in fields.items() if v is not None}
    files = None
    if upload is not None:
        fields.pop("video[id]", None)
        files = {"video": ("clip.mp4", source_mp4 if upload == "source" else upload, "video/mp4")}
    before, folders = all_jobs(server), job_folders(server)
    answer = multipart(server, f"/v1/videos/{endpoint}", fields, files)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["param"] in (param, f"{param}.id") and error["message"].startswith(error["param"]), error
    assert "/jobs/" not in error["message"] and str(server.home) not in error["message"]  # no server path
    assert all_jobs(server) == before and job_folders(server) <= folders  # no new folder (a deleted one may go)


def test_another_keys_video_is_not_found_as_for_get(server, source):
    other = openai.OpenAI(api_key=KEY_B, base_url=f"{server.url}/v1", max_retries=0)
    with pytest.raises(openai.NotFoundError):
        other.videos.retrieve(source.id)
    before = all_jobs(server, KEY_B)
    with pytest.raises(openai.NotFoundError) as extend_error:
        other.videos.extend(prompt="more", seconds="4", **by_id(source.id))
    with pytest.raises(openai.NotFoundError):
        other.videos.edit(prompt="more", **by_id(source.id))
    assert extend_error.value.body["param"] == "video"
    with server.client(KEY_B) as http:
        for field in ("video", "extend_from"):
            answer = http.post("/api/v1/jobs", json={"prompt": "more", field: source.id})
            assert answer.status_code == 404 and answer.json()["error"]["param"] == field
    assert all_jobs(server, KEY_B) == before


def test_a_running_or_cancelled_video_cannot_be_extended(server, client):
    busy = client.videos.create(prompt="a green square", size="480x320", extra_body={"steps": 60, "enhance": False})
    before = all_jobs(server)
    with pytest.raises(openai.ConflictError) as unfinished:
        client.videos.extend(prompt="more", seconds="4", **by_id(busy.id))
    assert unfinished.value.body["param"] == "video" and "only a completed video" in unfinished.value.message
    with server.client(KEY_A) as http:
        http.post(f"/api/v1/jobs/{busy.id}/cancel")
        assert wait_for(http, busy.id)["status"] == "cancelled"
        answer = http.post("/api/v1/jobs", json={"prompt": "more", "video": busy.id})
        assert answer.status_code == 409 and "is cancelled" in answer.json()["error"]["message"]
    with pytest.raises(openai.ConflictError):
        client.videos.edit(prompt="more", **by_id(busy.id))
    assert all_jobs(server) == before
    forget(server, busy.id)


BAD_NATIVE = [
    ("image data URL", {"video": "data:image/png;base64,iVBORw0KGgo="}, 400, "video"),
    ("not base64", {"extend_from": "data:video/mp4;base64,@@@@", "seconds": 4}, 400, "extend_from"),
    ("over the cap", {"video": "data:video/mp4;base64," + "A" * (MAX_VIDEO_BYTES * 4 // 3 + 8)}, 413, "video"),
    ("a server path", {"video": "/etc/passwd"}, 404, "video"),
    ("both sources", {"video": "SOURCE", "extend_from": "SOURCE", "seconds": 4}, 400, "video"),
    ("strength without a source", {"strength": 0.5}, 400, "strength"),
    ("strength for an extension", {"extend_from": "SOURCE", "seconds": 4, "strength": 0.5}, 400, "strength"),
    ("an extension over 120 s", {"extend_from": "SOURCE", "seconds": 121}, 400, "seconds"),
]


@pytest.mark.parametrize("what,body,status,param", BAD_NATIVE, ids=[c[0] for c in BAD_NATIVE])
def test_bad_native_requests_are_refused_and_nothing_is_queued(server, source, what, body, status, param):
    body = {"prompt": "more", **SMALL, **{k: source.id if v == "SOURCE" else v for k, v in body.items()}}
    before, folders = all_jobs(server), job_folders(server)
    with server.client(KEY_A) as http:
        answer = http.post("/api/v1/jobs", json=body)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["param"] == param and param in error["message"], error
    if status == 413:
        assert str(MAX_VIDEO_BYTES) in error["message"]  # the cap, said
    assert all_jobs(server) == before and job_folders(server) <= folders  # no new folder (a deleted one may go)


def test_a_seventh_extension_is_refused_naming_the_limit(server, client):
    segments = [{"kind": "generate", "prompt": "a red bar", "seed": 1, "model": "cogvideox-shapes", "seconds": 1}]
    segments += [{"kind": "extension", "extension": n, "seed": n, "seconds": 0.1} for n in range(1, 7)]
    six = clip_bytes(tag={"segments": segments, "extension": {"count": 6}})
    before, folders = all_jobs(server), job_folders(server)
    with pytest.raises(openai.BadRequestError) as refused:
        client.videos.extend(prompt="more", seconds="4", video=("six.mp4", six, "video/mp4"))
    assert refused.value.body["param"] == "video"
    assert refused.value.body["message"] == ("video: the clip has been extended 6 times already; a clip is "
                                             "extended at most 6 times")
    assert all_jobs(server) == before and job_folders(server) <= folders


def test_a_2_gb_claim_is_refused_before_the_body_is_read(server):
    host, port = server.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    started = time.monotonic()
    try:
        conn.putrequest("POST", "/v1/videos/extensions")
        conn.putheader("Authorization", f"Bearer {KEY_A}")
        conn.putheader("Content-Type", "multipart/form-data; boundary=x")
        conn.putheader("Content-Length", str(2 * 1024**3))
        conn.endheaders(b"--x\r\n")
        answer = conn.getresponse()
        assert answer.status == 413 and b"limit" in answer.read()
    finally:
        conn.close()
    assert time.monotonic() - started < 5


# Made: the clips themselves -----------------------------------------------------------------


def sidecar_of(server, video_id: str, key: str = KEY_A) -> dict:
    import json

    with server.client(key) as http:
        job = http.get(f"/api/v1/jobs/{video_id}").json()
        return json.loads(http.get(job["clips"][0]["sidecar_url"]).content)


def test_an_uploaded_clip_is_extended_into_one_clip(server, client, source, source_mp4):
    """The SDK unmodified (the clip as the `video` file part), one 4 s segment."""
    from api_server import decode_video

    video = client.videos.extend(prompt="the ball keeps rolling", seconds="4", video=("clip.mp4", source_mp4),
                                 extra_body={**SMALL, "seed": 9})
    video = client.videos.poll(video.id, poll_interval_ms=200)
    assert video.status == "completed", video.error
    info = decode_video(client.videos.download_content(video.id).read())
    assert (info["width"], info["height"]) == (192, 128)
    assert abs(info["frames"] / 24 - (4.25 + 4)) <= 0.2 and video.seconds == f"{info['frames'] / 24:g}"
    segments = sidecar_of(server, video.id)["metadata"]["segments"]
    assert [s["kind"] for s in segments] == ["generate", "extension"] and segments[1]["seed"] == 9
    assert any(note.startswith("extends the uploaded clip (192x128") for note in video.notes), video.notes


@pytest.mark.slow  # a 6.25 s clip and two extensions of two segments each
def test_extending_twice_makes_one_clip_of_the_stitched_length(server, client):
    """The issue's check: a clip of the model's native length (6.25 s) extended twice by 8 s."""
    from api_server import decode_video

    source = client.videos.create_and_poll(prompt="a red ball rolls to the right on green grass", size=SIZE,
                                           poll_interval_ms=200, extra_body={**SMALL, "seed": 5})
    assert source.status == "completed" and source.seconds == "6.25", source.error
    first = client.videos.extend(prompt="the ball keeps rolling", seconds="8", **by_id(source.id, seed=7))
    first = client.videos.poll(first.id, poll_interval_ms=200)
    assert first.status == "completed", first.error
    second = client.videos.extend(prompt="the ball slows down", seconds="8", **by_id(first.id, seed=8))
    assert second.seconds == f"{float(first.seconds) + 8:g}" and second.source_video_id == first.id
    second = client.videos.poll(second.id, poll_interval_ms=200)
    assert second.status == "completed", second.error
    data = client.videos.download_content(second.id).read()
    info = decode_video(data)
    assert (info["width"], info["height"]) == (192, 128)
    assert abs(info["frames"] / 24 - (6.25 + 8 + 8)) <= 0.2  # one MP4 at 24 fps: the source + 2 x 8 s
    assert float(second.seconds) == pytest.approx(info["frames"] / 24, abs=0.05)
    # The sidecar lists what re-makes the clip: 3 segments, the source then each extension, each
    # extension with its renders (8 s is two image-to-video renders of the embedded model's 6.25 s).
    segments = sidecar_of(server, second.id)["metadata"]["segments"]
    assert [s["kind"] for s in segments] == ["generate", "extension", "extension"] and segments[0]["seed"] == 5
    assert [s["extension"] for s in segments[1:]] == [1, 2] and [len(s["renders"]) for s in segments[1:]] == [2, 2]
    assert all({"prompt", "seed", "model"} <= set(s) for s in segments)
    assert {s["prompt"] for s in segments if s.get("extension") == 2} == {"the ball slows down"}
    assert sum(s["seconds"] for s in segments) == pytest.approx(info["frames"] / 24, abs=0.2)
    other = openai.OpenAI(api_key=KEY_B, base_url=f"{server.url}/v1", max_retries=0)
    with pytest.raises(openai.NotFoundError):
        other.videos.retrieve(second.id)
    with pytest.raises(openai.NotFoundError):
        other.videos.download_content(second.id)


def test_edit_makes_a_new_clip_of_the_source_size(server, client, source):
    from api_server import decode_video

    edit = client.videos.edit(prompt="a blue ball rolls to the right on green grass", **by_id(source.id, seed=3))
    edit = client.videos.poll(edit.id, poll_interval_ms=200)
    assert edit.status == "completed", edit.error
    assert edit.operation == "edit" and edit.source_video_id == source.id
    assert any(note.startswith(f"source {source.id}: 192x128") and "resampled to 96x64" in note
               for note in edit.notes), edit.notes  # the answer says what changed, naming the source by its id
    info = decode_video(client.videos.download_content(edit.id).read())
    assert (info["width"], info["height"]) == (192, 128) and info["frames"] >= 24
