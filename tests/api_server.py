"""Shared helpers for the API tests: a real `python -m shotsmith.api` server in a subprocess.

Each test module gets its own server (module-scoped fixture) on a free loopback
port with a temporary SHOTSMITH_HOME, and talks to it over HTTP like a client.
"""

from __future__ import annotations

import base64
import io
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[1]
KEY_A = "sk-shotsmith-test-alpha"
KEY_B = "sk-shotsmith-test-beta"
# Small, fast requests: 2 denoising steps, a 480x320 output, no prompt agent (tested on its own).
FAST = {"steps": 2, "enhance": False}
FAST_SIZE = "480x320"
PROMPT = "a red ball rolls to the right on green grass"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    url: str
    home: Path
    port: int
    proc: subprocess.Popen
    log_path: Path
    keys: tuple[str, ...] = field(default=(KEY_A, KEY_B))

    def client(self, key: str | None = KEY_A, **kwargs) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60, **kwargs)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no cleanup, no graceful shutdown, like a crash or the OOM killer."""
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


def start_server(home: Path, *, keys: tuple[str, ...] = (KEY_A, KEY_B), env: dict | None = None,
                 port: int | None = None, timeout: float = 180.0, wait_ready: bool = True) -> Server:
    port = port or free_port()
    environ = dict(os.environ)
    environ.update({
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "src"), environ.get("PYTHONPATH")])),
        "SHOTSMITH_HOME": str(home),
        "SHOTSMITH_API_KEYS": ",".join(keys),
        "SHOTSMITH_POLL_AFTER_MS": "200",
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    })
    environ.update(env or {})
    home.mkdir(parents=True, exist_ok=True)
    log_path = home.parent / f"{home.name}-server-{port}.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "shotsmith.api", "--host", "127.0.0.1", "--port", str(port)],
                                stdout=log, stderr=subprocess.STDOUT, env=environ, cwd=str(home.parent))
    server = Server(f"http://127.0.0.1:{port}", home, port, proc, log_path, keys)
    wait_healthy(server, timeout=timeout, ready=wait_ready)
    return server


def wait_healthy(server: Server, *, timeout: float = 180.0, ready: bool = True) -> dict:
    """Until /healthz answers (and, with ready, the worker has its model loaded)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if not server.alive():
            raise RuntimeError(f"server exited with {server.proc.returncode}:\n{server.log()[-4000:]}")
        try:
            last = httpx.get(f"{server.url}/healthz", timeout=5).json()
            if last["status"] == "ok" or (not ready and last["status"] == "starting"):
                return last
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    server.kill()
    raise RuntimeError(f"server not healthy after {timeout}s (last: {last}):\n{server.log()[-4000:]}")


def wait_for(client: httpx.Client, video_id: str, *, statuses=("completed", "failed", "cancelled"),
             timeout: float = 240.0, path: str = "/api/v1/jobs/{id}") -> dict:
    """Poll a job (native view by default) until it reaches one of statuses."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(path.format(id=video_id)).json()
        if job.get("status") in statuses:
            return job
        time.sleep(0.25)
    raise AssertionError(f"job {video_id} not in {statuses} after {timeout}s: {job}")


def png_bytes(width: int = 96, height: int = 64, color=(200, 40, 40)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buf, format="PNG")
    return buf.getvalue()


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode()


def decode_video(data: bytes) -> dict:
    """Decode every frame of an MP4 with PyAV: proof that the file is a playable video."""
    import av

    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        frames = [frame for frame in container.decode(stream)]
        return {"frames": len(frames), "width": stream.codec_context.width, "height": stream.codec_context.height,
                "codec": stream.codec_context.name}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = start_server(tmp_path_factory.mktemp("home"))
    try:
        yield srv
    finally:
        srv.stop()
        if srv.proc.returncode not in (0, -signal.SIGINT, None):
            print(srv.log()[-4000:])
