"""The warm CLI (client.py): `shotsmith generate` / `enhance` on a running `shotsmith serve`.

A real server in a subprocess (api_server.start_server) and the real CLI in subprocesses,
as a user runs them: the clip made on the server is frame-identical to the one made
in-process; a stale discovery file, a closed port or a server that never answers fall back
in one line within a bounded time; a wrong or missing key fails with one clear line; --local
never touches the server; --help, models and enhance import no torch/diffusers/transformers.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from api_server import KEY_A, PROMPT, REPO, free_port, start_server

from shotsmith import client
from shotsmith.post import decode_frames
from shotsmith.settings import Settings
from shotsmith.spec import build_spec

HEAVY = ("torch", "diffusers", "transformers")
# Small and quick on the embedded model (which the server preloads): 2 steps, 9 frames, 192x128.
QUICK = ["--seed", "11", "--steps", "2", "--frames", "9", "--size", "192x128", "--no-enhance"]


# What decides which server the CLI uses and with what key: set by each test, never inherited.
# (SHOTSMITH_THREADS and the rest are inherited, as the server started by api_server inherits them:
# the frame comparison needs both processes to render alike.)
CLIENT_VARS = ("SHOTSMITH_HOME", "SHOTSMITH_SERVER", "SHOTSMITH_API_KEY", "SHOTSMITH_API_KEYS",
               "SHOTSMITH_SERVER_TIMEOUT_S")


def cli_env(home: Path, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in CLIENT_VARS}
    env.update({"PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "src"), env.get("PYTHONPATH")])),
                "SHOTSMITH_HOME": str(home), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"})
    env.update(extra)
    return env


def run_cli(args: list[str], env: dict, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "shotsmith.cli", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=timeout)


def server_jobs(server) -> list[dict]:
    with server.client(KEY_A) as http:
        return http.get("/api/v1/jobs").json()["data"]


@pytest.fixture(scope="module")
def warm(tmp_path_factory):
    srv = start_server(tmp_path_factory.mktemp("warm-home"), keys=(KEY_A,))
    try:
        yield srv
    finally:
        srv.stop()


# --- the discovery file ---------------------------------------------------------------


def test_serve_announces_itself_in_its_home_owner_only(warm):
    path = warm.home / "server.json"
    record = json.loads(path.read_text())
    assert record["url"] == warm.url and record["pid"] == warm.proc.pid and record["version"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_clean_shutdown_removes_the_discovery_file(tmp_path):
    srv = start_server(tmp_path / "home", keys=(KEY_A,), env={"SHOTSMITH_PRELOAD": "", "SHOTSMITH_WORKER": "0"})
    try:
        assert (srv.home / "server.json").exists()
        # a server without a worker would queue the job forever: the CLI does not use it
        with pytest.raises(client.ServerUnavailable, match="no worker"):
            client.find_server(Settings(home=srv.home, api_key=KEY_A))
    finally:
        srv.stop()
    assert srv.proc.returncode is not None and not (srv.home / "server.json").exists()


# --- the warm path ----------------------------------------------------------------------


@pytest.mark.slow  # two product clips and a server (~30 s)
def test_warm_clip_is_frame_identical_to_the_in_process_clip(warm, tmp_path):
    env = cli_env(warm.home, SHOTSMITH_API_KEY=KEY_A)
    before = len(server_jobs(warm))
    remote = run_cli(["generate", PROMPT, *QUICK, "--candidates", "2", "--out", str(tmp_path / "w" / "shot.mp4"),
                      "--json"], env, tmp_path)
    assert remote.returncode == 0, remote.stderr
    assert f"made by the server at {warm.url}" in remote.stderr
    assert len(server_jobs(warm)) == before + 1
    local = run_cli(["generate", PROMPT, *QUICK, "--candidates", "2", "--out", str(tmp_path / "l" / "shot.mp4"),
                     "--json", "--local"], env, tmp_path)
    assert local.returncode == 0, local.stderr
    assert "server" not in local.stderr
    assert len(server_jobs(warm)) == before + 1  # --local never touched the server

    # the same files under the same names, and the same output lines
    names = sorted(p.name for p in (tmp_path / "w").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "l").iterdir())
    assert "shot-contact.jpg" in names and "shot-2.sprite.jpg" in names
    warm_info, local_info = json.loads(remote.stdout), json.loads(local.stdout)
    for w, l in zip(warm_info["clips"], local_info["clips"]):
        assert Path(w["video"]).name == Path(l["video"]).name
        assert {k: w[k] for k in ("seed", "width", "height", "fps", "frames")} == \
               {k: l[k] for k in ("seed", "width", "height", "fps", "frames")}
        assert np.array_equal(decode_frames(w["video"]), decode_frames(l["video"]))
        sidecar = json.loads(Path(w["sidecar"]).read_text())
        assert sidecar["files"] == json.loads(Path(l["sidecar"]).read_text())["files"]
        assert sidecar["metadata"]["seed"] == w["seed"]


def test_warm_generate_imports_no_torch(warm, tmp_path):
    code = heavy_modules_after(["generate", PROMPT, *QUICK, "--out", str(tmp_path / "c.mp4")],
                               cli_env(warm.home, SHOTSMITH_API_KEY=KEY_A), tmp_path)
    assert code["modules"] == [] and code["exit"] == 0, code
    assert (tmp_path / "c.mp4").exists() and (tmp_path / "c.gif").exists() and (tmp_path / "c.sprite.jpg").exists()


def test_fields_the_native_api_does_not_take_keep_the_run_in_process():
    """native size is not in the native contract (its cost is not capped there): the CLI says so
    in one line and runs in-process; frames and cache are."""
    spec = build_spec(prompt="x", native_width=64, native_height=48, enhance=False)
    assert client.why_local(spec) == "--native-size is not part of the server's API"
    assert client.why_local(build_spec(prompt="x", frames=9, cache="none")) is None  # both in JOB_FIELDS


def test_enhance_on_a_named_server_matches_local(warm, tmp_path):
    env = cli_env(warm.home, SHOTSMITH_API_KEY=KEY_A)
    remote = run_cli(["enhance", "a blue cube spins", "--style", "anime-2d", "--json", "--server", warm.url], env,
                     tmp_path)
    local = run_cli(["enhance", "a blue cube spins", "--style", "anime-2d", "--json", "--local"], env, tmp_path)
    assert remote.returncode == local.returncode == 0, remote.stderr + local.stderr
    assert json.loads(remote.stdout) == json.loads(local.stdout)
    # written for a named model: the server reads the same 48-token window as this process
    remote = run_cli(["enhance", "a blue square moves up", "--model", "cogvideox-shapes", "--json", "--server",
                      warm.url], env, tmp_path)
    assert remote.returncode == 0, remote.stderr
    assert json.loads(remote.stdout)["prompt"] == "a blue square moves up"
    assert json.loads(remote.stdout)["token_limit"] == 48
    bad = run_cli(["enhance", "a cube", "--style", "vaporwave-deluxe", "--server", warm.url], env, tmp_path)
    assert bad.returncode == 2 and "vaporwave-deluxe" in bad.stderr and "Traceback" not in bad.stderr
    # asked through the server: a wrong key is the same one-line error as for generate
    wrong = run_cli(["enhance", "a cube", "--server", warm.url], cli_env(warm.home, SHOTSMITH_API_KEY="sk-no"),
                    tmp_path)
    assert wrong.returncode == 2 and "refused the API key" in wrong.stderr


def test_enhance_with_rules_stays_local_beside_this_homes_server(warm, tmp_path):
    """The rule backend needs no model: with this home's server running it still runs here
    (faster, same answer), and never touches the server, even with a wrong key."""
    result = run_cli(["enhance", "a blue cube spins"], cli_env(warm.home, SHOTSMITH_API_KEY="sk-no"), tmp_path)
    assert result.returncode == 0 and result.stdout.strip() and not result.stderr.strip(), result.stderr


# --- keys --------------------------------------------------------------------------------


@pytest.mark.parametrize("key, words", [("sk-wrong", "refused the API key"), (None, "needs an API key")])
def test_a_wrong_or_missing_key_fails_with_one_line(warm, tmp_path, key, words):
    env = cli_env(warm.home, **({"SHOTSMITH_API_KEY": key} if key else {}))
    started = time.monotonic()
    result = run_cli(["generate", PROMPT, *QUICK, "--out", str(tmp_path / "c.mp4")], env, tmp_path, timeout=60)
    assert time.monotonic() - started < 30
    assert result.returncode == 2, result.stderr
    assert words in result.stderr and "SHOTSMITH_API_KEY" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "c.mp4").exists()


# --- a server that is not there ----------------------------------------------------------


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def write_server_file(home: Path, url: str, pid: int) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    path = home / "server.json"
    path.write_text(json.dumps({"url": url, "pid": pid, "version": "0.1.0", "started_at": 0}))
    return path


def test_stale_file_falls_back_in_one_line(tiny_model_dirs, tmp_path):
    home = tmp_path / "home"
    path = write_server_file(home, f"http://127.0.0.1:{free_port()}", dead_pid())
    result = run_cli(["generate", "a red ball", "--model", str(tiny_model_dirs["t2v"]), "--steps", "1", "--frames",
                      "9", "--size", "192x128", "--no-enhance", "--out", str(tmp_path / "c.mp4")],
                     cli_env(home), tmp_path)
    assert result.returncode == 0, result.stderr
    notes = [line for line in result.stderr.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and "stale" in notes[0] and "running in-process" in notes[0], result.stderr
    assert (tmp_path / "c.mp4").exists() and not path.exists()  # the stale file is gone


def test_closed_port_falls_back_quickly(tmp_path):
    settings = Settings(home=tmp_path)
    write_server_file(tmp_path, f"http://127.0.0.1:{free_port()}", os.getpid())  # pid alive, nobody listening
    started = time.monotonic()
    with pytest.raises(client.ServerUnavailable, match="does not answer .connection refused"):
        client.find_server(settings)
    assert time.monotonic() - started < 2


def test_a_server_that_never_answers_is_given_up_within_the_timeout(tmp_path):
    with socket.socket() as listener:  # accepts connections, never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        settings = Settings(home=tmp_path, server=url, server_timeout_s=0.5)
        started = time.monotonic()
        with pytest.raises(client.ServerUnavailable, match="timed out"):
            client.find_server(settings)
        assert time.monotonic() - started < 3


def test_a_file_others_can_write_is_not_trusted(tmp_path):
    path = write_server_file(tmp_path, f"http://127.0.0.1:{free_port()}", os.getpid())
    path.chmod(0o666)
    with pytest.raises(client.ServerUnavailable, match="not yours alone"):
        client.find_server(Settings(home=tmp_path))


def test_no_file_means_no_server_and_nothing_to_say(tmp_path):
    assert client.find_server(Settings(home=tmp_path)) is None


@pytest.mark.parametrize("command", [["generate", "x", "--out", "c.mp4"], ["enhance", "x"]])
def test_a_bad_server_url_names_its_variable_or_option(tmp_path, command):
    env = cli_env(tmp_path, SHOTSMITH_SERVER="localhost:8000")
    result = run_cli(command, env, tmp_path, timeout=60)
    assert result.returncode == 2 and "SHOTSMITH_SERVER" in result.stderr and "Traceback" not in result.stderr
    result = run_cli([*command, "--server", "localhost:8000"], cli_env(tmp_path), tmp_path, timeout=60)
    assert result.returncode == 2 and "--server: 'localhost:8000'" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


# --- start-up ------------------------------------------------------------------------------


WRAPPER = """
import json, runpy, sys
sys.argv = ["shotsmith", *json.loads(sys.argv[1])]
code = 0
try:
    runpy.run_module("shotsmith.cli", run_name="__main__")
