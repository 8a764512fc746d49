"""What one request may ask of the server: a cost cap, and no model download unless the operator allows it."""

import pytest
from fastapi.testclient import TestClient

from shotsmith.api.app import create_app
from shotsmith.settings import Settings

KEY = "sk-limits"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture()
def make_client(tmp_path):
    clients = []

    def make(**settings):
        home = tmp_path / f"home{len(clients)}"
        client = TestClient(create_app(Settings(home=home, worker=False, preload="", api_keys=(KEY,), **settings)))
        clients.append(client.__enter__())
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.mark.parametrize("path, body", [
    ("/v1/videos", {"prompt": "a ball", "size": "4096x4096", "candidates": 4, "steps": 200}),
    ("/api/v1/jobs", {"prompt": "a ball", "size": "4096x4096", "candidates": 4, "steps": 200}),
    ("/api/paas/v4/videos/generations", {"model": "cogvideox-shapes", "prompt": "a ball", "size": "4096x4096",
                                         "candidates": 4, "steps": 200}),
])
def test_the_most_expensive_request_is_refused_naming_the_limit(make_client, path, body):
    client = make_client()
    response = client.post(path, json=body, headers=AUTH)
    assert response.status_code == 400, response.text
    message = response.json()["error"]["message"]
    assert "over this server's limit of 40" in message and "giga pixel-steps" in message
    if not path.startswith("/api/paas"):
        assert response.json()["error"]["code"] in ("request_too_costly", "too_costly")
    assert client.get("/api/v1/jobs", headers=AUTH).json()["data"] == []


def test_the_cap_is_a_setting_and_the_default_clip_fits(make_client):
    client = make_client(max_request_cost=0.5)
    assert client.post("/api/v1/jobs", json={"prompt": "a ball", "size": "480x320"}, headers=AUTH).status_code == 200
    refused = client.post("/api/v1/jobs", json={"prompt": "a ball"}, headers=AUTH)  # 1440x960: 0.69
    assert refused.status_code == 400 and "limit of 0.5" in refused.text
    unlimited = make_client(max_request_cost=0)
    body = {"prompt": "a ball", "size": "4096x4096", "candidates": 4, "steps": 200}
    assert unlimited.post("/api/v1/jobs", json=body, headers=AUTH).status_code == 200


def test_a_model_not_on_disk_is_never_downloaded_unless_allowed(make_client, tmp_path):
    client = make_client()
    response = client.post("/v1/videos", json={"prompt": "a ball", "model": "cogvideox-2b"}, headers=AUTH)
    assert response.status_code == 400, response.text
    message = response.json()["error"]["message"]
    assert "--allow-downloads" in message and str(tmp_path) not in message
    allowed = make_client(allow_downloads=True)
    assert allowed.post("/v1/videos", json={"prompt": "a ball", "model": "cogvideox-2b"},
                        headers=AUTH).status_code == 200


def test_an_unknown_lora_names_no_server_folder(make_client, tmp_path):
    client = make_client()
    response = client.post("/api/v1/jobs", json={"prompt": "a ball", "lora": "nope"}, headers=AUTH)
    assert response.status_code == 400 and "lora" in response.json()["error"]["message"]
    assert str(tmp_path) not in response.text
