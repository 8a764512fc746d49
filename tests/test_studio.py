"""The web studio's server side: the page and its files, and the routes the studio adds
(config, searchable job list, signed media links), on an in-process app with the worker
off. Jobs are made finished by writing their record and small stand-in files, so these
tests need no model; tests/test_studio_browser.py drives the real thing in Chromium."""

from __future__ import annotations

import re
import stat
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from shotsmith.api.app import create_app
from shotsmith.settings import Settings
from shotsmith.jobs import ClipOutput, JobError, JobResult, owner_of
from shotsmith.models.registry import ENTRIES
from shotsmith.prompt import list_presets
from shotsmith.spec import build_spec
from shotsmith.web.links import KEY_FILE, LinkSigner
from shotsmith.web.pages import static_dir

KEY_A = "sk-studio-alpha"
KEY_B = "sk-studio-beta"
MP4 = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 2000  # stand-in bytes: these tests check serving, not decoding


def auth(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def make_app(home: Path, keys=(KEY_A, KEY_B)):
    return create_app(Settings(home=home, worker=False, preload="", api_keys=tuple(keys)))


@pytest.fixture()
def home(tmp_path) -> Path:
    return tmp_path / "home"


@pytest.fixture()
def client(home):
    with TestClient(make_app(home)) as http:
        yield http


def backend(http: TestClient):
    return http.app.state.services.backend


def add_job(http: TestClient, key: str, prompt: str, *, status: str = "completed", style: str | None = None,
            seeds=(11,), image: bool = False, last_image: bool = False, edit: bool = False, extend: bool = False,
            source: str | None = None) -> str:
    """A job in the store as the worker would leave it, with small files in its folder. `edit` or
    `extend`: made from a source clip (the job `source`, or an upload when None), kept in the
    folder under the server's name for it."""
    back = backend(http)
    job_id = back.new_job_id()
    folder = back.job_dir(job_id)
    folder.mkdir(parents=True)
    image_path = None
    if image:
        from PIL import Image

        image_path = folder / "input.png"
        Image.new("RGB", (96, 64), (200, 40, 40)).save(image_path)
    inputs = {}
    if last_image:
        from PIL import Image

        Image.new("RGB", (96, 64), (40, 40, 200)).save(folder / "input-last.png")
        inputs["last_image"] = str(folder / "input-last.png")
    for field, wanted, name in (("video", edit, "input-video.mp4"), ("extend_from", extend, "input-source.mp4")):
        if wanted:
            (folder / name).write_bytes(MP4)
            inputs[field] = str(folder / name)
    spec = build_spec(prompt=prompt, style=style, width=480, height=320, candidates=len(seeds),
                      image=str(image_path) if image_path else None, **inputs)
    back.submit(owner_of(key), spec, job_id=job_id, meta={"source_job_id": source} if source else None)
    if status == "queued":
        return job_id
    outputs = []
    for index, seed in enumerate(seeds, start=1):
        stem = "clip" if len(seeds) == 1 else f"clip-{index}"
        for suffix, data in ((".mp4", MP4), (".gif", b"GIF89a"), (".jpg", b"\xff\xd8\xff"),
                             (".sprite.jpg", b"\xff\xd8\xff"), (".json", b"{}")):
            (folder / f"{stem}{suffix}").write_bytes(data)
        outputs.append({"video": f"{stem}.mp4", "gif": f"{stem}.gif", "cover": f"{stem}.jpg",
                        "sprite": f"{stem}.sprite.jpg", "sidecar": f"{stem}.json", "seed": seed, "width": 480,
                        "height": 320, "fps": 24.0, "frames": 150, "duration": 6.25})
    back.store.claim(job_id, "test-worker", lease_s=60)
    if status == "completed":
        back.store.finish_completed(job_id, JobResult(outputs=[ClipOutput(**o) for o in outputs], seeds=list(seeds),
                                                      enhanced_prompt=f"A steady shot: {prompt}."))
    else:
        back.store.finish_failed(job_id, JobError("internal_error", "the encoder broke"))
    return job_id


def ids(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [job["id"] for job in response.json()["data"]]


# The page ------------------------------------------------------------------------------------


def test_page_is_served_at_root_with_a_strict_policy(client):
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    assert 'id="create-form"' in page.text and "<script" in page.text
    assert "<script>" not in page.text and " style=" not in page.text  # nothing inline: the policy holds
    redirect = client.get("/studio", follow_redirects=False)
    assert redirect.status_code == 308 and redirect.headers["location"] == "/"


def test_every_file_the_page_loads_is_served(client):
    """index.html's assets and every module the scripts import: present, right type, no CDN."""
    page = client.get("/").text
    assets = re.findall(r'(?:src|href)="(/studio/static/[^"]+)"', page)
    assert any(a.endswith(".css") for a in assets) and any(a.endswith(".js") for a in assets)
    assert not re.search(r'(?:src|href)="(?:https?:)?//', page)
    seen, todo = set(), list(assets)
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.headers["cache-control"] == "no-cache"
        if path.endswith(".js"):
            assert "javascript" in response.headers["content-type"]
            assert "http://" not in response.text and "https://" not in response.text
            folder = path.rsplit("/", 1)[0]
            todo += [f"{folder}/{name}" for name in re.findall(r"from '\./([\w-]+\.js)'", response.text)]
    on_disk = {f"/studio/static/{p.relative_to(static_dir()).as_posix()}" for p in static_dir().rglob("*")
               if p.is_file() and p.name != "index.html"}  # the page itself, served at /
    assert seen == on_disk, "a static file is unused, or the page loads one that is not there"


def test_a_missing_static_file_is_a_json_404(client):
    response = client.get("/studio/static/js/nope.js")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert client.get("/studio/static/../links.py").status_code == 404


# Config -------------------------------------------------------------------------------------


def test_config_needs_a_key_and_lists_styles_models_and_limits(client):
    refused = client.get("/api/v1/studio/config")
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthenticated"
    assert client.get("/api/v1/studio/config", headers=auth("sk-wrong")).status_code == 401
    config = client.get("/api/v1/studio/config", headers=auth(KEY_A)).json()
    assert config["auth"] is True
    assert [s["name"] for s in config["styles"]] == list_presets()
    assert all(s["title"] and s["description"] for s in config["styles"])
    assert [m["name"] for m in config["models"]] == list(ENTRIES)
    shapes = next(m for m in config["models"] if m["name"] == "cogvideox-shapes")
    assert shapes["available"] and shapes["task"] == "t2v" and shapes["steps"] == ENTRIES["cogvideox-shapes"].steps
    assert config["defaults"]["size"] == "1440x960" and config["defaults"]["size"] in config["sizes"]
    assert config["defaults"]["model"] == "cogvideox-shapes"
    assert config["defaults"]["i2v_model"] == "cogvideox-shapes-i2v"
    assert config["limits"]["max_candidates"] == 4 and config["limits"]["max_image_bytes"] > 0
    # edit and extend: the hosted API's extension lengths, its limits, the edit strength's default
    assert config["limits"]["extend_seconds"] == [4, 8, 12, 16, 20]
    assert config["limits"]["max_extensions"] == 6 and config["limits"]["max_extended_seconds"] == 120
    assert config["defaults"]["strength"] == 0.6
    assert config["limits"]["max_video_bytes"] == 16 * 1024 * 1024
    assert all(m["last_frame"] == ENTRIES[m["name"]].last_frame for m in config["models"])
    # what each model can do, so the form offers only its controls (last frame, edit, sound)
    can = {m["name"]: m["can"] for m in config["models"]}
    assert "audio" in can["ltx-2"] and "audio" not in can["cogvideox-shapes"]
    assert "edit" in can["wan2.1-t2v-1.3b"] and "edit" not in can["ltx-2"]
    assert "last_frame" in can["wan2.1-flf2v-14b"] and "last_frame" not in can["wan2.1-i2v-14b-480p"]
    assert {m["name"]: m["family"] for m in config["models"]}["hunyuanvideo1.5-480p"] == "hunyuanvideo15"


def test_with_auth_off_the_studio_needs_no_key(home):
    with TestClient(make_app(home, keys=())) as http:
        assert http.get("/api/v1/studio/config").json()["auth"] is False
        job_id = add_job(http, "", "a blue square slides left")
        job = http.get(f"/api/v1/studio/jobs/{job_id}").json()
        assert http.get(job["links"][0]["video"]).content == MP4


# Search and filters -------------------------------------------------------------------------


def test_jobs_are_searched_by_prompt_and_seed_and_filtered(client):
    red = add_job(client, KEY_A, "a red ball rolls to the right on green grass", seeds=(101, 102))
    blue = add_job(client, KEY_A, "a blue square slides left at night", style="anime-2d", seeds=(7,))
    waiting = add_job(client, KEY_A, "a red triangle bounces", status="queued")
    failed = add_job(client, KEY_A, "a red circle", status="failed")
    first_frame = add_job(client, KEY_A, "", image=True, style="documentary", seeds=(55,))
    other = add_job(client, KEY_B, "a red ball of key B")

    def query(**params):
        return ids(client.get("/api/v1/studio/jobs", params=params, headers=auth(KEY_A)))

    assert query() == [first_frame, failed, waiting, blue, red]  # newest first, only this key's
    assert query(q="RED") == [failed, waiting, red]
    assert query(q="red grass") == [red]  # every word must appear
    assert query(q="steady shot blue") == [blue]  # the enhanced prompt counts too
    assert query(q="102") == [red]  # a seed
    assert query(q="10") == []  # seeds match whole
    assert query(q=blue) == [blue]  # the id
    assert query(status="completed") == [first_frame, blue, red]
    assert query(status="active") == [waiting]
    assert query(status="finished") == [first_frame, failed, blue, red]
    assert query(status="completed", style="anime-2d") == [blue]
    assert query(status="completed", style="none") == [red]
    assert query(task="i2v") == [first_frame]
    assert query(q="zebra") == []
    assert ids(client.get("/api/v1/studio/jobs", headers=auth(KEY_B))) == [other]


def test_search_pages_continue_where_they_stopped(client):
    made = [add_job(client, KEY_A, f"clip {name}") for name in ("alpha", "bravo", "charlie", "delta", "echo")]
    newest_first = made[::-1]
    seen, after = [], None
    for _ in range(5):
        params = {"limit": 2, **({"after": after} if after else {})}
        page = client.get("/api/v1/studio/jobs", params=params, headers=auth(KEY_A)).json()
        seen += [job["id"] for job in page["data"]]
        after = page["next_after"]
        if not page["has_more"]:
            break
    assert seen == newest_first
    # a search pages through its matches only
    for q, limit, expected in (("alpha", 24, [made[0]]), ("clip", 2, newest_first),
                               ("ha", 1, [made[2], made[0]])):
        found, after = [], None
        for _ in range(5):
            params = {"q": q, "limit": limit, **({"after": after} if after else {})}
            page = client.get("/api/v1/studio/jobs", params=params, headers=auth(KEY_A)).json()
            found += [job["id"] for job in page["data"]]
            after = page["next_after"]
            if not page["has_more"]:
                break
        assert found == expected, q


def test_bad_queries_are_json_400s_naming_the_parameter(client):
    for params, field in (({"limit": 0}, "limit"), ({"status": "sleeping"}, "status"), ({"task": "x"}, "task")):
        response = client.get("/api/v1/studio/jobs", params=params, headers=auth(KEY_A))
        assert response.status_code == 400, params
        error = response.json()["error"]
        assert error["param"] == field and field in error["message"]
    missing = client.get(f"/api/v1/studio/jobs/video_{'0' * 32}", headers=auth(KEY_A))
    assert missing.status_code == 404 and "video_" in missing.json()["error"]["message"]
    assert client.get("/api/v1/studio/jobs/../../etc", headers=auth(KEY_A)).status_code == 404
    wrong_method = client.put("/api/v1/studio/jobs", headers=auth(KEY_A))
    assert wrong_method.status_code == 405 and wrong_method.headers["allow"] == "GET"


# Signed media links -------------------------------------------------------------------------


def studio_job(client, job_id: str, key: str = KEY_A) -> dict:
    response = client.get(f"/api/v1/studio/jobs/{job_id}", headers=auth(key))
    assert response.status_code == 200, response.text
    return response.json()


def test_media_links_serve_the_jobs_files_without_a_header(client):
    job = studio_job(client, add_job(client, KEY_A, "a red ball", seeds=(5, 6)))
    assert job["task"] == "t2v" and job["status"] == "completed" and len(job["links"]) == 2
    assert [link["seed"] for link in job["links"]] == [5, 6]
    video = client.get(job["links"][0]["video"])
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4" and video.content == MP4
    assert client.get(job["links"][1]["cover"]).headers["content-type"] == "image/jpeg"
    assert client.get(job["links"][1]["gif"]).headers["content-type"] == "image/gif"
    ranged = client.get(job["links"][0]["video"], headers={"Range": "bytes=0-99"})
    assert ranged.status_code == 206 and len(ranged.content) == 100  # seeking in <video>
    download = client.get(job["links"][0]["video"] + "&download=1")
    assert download.headers["content-disposition"].startswith("attachment")
    assert job["input_image_url"] is None


def test_an_image_to_video_job_links_its_first_frame(client):
    job = studio_job(client, add_job(client, KEY_A, "", image=True))
    assert job["task"] == "i2v" and job["spec"]["image"] == "input.png"
    image = client.get(job["input_image_url"])
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG")


def test_a_first_and_last_frame_job_links_both_frames(client):
    job = studio_job(client, add_job(client, KEY_A, "", image=True, last_image=True))
    assert job["task"] == "i2v" and job["spec"]["last_image"] == "input-last.png"  # a name, never a path
    first, last = client.get(job["input_image_url"]), client.get(job["last_image_url"])
    assert first.status_code == last.status_code == 200 and first.content != last.content
    assert last.content.startswith(b"\x89PNG")
    assert studio_job(client, add_job(client, KEY_A, "", image=True))["last_image_url"] is None


def test_an_extension_and_an_edit_name_their_source_and_link_the_clip_they_started_from(client):
    source = add_job(client, KEY_A, "a red ball rolls to the right")
    extension = add_job(client, KEY_A, "it bounces off the wall", extend=True, source=source)
    uploaded_edit = add_job(client, KEY_A, "the ball is blue", edit=True)
    plain = studio_job(client, source)
    assert plain["operation"] == "generate" and plain["source_clip"] is None and plain["input_video_url"] is None

    job = studio_job(client, extension)
    assert job["operation"] == "extend" and job["task"] == "i2v"
    assert job["source_clip"] == {"id": source, "prompt": "a red ball rolls to the right", "exists": True}
    assert client.get(job["input_video_url"]).content == MP4  # the copy of the source the job kept
    edit = studio_job(client, uploaded_edit)
    assert edit["operation"] == "edit" and edit["task"] == "t2v"
    assert edit["source_clip"] == {"id": None, "prompt": None, "exists": False}  # an upload: no job to open
    assert client.get(edit["input_video_url"]).status_code == 200

    # the gallery's list says the same, and a deleted source is named as gone
    listed = client.get("/api/v1/studio/jobs", params={"status": "completed"}, headers=auth(KEY_A)).json()["data"]
    assert [(j["id"], j["operation"]) for j in listed] == [(uploaded_edit, "edit"), (extension, "extend"),
                                                           (source, "generate")]
    assert listed[1]["source_clip"]["id"] == source
    assert client.delete(f"/api/v1/jobs/{source}", headers=auth(KEY_A)).status_code == 200
    gone = studio_job(client, extension)["source_clip"]
    assert gone == {"id": source, "prompt": None, "exists": False}
    # another key sees neither the extension nor, through it, anything of the source
    assert client.get(f"/api/v1/studio/jobs/{extension}", headers=auth(KEY_B)).status_code == 404


def test_media_links_cannot_be_forged_or_stretched(client):
    job_id = add_job(client, KEY_A, "a red ball")
    link = studio_job(client, job_id)["links"][0]["video"]
    query = parse_qs(urlsplit(link).query)
    base = f"/studio/media/{job_id}"

    def get(name="clip.mp4", **changes):
        params = {k: v[0] for k, v in query.items()} | changes
        return client.get(f"{base}/{name}", params=params)

    assert get().status_code == 200
    assert get(s="0" * 32).status_code == 401
    assert get(s="é" * 32).status_code == 401  # non-ASCII signature: refused, not a 500
    assert get(o=owner_of(KEY_B)).status_code == 401  # another owner: the signature no longer fits
    assert get(e=str(int(query["e"][0]) + 3600)).status_code == 401  # a longer life: same
    assert get("jobs.sqlite3").status_code == 404  # a valid link reaches only the job's own files
    assert get("..%2F..%2Fjobs.sqlite3").status_code == 404
    forged = get(s="0" * 32).json()["error"]
    assert forged["code"] == "invalid_key" and "reload" in forged["message"]
    assert client.get("/studio/media/not-a-job/clip.mp4", params={"o": "x", "e": 1, "s": "y"}).status_code == 404


def test_media_links_expire(client, monkeypatch):
    job_id = add_job(client, KEY_A, "a red ball")
    signer: LinkSigner = client.app.state.studio_signer
    link = studio_job(client, job_id)["links"][0]["video"]
    monkeypatch.setattr(signer, "clock", lambda: 10**10)
    assert client.get(link).status_code == 401


def test_media_links_outlive_a_restart_but_not_a_removed_key(home):
    with TestClient(make_app(home)) as http:
        job_id = add_job(http, KEY_A, "a red ball")
        link = studio_job(http, job_id)["links"][0]["video"]
    key_file = home / KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    with TestClient(make_app(home)) as http:  # a restarted server: same secret, the link still works
        assert http.get(link).status_code == 200
    with TestClient(make_app(home, keys=(KEY_B,))) as http:  # KEY_A revoked: its links stop at once
        assert http.get(link).status_code == 401


def test_the_secret_file_is_made_once_and_shared(tmp_path):
    first, second = LinkSigner(tmp_path), LinkSigner(tmp_path)
    assert first.secret() == second.secret() and len(first.secret()) == 32
    (tmp_path / KEY_FILE).write_bytes(b"short")  # a damaged file is replaced, not trusted
    assert len(LinkSigner(tmp_path).secret()) == 32


def test_studio_routes_are_in_the_openapi_document_and_the_page_is_not(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert "/api/v1/studio/jobs" in paths and "/api/v1/studio/config" in paths
    assert "/" not in paths and "/studio" not in paths