except SystemExit as exc:
    code = exc.code or 0
print(json.dumps({"exit": code, "modules": sorted(m for m in %r if m in sys.modules)}), file=sys.stderr)
""" % (HEAVY,)


def heavy_modules_after(args: list[str], env: dict, cwd: Path) -> dict:
    proc = subprocess.run([sys.executable, "-c", WRAPPER, json.dumps(args)], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=300)
    return json.loads(proc.stderr.strip().splitlines()[-1])


@pytest.mark.parametrize("args", [["--help"], ["models"], ["enhance", "a red ball rolls"], ["generate", "--help"]])
def test_light_commands_import_no_torch(args, tmp_path):
    result = heavy_modules_after(args, cli_env(tmp_path), tmp_path)
    assert result == {"exit": 0, "modules": []}


SERVE_UNTIL_LISTENING = """
import json, sys
import uvicorn

def listen(self, sockets=None):  # where uvicorn would bind and answer /healthz
    print(json.dumps(sorted(m for m in %r if m in sys.modules)), file=sys.stderr)

uvicorn.Server.run = listen
from shotsmith.cli import app
app(["serve", "--port", "0"])
""" % (HEAVY,)


def test_serve_imports_no_torch_before_it_listens(tmp_path):
    """/healthz answers before the model and its libraries load (the worker thread loads them)."""
    proc = subprocess.run([sys.executable, "-c", SERVE_UNTIL_LISTENING], capture_output=True, text=True,
                          env=cli_env(tmp_path / "home"), cwd=tmp_path, timeout=120)
    assert json.loads(proc.stderr.strip().splitlines()[-1]) == [], proc.stderr[-2000:]
