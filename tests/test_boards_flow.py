"""The storyboard's must-show (issue 23), through a real `shotsmith serve` with the embedded model.

The 5-shot board of tests/data/board_script.md at K=2, the server killed mid-render and started
again, every shot picked, exported: the cut lasts the sum of the shots, has 5 chapters, each
chapter opens on its picked take's first frame, and the continued shot opens on the previous
take's last frame. Then the board is deleted with its files. Also: boards on PostgreSQL.
"""

from __future__ import annotations

import io
import time
from pathlib import Path
from urllib.parse import urlsplit

import av
import numpy as np
import pytest

from api_server import KEY_A, KEY_B, start_server
from shotsmith.eval.shapes_eval import psnr
from shotsmith.post.source import resize_frame

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).parent / "data" / "board_script.md"
NATIVE = (96, 64)  # the embedded models' native size


def frames_of(data: bytes) -> list[np.ndarray]:
    with av.open(io.BytesIO(data)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(container.streams.video[0])]


def wait_board(client, url: str, done, timeout: float = 600.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        board = client.get(url).json()
        if done(board):
            return board
        time.sleep(0.5)
    raise AssertionError(f"board not done after {timeout}s: {board}")


def all_settled(board: dict) -> bool:
    """Nothing queued, rendering, or waiting on a pick it already has."""
    shots = board["shots"]
    return all(s["status"] not in ("queued", "rendering") for s in shots) and not any(
        s["status"] == "waiting" and shots[s["index"] - 1]["picked_take_id"] for s in shots)


def test_a_scripted_board_renders_survives_a_restart_and_exports_one_cut(tmp_path):
    home = tmp_path / "home"
    server = start_server(home)
    try:
        client = server.client(KEY_A)
        created = client.post("/api/v1/boards", json={"name": "Pip's day out", "script": SCRIPT.read_text()})
        assert created.status_code == 201, created.text
        board = created.json()
        url = f"/api/v1/boards/{board['id']}"
        assert len(board["shots"]) == 5
        assert [s["mode"] for s in board["shots"]] == ["t2v", "t2v", "continue", "t2v", "t2v"]
        for shot in board["shots"]:
            assert client.patch(f"{url}/shots/{shot['id']}", json={"candidates": 2}).status_code == 200

        started = client.post(f"{url}/render")
        assert started.status_code == 202, started.text
        assert [s["status"] for s in started.json()["shots"]][2] == "waiting"

        # Kill the server (SIGKILL) once some takes are done and others are not.
        mid = wait_board(client, url, lambda b: sum(t["status"] == "completed"
                                                    for s in b["shots"] for t in s["takes"]) >= 2)
        finished = {t["id"]: urlsplit(t["video_url"]).path for s in mid["shots"] for t in s["takes"]
                    if t["status"] == "completed"}
        assert len(finished) < 8, "everything finished before the restart: nothing was interrupted"
        server.kill()
        server = start_server(home)
        client = server.client(KEY_A)
        after = client.get(url).json()
        assert [s["id"] for s in after["shots"]] == [s["id"] for s in board["shots"]]
        kept = {t["id"]: t for s in after["shots"] for t in s["takes"]}
        for take_id, video_url in finished.items():
            assert kept[take_id]["status"] == "completed" and urlsplit(kept[take_id]["video_url"]).path == video_url
            assert client.get(video_url).status_code == 200

        board = wait_board(client, url, all_settled)
        assert [len(s["takes"]) for s in board["shots"]] == [2, 2, 0, 2, 2]
        assert all(t["status"] == "completed" for s in board["shots"] for t in s["takes"])
        assert [s["status"] for s in board["shots"]][2] == "waiting"
        # each rendered shot's seed is fixed and shown; its takes are seed and seed + 1
        assert [s["seed"] is not None for s in board["shots"]] == [True, True, False, True, True]
        assert [[t["seed"] for t in s["takes"]] for s in board["shots"] if s["takes"]] == \
            [[s["seed"], s["seed"] + 1] for s in board["shots"] if s["takes"]]

        # Pick (the second take of shot 2, so the continued shot must follow the pick, not take 1).
        choice = [0, 1, 0, 1, 0]
        for i in (0, 1):
            shot = board["shots"][i]
            r = client.post(f"{url}/shots/{shot['id']}/pick", json={"take_id": shot["takes"][choice[i]]["id"]})
            assert r.status_code == 200, r.text
        assert r.json()["shots"][2]["status"] in ("queued", "rendering", "done")
        board = wait_board(client, url, all_settled)
        for i in (2, 3, 4):
            shot = board["shots"][i]
            r = client.post(f"{url}/shots/{shot['id']}/pick", json={"take_id": shot["takes"][choice[i]]["id"]})
            assert r.status_code == 200, r.text
        board = r.json()
        assert board["status"] == "ready" and board["progress"]["picked"] == 5

        exported = client.post(f"{url}/export")
        assert exported.status_code == 200, exported.text
        board = exported.json()
        assert board["status"] == "exported"
        cut = client.get(board["export"]["cut_url"])
        assert cut.status_code == 200
        picked = [next(t for t in s["takes"] if t["id"] == s["picked_take_id"]) for s in board["shots"]]
        takes = [frames_of(client.get(t["video_url"]).content) for t in picked]

        # The cut: the sum of the shots' durations, 5 chapters, each opening on its take's first frame.
        total = sum(s["duration"] for s in board["shots"])
        with av.open(io.BytesIO(cut.content)) as container:
            chapters = [(c["metadata"].get("title"), float(c["start"] * c["time_base"]))
                        for c in container.chapters()]
            stream = container.streams.video[0]
            duration = float(stream.duration * stream.time_base)
            fps = float(stream.average_rate)
            cut_frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
        print(f"cut: {duration:.3f} s for shots summing to {total:.3f} s, {len(chapters)} chapters")
        assert abs(duration - total) <= 0.1, (duration, total)
        assert abs(board["export"]["duration"] - total) <= 0.1
        assert len(chapters) == 5 and board["export"]["chapters"] == 5
        assert [title for title, _ in chapters] == [s["title"] for s in board["shots"]]
        scores = []
        for (title, start), frames in zip(chapters, takes):
            scores.append(psnr(cut_frames[round(start * fps)], frames[0]))
        print("chapter first frame vs picked take, PSNR dB:", [round(s, 1) for s in scores])
        assert min(scores) >= 30, scores

        # The continued shot opens on the last frame of the take picked before it (at native size).
        last = resize_frame(takes[1][-1], *NATIVE)
        first = resize_frame(takes[2][0], *NATIVE)
        continuity = psnr(first, last)
        print(f"continued shot's first frame vs previous take's last frame: {continuity:.1f} dB")
        assert continuity >= 25

        # The shot list is served beside the cut.
        for key in ("html_url", "csv_url", "md_url"):
            assert client.get(board["export"][key]).status_code == 200
        assert server.client(KEY_B).get(board["export"]["cut_url"]).status_code == 404

        # Deleting the board removes its files and its takes' clips.
        folder = home / "boards" / board["id"]
        assert (folder / "cut.mp4").is_file()
        job_dirs = [home / "jobs" / t["job_id"] for s in board["shots"] for t in s["takes"]]
        assert all(d.is_dir() for d in job_dirs)
        assert client.delete(url).json()["deleted"] is True
        assert not folder.exists()
        assert not any(d.exists() for d in job_dirs)
        assert client.get(url).status_code == 404
        assert client.get(picked[0]["video_url"]).status_code == 404
    finally:
        server.stop()


def test_boards_live_in_postgresql_with_db(tmp_path, postgres):
    """`--db postgresql://...`: the board tables are made by the migration there, and a board with
    a rendered take reads back after a restart."""
    postgres.query("DROP TABLE IF EXISTS board_takes, board_shots, boards, jobs, alembic_version")
    env = {"SHOTSMITH_DB": postgres.url}
    server = start_server(tmp_path / "home", env=env)
    try:
        client = server.client(KEY_A)
        board = client.post("/api/v1/boards", json={
            "name": "pg", "width": 192, "height": 128, "steps": 2, "interpolation": "none",
            "shots": [{"text": "a red ball rolls on green grass", "duration": 2.25, "seed": 4_000_000_000}]}).json()
        url = f"/api/v1/boards/{board['id']}"
        client.post(f"{url}/render")
        done = wait_board(client, url, lambda b: b["shots"][0]["status"] in ("done", "failed"))
        assert done["shots"][0]["status"] == "done" and done["shots"][0]["takes"][0]["seed"] == 4_000_000_000
        rows = postgres.query("SELECT count(*) FROM board_takes")
        assert list(rows)[0][0] == 1
        server.stop()
        server = start_server(tmp_path / "home", env=env)
        again = server.client(KEY_A).get(url).json()
        assert again["shots"][0]["takes"][0]["status"] == "completed"
    finally:
        server.stop()
        # the session's other PostgreSQL tests drop only jobs and alembic_version before theirs
        postgres.query("DROP TABLE IF EXISTS board_takes, board_shots, boards, jobs, alembic_version")


def test_board_routes_hold_up_to_generated_requests(tmp_path):
    """Property-based run of the /api/v1/boards routes against their OpenAPI document (no worker):
    no 5xx, documented statuses and content types, whatever the body."""
    pytest.importorskip("schemathesis")
    import subprocess
    import sys

    srv = start_server(tmp_path / "home", env={"SHOTSMITH_WORKER": "0", "SHOTSMITH_FETCH_IMAGE_URLS": "0"})
    try:
        board = srv.client(KEY_A).post("/api/v1/boards", json={"name": "fuzz", "shots": [{"text": "a red ball"}]})
        assert board.status_code == 201
        result = subprocess.run(
            [sys.executable, "-c", "import sys; from schemathesis.cli import schemathesis; sys.exit(schemathesis())",
             "run", f"{srv.url}/openapi.json", "-H", f"Authorization: Bearer {KEY_A}", "--checks", "all",
             "--exclude-checks", "positive_data_acceptance", "--max-examples", "30", "--seed", "1",
             "--request-timeout", "30", "--include-path-regex", r"^/api/v1/boards"],
            capture_output=True, text=True, timeout=600, cwd=tmp_path)
        assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
        assert "Traceback" not in srv.log()
    finally:
        srv.stop()


def test_the_cli_renders_picks_and_exports_a_board_in_process(tmp_path):
    """`shotsmith board` end to end with no server: render waits on a worker in its own process,
    a pick starts the continue shot, the next render runs it, export prints the cut's path."""
    import json
    import os
    import subprocess
    import sys

    from api_server import REPO

    env = {**os.environ, "SHOTSMITH_HOME": str(tmp_path / "home"), "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": str(REPO / "src")}
    env.pop("SHOTSMITH_API_KEY", None)

    def board(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "shotsmith", "board", *args], capture_output=True, text=True,
                              env=env, timeout=600)

    script = tmp_path / "script.md"
    script.write_text("## Meadow (2 s)\n\nA red ball rolls right on green grass.\n\n"
                      "## Meadow, later (continues) (2 s)\n\nThe red ball keeps rolling right.\n")
    made = board("new", "cli", "--script", str(script), "--size", "192x128", "--steps", "2",
                 "--interpolation", "none", "--json")
    assert made.returncode == 0, made.stderr
    board_id = json.loads(made.stdout)["id"]
    first = board("render", board_id, "--json")
    assert first.returncode == 0, first.stderr
    shots = json.loads(first.stdout)["shots"]
    assert [s["status"] for s in shots] == ["done", "waiting"]
    assert board("pick", board_id, "1", "1").returncode == 0
    second = board("render", board_id, "--json")
    assert second.returncode == 0, second.stderr
    assert [s["status"] for s in json.loads(second.stdout)["shots"]] == ["done", "done"]
    assert board("pick", board_id, "2", "1").returncode == 0
    exported = board("export", board_id)
    assert exported.returncode == 0, exported.stderr
    paths = [Path(p) for p in exported.stdout.split()]
    assert [p.name for p in paths] == ["cut.mp4", "shotlist.html", "shotlist.csv", "shotlist.md"]
    assert all(p.is_file() for p in paths)
    with av.open(str(paths[0])) as container:
        assert len(container.chapters()) == 2


