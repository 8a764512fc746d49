"""What a link, a log line or /metrics reveals: signed media links carry an opaque owner id
(never the key or its hash), the secret is a 0600 file that can be rotated, the access log
drops link signatures, /metrics shows every key's job counts only to an admin key, links
in answers never come from the Host header, and the Authorization header is parsed once.
"""

from __future__ import annotations

import base64
import io
import logging
import stat
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families

from api_server import start_server
from shotsmith.api.app import create_app
from shotsmith.api.common import base_url
from shotsmith.settings import Settings
from shotsmith.jobs import owner_of
from shotsmith.web.links import KEY_FILE, LinkSigner, RedactLinkSignatures

KEY_A = "sk-links-alpha"
KEY_B = "sk-links-beta"
ADMIN = "sk-links-admin"



def auth(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def make_app(home, keys=(KEY_A, KEY_B, ADMIN), **overrides):
    return create_app(Settings(home=home, worker=False, preload="", api_keys=tuple(keys), **overrides))


def image_data_url() -> str:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 40, 40)).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def queue_i2v_job(http: TestClient, key: str = KEY_A) -> str:
    made = http.post("/api/v1/jobs", headers=auth(key), json={
        "prompt": "a red ball", "image": image_data_url(), "steps": 2, "enhance": False, "size": "480x320"})
    assert made.status_code == 200, made.text
    return made.json()["id"]


def input_link(http: TestClient, job_id: str, key: str = KEY_A) -> str:
    job = http.get(f"/api/v1/studio/jobs/{job_id}", headers=auth(key))
    assert job.status_code == 200, job.text
    return job.json()["input_image_url"]


# Signed links --------------------------------------------------------------------------------


def test_a_link_carries_no_key_material(tmp_path):
    home = tmp_path / "home"
    with TestClient(make_app(home)) as http:
        link = input_link(http, queue_i2v_job(http))
        assert http.get(link).status_code == 200
        query = parse_qs(urlsplit(link).query)
        owner_id = query["o"][0]
        digest = owner_of(KEY_A)
        assert KEY_A not in link and digest not in link
        assert not any(digest[i:i + 8] in link for i in range(len(digest) - 8))  # not even part of it
        assert len(owner_id) == 22 and owner_id != LinkSigner(home).owner_id(owner_of(KEY_B))
        # the id depends on the secret: another server's secret gives another id for the same key
        assert LinkSigner(tmp_path / "other").owner_id(digest) != owner_id


def test_the_secret_is_made_0600_on_first_start_and_rotates_by_deleting_it(tmp_path):
    home = tmp_path / "home"
    with TestClient(make_app(home)) as http:
        key_file = home / KEY_FILE
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600  # made at start, before any link
        link = input_link(http, queue_i2v_job(http))
    secret = key_file.read_bytes()
    key_file.unlink()  # rotation: delete the file and restart
    with TestClient(make_app(home)) as http:
        assert key_file.read_bytes() != secret and stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert http.get(link).status_code == 401  # links signed with the old secret stop working
        job_id = urlsplit(link).path.split("/")[3]
        assert http.get(input_link(http, job_id)).status_code == 200  # new views carry new links


def test_the_secret_file_can_live_elsewhere_and_is_kept_private(tmp_path):
    secret_file = tmp_path / "secrets" / "links.key"
    with TestClient(make_app(tmp_path / "home", link_secret_file=secret_file)) as http:
        assert http.get(input_link(http, queue_i2v_job(http))).status_code == 200
    assert secret_file.is_file() and not (tmp_path / "home" / KEY_FILE).exists()
    secret_file.chmod(0o644)  # loosened by hand: put back to 0600 on the next start
    with TestClient(make_app(tmp_path / "home", link_secret_file=secret_file)):
        assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600


def test_a_link_for_one_key_cannot_be_moved_to_another(tmp_path):
    with TestClient(make_app(tmp_path / "home")) as http:
        link = input_link(http, queue_i2v_job(http))
        signer: LinkSigner = http.app.state.studio_signer
        query = {k: v[0] for k, v in parse_qs(urlsplit(link).query).items()}
        other = signer.owner_id(owner_of(KEY_B))
        assert http.get(urlsplit(link).path, params=query | {"o": other}).status_code == 401
        assert http.get(urlsplit(link).path, params=query | {"o": owner_of(KEY_A)}).status_code == 401


def test_the_access_log_drops_link_signatures():
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5", "GET", "/studio/media/video_1/clip.mp4?o=AbC&e=99&s=SiG-1_x&download=1",
                                "1.1", 200), None)
    assert RedactLinkSignatures().filter(record)
    line = record.getMessage()
    assert "SiG-1_x" not in line and "s=...&download=1" in line and "o=AbC" in line
    other = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, "%s %s", ("GET", "/v1/videos?s=1"), None)
    RedactLinkSignatures().filter(other)
    assert other.getMessage() == "GET /v1/videos?s=1"  # only media links are touched


