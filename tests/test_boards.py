"""Storyboards (issue 23): records and their migration, the service's rules, and the HTTP API
(/api/v1/boards) with bad input and key isolation. The one render here uses the embedded model
at a small size with 2 steps; the whole must-show flow is in test_boards_flow.py (slow)."""

from __future__ import annotations

import io
import json
import sqlite3
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api_server import data_url, png_bytes
from shotsmith.api.app import create_app
from shotsmith.settings import Settings

KEY_A, KEY_B = "sk-board-alpha", "sk-board-beta"
A = {"Authorization": f"Bearer {KEY_A}"}
B = {"Authorization": f"Bearer {KEY_B}"}
SMALL = {"width": 192, "height": 128, "steps": 2, "interpolation": "none"}


@pytest.fixture
def make_client(tmp_path):
    made = []

    def make(worker: bool = False, home: Path | None = None) -> TestClient:
        app = create_app(Settings(home=home or tmp_path / "home", worker=worker, preload="", api_keys=(KEY_A, KEY_B)))
        client = TestClient(app)
        client.__enter__()
        made.append(client)
        return client

    yield make
    for client in made:
        client.__exit__(None, None, None)


def shots(n: int, **extra) -> list[dict]:
    return [{"text": f"a red ball rolls on green grass, beat {i + 1}", "duration": 2.25, **extra} for i in range(n)]