def test_a_board_renders_on_queue_workers(tmp_path, postgres):
    """`serve --queue` with PostgreSQL: a board's takes are ordinary queue jobs, run by a
    `shotsmith worker` process; the continue shot goes on the queue once its predecessor is picked."""
    import os
    import signal
    import subprocess
    import sys

    from api_server import REPO
    from services import start_redis

    postgres.query("DROP TABLE IF EXISTS board_takes, board_shots, boards, jobs, alembic_version")
    redis = start_redis()
    home = tmp_path / "home"
    server = start_server(home, env={"SHOTSMITH_QUEUE": redis.url, "SHOTSMITH_DB": postgres.url})
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    worker = subprocess.Popen([sys.executable, "-m", "shotsmith", "worker", "--queue", redis.url, "--db", postgres.url,
                               "--home", str(home)], stdout=open(tmp_path / "worker.log", "wb"),
                              stderr=subprocess.STDOUT, env=env)
    try:
        client = server.client(KEY_A)
        board = client.post("/api/v1/boards", json={
            "name": "queue", "width": 192, "height": 128, "steps": 2, "interpolation": "none",
            "shots": [{"text": "a red ball rolls on green grass", "duration": 2.25},
                      {"text": "the red ball keeps rolling", "mode": "continue", "duration": 2.25}]}).json()
        url = f"/api/v1/boards/{board['id']}"
        assert client.post(f"{url}/render").status_code == 202
        board = wait_board(client, url, lambda b: b["shots"][0]["status"] in ("done", "failed"))
        assert board["shots"][0]["status"] == "done", board
        take = board["shots"][0]["takes"][0]
        client.post(f"{url}/shots/{board['shots'][0]['id']}/pick", json={"take_id": take["id"]})
        board = wait_board(client, url, lambda b: b["shots"][1]["status"] in ("done", "failed"))
        assert board["shots"][1]["status"] == "done", board
        worker_log = (tmp_path / "worker.log").read_text(errors="replace")
        for shot in board["shots"]:
            assert shot["takes"][0]["job_id"] in worker_log  # run by the queue worker, not the server
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
        server.stop()
        redis.stop()
        postgres.query("DROP TABLE IF EXISTS board_takes, board_shots, boards, jobs, alembic_version")