def test_the_app_installs_the_filter_on_the_access_log(tmp_path):
    make_app(tmp_path / "home")
    make_app(tmp_path / "home")  # once, however many apps a process makes
    filters = logging.getLogger("uvicorn.access").filters
    assert sum(isinstance(f, RedactLinkSignatures) for f in filters) == 1


@pytest.mark.slow
def test_a_real_servers_log_holds_no_key_hash_or_link_signature(tmp_path):
    """uvicorn's access log, as `serve` writes it (about 20 s: a real server process)."""
    server = start_server(tmp_path / "home", keys=(KEY_A, KEY_B), wait_ready=False,
                          env={"SHOTSMITH_WORKER": "0", "SHOTSMITH_PRELOAD": ""})
    try:
        with server.client(KEY_A) as http:
            made = http.post("/api/v1/jobs", json={"prompt": "a red ball", "image": image_data_url(),
                                                   "enhance": False})
            assert made.status_code == 200, made.text
            link = http.get(f"/api/v1/studio/jobs/{made.json()['id']}").json()["input_image_url"]
        with server.client(None) as browser:  # no header, as a <img src> would
            assert browser.get(link).status_code == 200
    finally:
        server.stop()
    log = server.log()
    signature = parse_qs(urlsplit(link).query)["s"][0]
    assert urlsplit(link).path in log and "s=..." in log  # the request is logged...
    assert signature not in log and KEY_A not in log and owner_of(KEY_A) not in log  # ...without secrets


# /metrics -----------------------------------------------------------------------------------


def metrics(http: TestClient, key: str | None) -> dict:
    response = http.get("/metrics", headers=auth(key) if key else {})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {sample.name + str(sorted(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(response.text) for sample in family.samples}


def test_only_an_admin_key_sees_every_keys_job_counts(tmp_path):
    with TestClient(make_app(tmp_path / "home", admin_keys=(ADMIN,))) as http:
        queue_i2v_job(http, KEY_B)
        queue_i2v_job(http, KEY_B)
        seen_by_a = metrics(http, KEY_A)
        assert not any(name.startswith("shotsmith_jobs") for name in seen_by_a)
        assert "shotsmith_worker_ready[]" in seen_by_a and "shotsmith_models_loaded[]" in seen_by_a
        seen_by_admin = metrics(http, ADMIN)
        assert seen_by_admin["shotsmith_jobs[('status', 'queued')]"] == 2
        assert seen_by_admin["shotsmith_jobs[('status', 'completed')]"] == 0
        assert http.get("/metrics").status_code == 401


def test_without_keys_the_one_local_owner_sees_the_counts(tmp_path):
    with TestClient(make_app(tmp_path / "home", keys=())) as http:
        queue_i2v_job(http, "ignored")
        assert metrics(http, None)["shotsmith_jobs[('status', 'queued')]"] == 1


def test_admin_keys_must_be_api_keys():
    with pytest.raises(ValueError, match="SHOTSMITH_ADMIN_KEYS"):
        Settings.from_env({"SHOTSMITH_API_KEYS": KEY_A, "SHOTSMITH_ADMIN_KEYS": KEY_B})


# Links in answers, the Authorization header ----------------------------------------------------


def test_links_in_answers_never_come_from_the_host_header(tmp_path):
    assert base_url(object(), Settings.from_env({}, home=tmp_path)) == ""  # relative to the server root
    configured = Settings.from_env({"SHOTSMITH_PUBLIC_URL": "https://shots.example/"}, home=tmp_path)
    assert base_url(object(), configured) == "https://shots.example"


@pytest.mark.parametrize("header,status,code", [
    (None, 401, "missing_api_key"),
    ("Basic c2s6eA==", 401, "invalid_api_key"),
    ("Bearer", 401, "invalid_api_key"),
    ("Bearer sk-not-a-key", 401, "invalid_api_key"),
    (f"Bearer {KEY_A}", 200, None),
    (f"bearer   {KEY_A}  ", 200, None),
])
def test_the_bearer_header_is_parsed_once(header, status, code, tmp_path):
    with TestClient(make_app(tmp_path / "home")) as http:
        response = http.get("/v1/videos", headers={"Authorization": header} if header else {})
        assert response.status_code == status, response.text
        if code:
            assert response.json()["error"]["code"] == code
        if header == "Basic c2s6eA==":
            assert "Bearer <API key>" in response.json()["error"]["message"]