def new_board(client, headers=A, **body) -> dict:
    r = client.post("/api/v1/boards", json={"name": "film", **SMALL, **body}, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


def error(r, status: int) -> dict:
    assert r.status_code == status, r.text
    return r.json()["error"]


# Records and migration ------------------------------------------------------------------------

def test_a_database_made_before_boards_upgrades_in_place_and_keeps_its_jobs(tmp_path):
    """A jobs database at the previous head (0003) gets the board tables; its jobs stay readable."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine

    import shotsmith.jobs.store as store_module
    from shotsmith.jobs.store import JobStore

    path = tmp_path / "jobs.sqlite3"
    engine = create_engine(f"sqlite:///{path}")
    config = Config()
    config.set_main_option("script_location", str(Path(store_module.__file__).parent / "migrations"))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0003_search")
    engine.dispose()
    with sqlite3.connect(path) as db:
        assert "boards" not in {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        db.execute("INSERT INTO jobs (id, owner, source, status, progress, step, total_steps, stage, spec, seeds, "
                   "timings, outputs, meta, created_at, attempts, cancel_requested, deleted) VALUES ("
                   "'video_" + "a" * 32 + "', 'o', 'native', 'completed', 100, 0, 0, 'done', '{\"prompt\": \"x\"}', "
                   "'[5]', '{}', '[]', '{}', 1.0, 1, 0, 0)")

    store = JobStore(path)
    try:
        assert store.get("video_" + "a" * 32).seeds == [5]
    finally:
        store.close()
    with sqlite3.connect(path) as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"boards", "board_shots", "board_takes"} <= tables
        assert db.execute("SELECT version_num FROM alembic_version").fetchone()[0] == "0004_boards"


# HTTP: boards and shots ----------------------------------------------------------------------

def test_create_get_list_update_and_delete_a_board(make_client):
    client = make_client()
    board = new_board(client, shots=shots(3))
    assert board["object"] == "board" and board["id"].startswith("board_")
    assert (board["width"], board["height"], board["fps"], board["status"]) == (192, 128, 24, "draft")
    assert [s["index"] for s in board["shots"]] == [0, 1, 2]
    assert [s["title"] for s in board["shots"]] == ["Shot 1", "Shot 2", "Shot 3"]
    first = board["shots"][0]
    assert first["prompt"] and "red ball" in first["prompt"]  # the prompt agent wrote a formula prompt
    assert first["status"] == "draft" and first["takes"] == [] and first["seed"] is None

    listed = client.get("/api/v1/boards", headers=A).json()
    assert listed["object"] == "list" and [b["id"] for b in listed["data"]] == [board["id"]]
    assert listed["data"][0]["shot_count"] == 3 and "shots" not in listed["data"][0]

    updated = client.patch(f"/api/v1/boards/{board['id']}", json={"name": "renamed", "fps": 12}, headers=A).json()
    assert (updated["name"], updated["fps"], updated["width"]) == ("renamed", 12, 192)
    assert client.get(f"/api/v1/boards/{board['id']}", headers=A).json()["name"] == "renamed"
    modelled = client.patch(f"/api/v1/boards/{board['id']}", json={"model": "cogvideox-shapes"}, headers=A).json()
    assert modelled["model"] == "cogvideox-shapes" and [s["duration"] for s in modelled["shots"]] == [2.25] * 3
    assert error(client.patch(f"/api/v1/boards/{board['id']}", json={"width": 0}, headers=A), 400)["param"] == "width"
    assert error(client.patch(f"/api/v1/boards/{board['id']}", json={"shots": []}, headers=A), 400)["param"] == "shots"

    gone = client.delete(f"/api/v1/boards/{board['id']}", headers=A).json()
    assert gone == {"id": board["id"], "object": "board", "deleted": True}
    assert error(client.get(f"/api/v1/boards/{board['id']}", headers=A), 404)["param"] == "board_id"


def test_shots_are_added_edited_reordered_and_deleted(make_client):
    client = make_client()
    board = new_board(client)
    url = f"/api/v1/boards/{board['id']}"
    r = client.post(f"{url}/shots", json={"text": "a blue square slides left", "duration": 3, "seed": 42,
                                          "candidates": 2, "title": "Opening"}, headers=A)
    assert r.status_code == 201, r.text
    shot = r.json()["shots"][0]
    assert (shot["title"], shot["seed"], shot["candidates"], shot["mode"]) == ("Opening", 42, 2, "t2v")
    assert shot["duration"] == 2.25  # snapped to a length the embedded model renders (9 frames at 4 fps)

    # an image-to-video shot, its image sent as a multipart file; the board serves it back
    r = client.post(f"{url}/shots", data={"text": "the red circle rises"},
                    files={"image": ("first.png", png_bytes(96, 64), "image/png")}, headers=A)
    assert r.status_code == 201, r.text
    i2v = r.json()["shots"][1]
    assert i2v["mode"] == "i2v" and i2v["image_url"].startswith(f"{url}/files/")
    image = client.get(i2v["image_url"], headers=A)
    assert image.status_code == 200 and image.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert client.get(i2v["image_url"], headers=B).status_code == 404
    as_json = client.post(f"{url}/shots", json={"text": "the square falls", "image": data_url(png_bytes(48, 32))},
                          headers=A)
    assert as_json.status_code == 201 and as_json.json()["shots"][2]["mode"] == "i2v"
    client.delete(f"{url}/shots/{as_json.json()['shots'][2]['id']}", headers=A)

    r = client.post(f"{url}/shots", json={"text": "it keeps going", "mode": "continue"}, headers=A)
    third = r.json()["shots"][2]
    edited = client.patch(f"{url}/shots/{shot['id']}", json={"prompt": "my own prompt", "duration": 6}, headers=A)
    assert edited.status_code == 200, edited.text
    assert edited.json()["shots"][0]["prompt"] == "my own prompt"
    assert edited.json()["shots"][0]["duration"] == 6.25
    retext = client.patch(f"{url}/shots/{shot['id']}", json={"text": "a green triangle spins"}, headers=A).json()
    assert "green triangle" in retext["shots"][0]["prompt"]  # a new text gets a new formula prompt

    order = [third["id"], shot["id"], i2v["id"]]
    r = client.put(f"{url}/order", json={"shot_ids": order}, headers=A)
    assert [s["id"] for s in r.json()["shots"]] == order and [s["index"] for s in r.json()["shots"]] == [0, 1, 2]
    assert error(client.put(f"{url}/order", json={"shot_ids": order[:2]}, headers=A), 400)["param"] == "shot_ids"
    assert error(client.put(f"{url}/order", json={"shot_ids": [order[0]] * 3}, headers=A), 400)["param"] == "shot_ids"

    r = client.delete(f"{url}/shots/{i2v['id']}", headers=A)
    assert [s["id"] for s in r.json()["shots"]] == order[:2]
    assert client.get(i2v["image_url"], headers=A).status_code == 404  # its image went with it


def test_bad_input_is_a_4xx_naming_the_field_and_nothing_is_lost(make_client):
    client = make_client()
    board = new_board(client, shots=shots(2))
    url = f"/api/v1/boards/{board['id']}"

    empty = error(client.post("/api/v1/boards", json={"name": "x", "script": "   \n "}, headers=A), 400)
    assert empty["param"] == "script" and "empty" in empty["message"]
    big = "A red ball rolls on green grass. " * 64_000  # ~2 MB
    huge = client.post(f"{url}/breakdown", json={"script": big}, headers=A)
    assert huge.status_code in (400, 413) and huge.json()["error"]["param"] == "script", huge.text
    many = error(client.post("/api/v1/boards", json={"name": "x", "shots": shots(200)}, headers=A), 400)
    assert many["param"] == "shots" and "200" in many["message"]
    assert error(client.post("/api/v1/boards", json={"name": ""}, headers=A), 400)["param"] == "name"
    assert error(client.post("/api/v1/boards", json={"name": "x", "width": 100}, headers=A), 400)["param"] == "width"
    assert error(client.post("/api/v1/boards", json={"name": "x", "model": "nope"}, headers=A), 400)["param"] == "model"
    assert error(client.post(f"{url}/shots", json={"text": ""}, headers=A), 400)["param"] == "text"
    assert error(client.post(f"{url}/shots", json={"text": "x", "candidates": 5}, headers=A), 400)["param"] == \
        "candidates"
    assert error(client.post(f"{url}/shots", json={"text": "x", "mode": "i2v"}, headers=A), 400)["param"] == "image"
    assert error(client.post(f"{url}/shots", json={"text": "x", "duration": 30}, headers=A), 400)["param"] == \
        "duration"
    assert error(client.post(f"{url}/shots", json={"text": "x", "image": "data:image/png;base64,AAAA"},
                             headers=A), 400)["param"] == "image"
    assert error(client.post(f"{url}/shots", json={"text": "x", "colour": "red"}, headers=A), 400)["param"] == \
        "colour"
    assert error(client.patch(f"{url}/shots/shot_{'0' * 24}", json={"text": "x"}, headers=A), 404)["param"] == \
        "shot_id"
    assert error(client.post(f"{url}/export", headers=A), 409)["param"] == "shots"  # no takes at all
    first_continues = client.patch(f"{url}/shots/{board['shots'][0]['id']}", json={"mode": "continue"}, headers=A)
    assert first_continues.status_code == 200
    assert error(client.post(f"{url}/render", headers=A), 400)["param"] == "shots[0].mode"

    after = client.get(url, headers=A).json()  # nothing lost, nothing queued by the refused requests
    assert [s["id"] for s in after["shots"]] == [s["id"] for s in board["shots"]]
    assert all(s["takes"] == [] for s in after["shots"])
    assert len(client.get("/api/v1/boards", headers=A).json()["data"]) == 1
    assert client.get("/api/v1/jobs", headers=A).json()["data"] == []


def test_keys_isolate_boards_and_takes(make_client):
    client = make_client()  # no worker: takes stay queued
    mine = new_board(client, shots=shots(1, candidates=2))
    theirs = new_board(client, headers=B, shots=shots(1))
    url = f"/api/v1/boards/{mine['id']}"
    for method, path, body in (("get", "", None), ("patch", "", {"name": "x"}), ("delete", "", None),
                               ("post", "/shots", {"text": "x"}), ("post", "/render", {}),
                               ("post", "/export", {}), ("put", "/order", {"shot_ids": []})):
        r = client.request(method.upper(), url + path, json=body, headers=B)
        assert r.status_code == 404 and r.json()["error"]["param"] == "board_id", (method, path, r.text)
    assert [b["id"] for b in client.get("/api/v1/boards", headers=B).json()["data"]] == [theirs["id"]]

    rendered = client.post(f"{url}/render", headers=A)
    assert rendered.status_code == 202, rendered.text
    shot = rendered.json()["shots"][0]
    assert shot["status"] == "queued" and len(shot["takes"]) == 2 and shot["seed"] is not None
    assert [t["seed"] for t in shot["takes"]] == [shot["seed"], shot["seed"] + 1]
    take = shot["takes"][0]
    assert client.get(f"/api/v1/jobs/{take['job_id']}", headers=B).status_code == 404
    job = client.get(f"/api/v1/jobs/{take['job_id']}", headers=A).json()
    assert (job["spec"]["seed"], job["spec"]["width"], job["spec"]["candidates"]) == (take["seed"], 192, 1)

    # a take of another board (B's own, or A's on B's board) is not this shot's: 404 naming take_id
    theirs = client.post(f"/api/v1/boards/{theirs['id']}/render", headers=B).json()
    other_take = theirs["shots"][0]["takes"][0]["id"]
    pick_url = f"{url}/shots/{shot['id']}/pick"
    assert error(client.post(pick_url, json={"take_id": other_take}, headers=A), 404)["param"] == "take_id"
    other_pick = f"/api/v1/boards/{theirs['id']}/shots/{theirs['shots'][0]['id']}/pick"
    assert error(client.post(other_pick, json={"take_id": take["id"]}, headers=B), 404)["param"] == "take_id"
    # a take still in the queue cannot be picked yet
    assert error(client.post(pick_url, json={"take_id": take["id"]}, headers=A), 409)["param"] == "take_id"

    # a render that does not fit the key's limit of active jobs queues nothing (429)
    crowded = client.post("/api/v1/boards", json={"name": "crowded", "shots": shots(13, candidates=4)},
                          headers=A).json()
    full = client.post(f"/api/v1/boards/{crowded['id']}/render", headers=A)
    assert full.status_code == 429 and "52 jobs" in full.json()["error"]["message"], full.text
    assert all(s["takes"] == [] for s in client.get(f"/api/v1/boards/{crowded['id']}", headers=A).json()["shots"])

    # deleting the board deletes its takes' jobs
    client.delete(url, headers=A)
    assert client.get(f"/api/v1/jobs/{take['job_id']}", headers=A).status_code == 404


def test_a_waiting_shot_stops_waiting_when_it_no_longer_continues(make_client):
    client = make_client()  # no worker: the first shot's take stays queued, so the second waits
    board = new_board(client, shots=[{"text": "a red ball rolls"}, {"text": "it keeps rolling", "mode": "continue"}])
    url = f"/api/v1/boards/{board['id']}"
    first, second = (s["id"] for s in board["shots"])
    assert [s["status"] for s in client.post(f"{url}/render", headers=A).json()["shots"]] == ["queued", "waiting"]
    again = client.post(f"{url}/render", headers=A).json()  # nothing new: the first has a take in flight
    assert [len(s["takes"]) for s in again["shots"]] == [1, 0]
    changed = client.patch(f"{url}/shots/{second}", json={"mode": "t2v"}, headers=A).json()
    assert changed["shots"][1]["status"] == "draft" and changed["shots"][1]["takes"] == []
    client.patch(f"{url}/shots/{second}", json={"mode": "continue"}, headers=A)
    waiting = client.post(f"{url}/render", json={"shot_ids": [second]}, headers=A).json()
    assert waiting["shots"][1]["status"] == "waiting"
    moved = client.put(f"{url}/order", json={"shot_ids": [second, first]}, headers=A).json()
    assert [s["status"] for s in moved["shots"]] == ["draft", "queued"] and moved["status"] == "rendering"


def test_render_pick_continue_from_the_last_frame_and_export(make_client):
    """Two shots, the second continuing the first: it waits for the first's pick, then starts
    from the picked take's last frame (its job's input image is that frame); both picked, the
    board exports one cut with a chapter per shot and the shot list."""
    import av
    import numpy as np
    from PIL import Image

    from shotsmith.post.source import read_tail

    client = make_client(worker=True)
    board = new_board(client, shots=[{"text": "a red ball rolls on green grass", "duration": 2.25},
                                      {"text": "the ball keeps rolling", "mode": "continue", "duration": 2.25}])
    url = f"/api/v1/boards/{board['id']}"
    started = client.post(f"{url}/render", headers=A).json()
    assert started["shots"][0]["status"] in ("queued", "rendering") and started["shots"][1]["status"] == "waiting"
    assert started["status"] == "rendering"
    board = wait_board(client, url, lambda b: b["shots"][0]["status"] == "done")
    assert board["shots"][1]["status"] == "waiting" and board["shots"][1]["takes"] == []
    take = board["shots"][0]["takes"][0]
    assert take["status"] == "completed" and take["duration"] == pytest.approx(2.25, abs=0.05)

    picked = client.post(f"{url}/shots/{board['shots'][0]['id']}/pick", json={"take_id": take["id"]}, headers=A)
    assert picked.json()["shots"][0]["picked_take_id"] == take["id"]
    assert picked.json()["shots"][1]["status"] in ("queued", "rendering", "done")
    board = wait_board(client, url, lambda b: b["shots"][1]["status"] == "done")
    second = board["shots"][1]["takes"][0]
    job = client.get(f"/api/v1/jobs/{second['job_id']}", headers=A).json()
    assert job["status"] == "completed" and job["model"] == "cogvideox-shapes-i2v"

    # the continued shot's input image is the picked take's last frame
    home = client.app.state.settings.home
    last = read_tail(home / "jobs" / take["job_id"] / "clip.mp4", seconds=0)[-1].astype(float)
    first_frame = np.asarray(Image.open(home / "jobs" / second["job_id"] / "input.png").convert("RGB"), float)
    assert first_frame.shape == last.shape
    assert np.abs(first_frame - last).mean() < 1.0
    assert board["progress"] == {"shots": 2, "rendered": 2, "picked": 1, "percent": 100}

    # export: one MP4 of the shots' summed length with a chapter per shot, the shot list beside it
    assert error(client.post(f"{url}/export", headers=A), 409)["param"] == "shots"  # shot 2 has no pick yet
    client.post(f"{url}/shots/{board['shots'][1]['id']}/pick", json={"take_id": second["id"]}, headers=A)
    assert error(client.post(f"{url}/export", json={"crossfade": 3}, headers=A), 400)["param"] == "crossfade"
    r = client.post(f"{url}/export", headers=A)
    assert r.status_code == 200, r.text
    board = r.json()
    assert board["status"] == "exported"
    assert (board["export"]["chapters"], board["export"]["duration"]) == (2, pytest.approx(4.5, abs=0.1))
    cut = client.get(board["export"]["cut_url"], headers=A)
    assert cut.status_code == 200 and client.get(board["export"]["cut_url"], headers=B).status_code == 404
    with av.open(io.BytesIO(cut.content)) as container:
        assert [c["metadata"].get("title") for c in container.chapters()] == ["Shot 1", "Shot 2"]
        video = container.streams.video[0].codec_context
        assert (video.width, video.height) == (192, 128)
    assert "the ball keeps rolling" in client.get(board["export"]["csv_url"], headers=A).text
    assert "<html" in client.get(board["export"]["html_url"], headers=A).text.lower()
    for name in ("%2E%2E/%2E%2E/jobs.sqlite3", "..%2F..%2Fjobs.sqlite3", "%2Fetc%2Fpasswd"):
        assert error(client.get(f"{url}/files/{name}", headers=A), 404)["param"] == "name"

    # an edit that changes the cut (a reorder) makes the export stale until exported again
    ids = [s["id"] for s in board["shots"]][::-1]
    reordered = client.put(f"{url}/order", json={"shot_ids": ids}, headers=A).json()
    assert reordered["export"] is None and reordered["status"] == "ready"

    # a pick through PATCH: null unpicks; a bad field alongside changes nothing
    shot_url = f"{url}/shots/{ids[1]}"
    refused = client.patch(shot_url, json={"picked_take_id": None, "candidates": 9}, headers=A)
    assert error(refused, 400)["param"] == "candidates"
    assert client.get(url, headers=A).json()["shots"][1]["picked_take_id"] == take["id"]
    unpicked = client.patch(shot_url, json={"picked_take_id": None}, headers=A).json()
    assert unpicked["shots"][1]["picked_take_id"] is None and unpicked["status"] == "draft"
    repicked = client.patch(shot_url, json={"picked_take_id": take["id"]}, headers=A).json()
    assert repicked["shots"][1]["picked_take_id"] == take["id"] and repicked["status"] == "ready"


def wait_board(client, url: str, done, timeout: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        board = client.get(url, headers=A).json()
        if done(board):
            return board
        if any(t["status"] == "failed" for s in board["shots"] for t in s["takes"]):
            raise AssertionError(f"a take failed: {board}")
        time.sleep(0.2)
    raise AssertionError(f"board not done after {timeout}s: {board}")


# CLI -----------------------------------------------------------------------------------------

def test_cli_makes_a_board_from_a_script_file_and_shows_lists_and_deletes_it(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from shotsmith.cli import app

    monkeypatch.setenv("SHOTSMITH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SHOTSMITH_API_KEY", raising=False)
    runner = CliRunner()
    script = Path(__file__).parent / "data" / "board_script.md"
    made = runner.invoke(app, ["board", "new", "Pip", "--script", str(script), "--size", "192x128", "--json"])
    assert made.exit_code == 0, made.output
    board = json.loads(made.stdout)
    assert len(board["shots"]) == 5 and [s["mode"] for s in board["shots"]][2] == "continue"
    added = runner.invoke(app, ["board", "add", board["id"], "a yellow triangle spins", "--duration", "2",
                                "--seed", "7", "--json"])
    assert added.exit_code == 0, added.output
    assert json.loads(added.stdout)["shots"][5]["seed"] == 7
    listed = runner.invoke(app, ["board", "list"])
    assert board["id"] in listed.stdout and "6 shots" in listed.stdout
    shown = runner.invoke(app, ["board", "show", board["id"]])
    assert shown.exit_code == 0 and "Meadow" in shown.stdout

    bad = runner.invoke(app, ["board", "add", board["id"], "x", "--candidates", "9"])
    assert bad.exit_code == 2 and "candidates" in bad.output and "Traceback" not in bad.output
    empty = tmp_path / "empty.md"
    empty.write_text("  \n")
    refused = runner.invoke(app, ["board", "new", "x", "--script", str(empty)])
    assert refused.exit_code == 2 and "script" in refused.output
    unpicked = runner.invoke(app, ["board", "export", board["id"]])
    assert unpicked.exit_code == 2 and "no picked take" in unpicked.output
    assert runner.invoke(app, ["board", "delete", board["id"]]).exit_code == 0
    gone = runner.invoke(app, ["board", "show", board["id"]])
    assert gone.exit_code == 2 and "no board" in gone.output
