"""The CLI's warm path: find a running `shotsmith serve` for this home, send it the work,
stream its progress, copy its files to where the in-process path would have written them.

    serve  -> writes HOME/server.json (url, pid, version, started_at; mode 0600), removes it
              on a clean shutdown (`announce()` / `withdraw()`)
    CLI    -> `find_server()`: --server URL, SHOTSMITH_SERVER, or that file; never trusted
              blindly: the pid must be alive, /healthz must answer within
              SHOTSMITH_SERVER_TIMEOUT_S with the same version
           -> `generate()`: the locally validated spec's fields to POST /api/v1/jobs, the
              SSE progress stream, then the clip's files to --out under the same names
           -> `enhance()`: POST /api/v1/enhance

Every network call has a timeout; a server that is gone, stale or too slow raises
`ServerUnavailable` (the CLI says so in one line and runs in-process), one that refuses the
key raises `ServerRefused` (the CLI fails: a key problem is the user's to fix, see
docs/performance.md), and a request the server turns down raises `RemoteError`.
This module imports no torch/diffusers: a warm `generate` stays a light process.
"""

from __future__ import annotations

import base64
import json
import mimetypes
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import httpx

from shotsmith import __version__
from shotsmith.api.fields import JOB_FIELDS, UPLOADED_CLIP
from shotsmith.settings import Settings
from shotsmith.spec import GenerationSpec

SERVER_FILE_MODE = 0o600
EVENTS_READ_TIMEOUT_S = 60.0  # a live server sends an SSE keep-alive every 15 s
SUBMIT_TIMEOUT_S = 30.0  # staging the image, validating, queueing
FILE_TIMEOUT_S = 60.0
# Sent with the spec's own fields: a spec field outside these and JOB_FIELDS keeps the run in-process.
WIRE_EXTRAS = ("image", "last_image", "video", "extend_from", "width", "height")
SOURCE_CLIP_FIELDS = ("video", "extend_from")  # sent inline as data:video URLs (the server's own files stay there)
VIDEO_TYPES = {".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/quicktime", ".webm": "video/webm",
               ".mkv": "video/x-matroska"}
OPTION_NAMES = {"native_width": "native_size", "native_height": "native_size"}  # the CLI's option for a field
CLIP_FILES = (("video", "video_url"), ("gif", "gif_url"), ("cover", "cover_url"), ("sprite", "sprite_url"),
              ("sidecar", "sidecar_url"))


class ServerUnavailable(Exception):
    """No usable server (gone, stale file, too slow, another version): run in-process instead."""


class ServerRefused(Exception):
    """The server turned down the API key: the user has to fix it (or pass --local)."""


class RemoteError(Exception):
    """The server refused the request (`status`: its HTTP status) or the job failed (`status` 0);
    `code` is the server's error code."""

    def __init__(self, message: str, code: str = "invalid", status: int = 400):
        super().__init__(message)
        self.code, self.status = code, status


# 1. The discovery file (written by `serve`) --------------------------------------------------


def announce(path: Path, url: str) -> dict:
    """Write the discovery file for this process: atomically, readable by the owner only."""
    record = {"url": url, "pid": os.getpid(), "version": __version__, "started_at": time.time()}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, SERVER_FILE_MODE)
    with os.fdopen(fd, "w") as f:
        json.dump(record, f)
    os.chmod(tmp, SERVER_FILE_MODE)  # whatever the umask
    os.replace(tmp, path)
    return record


def withdraw(path: Path, pid: int | None = None) -> None:
    """Remove the discovery file if it is this process's (another server may have replaced it)."""
    record = read_server_file(path)
    if record is not None and record.get("pid") == (pid or os.getpid()):
        path.unlink(missing_ok=True)


def read_server_file(path: Path) -> dict | None:
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or not isinstance(record.get("url"), str) or not isinstance(record.get("pid"), int):
        return None
    return record


def safe_to_trust(path: Path) -> bool:
    """Written by this user and writable by no one else: whoever can write the file chooses where
    the CLI sends its key and its prompts."""
    try:
        info = path.stat()
    except OSError:
        return False
    return info.st_uid == os.getuid() and not info.st_mode & 0o022


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


# 2. Finding a server ---------------------------------------------------------------------------


@dataclass
class Server:
    url: str
    key: str | None
    timeout: float
    source: str  # where it was found, for messages: "--server", "SHOTSMITH_SERVER" or the file
    auth: bool = False

    def client(self, read_timeout: float | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.key}"} if self.key else {}
        timeout = httpx.Timeout(self.timeout, read=read_timeout or self.timeout)
        return httpx.Client(base_url=self.url, headers=headers, timeout=timeout, trust_env=False)


def find_server(settings: Settings, url: str | None = None) -> Server | None:
    """The server to use: `url` (--server), SHOTSMITH_SERVER, or the one HOME/server.json names.

    None when no server is named and no file exists (the usual case: nothing to say).
    ServerUnavailable when one is named but cannot be used; ServerRefused when it needs a key
    and the CLI has none; ValueError for a --server value that is not a URL."""
    timeout = settings.server_timeout_s
    if url is not None and not url.strip().lower().startswith(("http://", "https://")):
        raise ValueError(f"--server: '{url[:80]}' is not an http(s) URL like http://127.0.0.1:8000")
    if url or settings.server:
        source = "--server" if url else "SHOTSMITH_SERVER"
        server = Server((url or settings.server or "").rstrip("/"), settings.client_key, timeout, source)
    else:
        path = settings.server_file
        if not path.exists():
            return None
        if not safe_to_trust(path):
            raise ServerUnavailable(f"{path} is not yours alone (owner or mode); not sending a key to it")
        record = read_server_file(path)
        if record is None:
            raise ServerUnavailable(f"{path} is not a server file")
        if not pid_alive(record["pid"]):
            withdraw(path, record["pid"])  # stale: its server died without cleaning up
            raise ServerUnavailable(f"stale {path} (pid {record['pid']} is not running)")
        server = Server(record["url"].rstrip("/"), settings.client_key, timeout, str(path))
    check_health(server)
    return server


def check_health(server: Server) -> None:
    try:
        with server.client() as http:
            answer = http.get("/healthz")
        body = answer.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise ServerUnavailable(f"the server at {server.url} ({server.source}) does not answer "
                                f"({_reason(exc)})") from None
    if not isinstance(body, dict) or body.get("status") not in ("ok", "starting"):
        raise ServerUnavailable(f"the server at {server.url} is not ready ({str(body)[:120]})")
    worker = body.get("worker") or {}
    if not worker.get("enabled") and not worker.get("alive"):  # serve --no-worker, or a queue with no worker
        raise ServerUnavailable(f"the server at {server.url} has no worker to run jobs")
    if body.get("version") != __version__:
        raise ServerUnavailable(f"the server at {server.url} runs shotsmith {body.get('version')}, this CLI "
                                f"{__version__}")
    server.auth = bool(body.get("auth"))
    if server.auth and not server.key:
        raise ServerRefused(f"the server at {server.url} needs an API key: set SHOTSMITH_API_KEY (or pass --local)")


def _reason(exc: Exception) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    if isinstance(exc, httpx.ConnectError):
        return "connection refused"
    return f"{type(exc).__name__}: {str(exc)[:120]}" if str(exc) else type(exc).__name__


def _error(answer: httpx.Response) -> dict:
    try:
        error = answer.json().get("error") or {}
    except (ValueError, AttributeError):
        error = {}
    return error if isinstance(error, dict) else {}


def _message(answer: httpx.Response) -> str:
    return _error(answer).get("message") or answer.text[:200] or answer.reason_phrase


def _refuse_or_raise(server: Server, answer: httpx.Response) -> None:
    """Map an error answer: 401/403 -> ServerRefused; 5xx -> ServerUnavailable; 4xx -> RemoteError."""
    if answer.is_success:
        return
    error, message = _error(answer), _message(answer)
    if answer.status_code in (401, 403):
        raise ServerRefused(f"the server at {server.url} refused the API key (SHOTSMITH_API_KEY): {message}")
    if answer.status_code >= 500:
        raise ServerUnavailable(f"the server at {server.url} failed ({answer.status_code}: {message})")
    raise RemoteError(message, error.get("code") or "invalid", answer.status_code)


# 3. What the server takes ----------------------------------------------------------------------


def why_local(spec: GenerationSpec) -> str | None:
    """Why this spec has to run in-process (the native API cannot carry it), or None."""
    sent = set(JOB_FIELDS) | set(WIRE_EXTRAS)
    for name in sorted(spec.model_fields_set - sent):
        if getattr(spec, name) != GenerationSpec.model_fields[name].default:
            option = OPTION_NAMES.get(name, name).replace("_", "-")
            return f"--{option} is not part of the server's API"
    if names_a_folder(spec.model):
        return "--model names a local folder; the server takes registry names"
    if spec.lora and _looks_like_path(spec.lora):
        return "--lora names a path; the server takes the names in its LoRA folder"
    return None


def _looks_like_path(text: str) -> bool:
    return os.sep in text or "/" in text or text.startswith((".", "~")) or text.endswith(".safetensors")


def names_a_folder(model: str | None) -> bool:
    """A --model that names a local folder, not a registry name: the server never takes one."""
    from shotsmith.models.registry import ENTRIES

    return bool(model) and model.strip().lower() not in ENTRIES and _looks_like_path(model)


def job_body(spec: GenerationSpec) -> dict:
    """The spec's values in the native contract: its own fields, `size`, the images as data URLs."""
    body = spec.model_dump(include=set(JOB_FIELDS), exclude_none=True)
    body["size"] = f"{spec.width}x{spec.height}"
    for name in ("image", "last_image"):
        if getattr(spec, name):
            path = Path(getattr(spec, name))
            mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            body[name] = f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode()
    for name in SOURCE_CLIP_FIELDS:
        if getattr(spec, name):
            body[name] = clip_data_url(Path(getattr(spec, name)))
    return body


def clip_data_url(path: Path) -> str:
    """A source clip inline: the server takes it as a data:video URL (its type told by its bytes)."""
    mime = VIDEO_TYPES.get(path.suffix.lower(), "video/mp4")
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode()


# 4. Generating ---------------------------------------------------------------------------------


@dataclass
class RemoteClip:
    video: Path
    gif: Path | None
    cover: Path
    sprite: Path
    sidecar: Path
    width: int
    height: int
    fps: float
    frames: int
    duration: float


@dataclass
class RemoteResult:
    job_id: str
    clips: list[RemoteClip]
    seeds: list[int]
    contact_sheet: Path | None
    prompt: str
    enhanced_prompt: str | None
    timings: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # what the server changed (a source clip resampled...)


ProgressFn = Callable[[str, int, int], None]  # stage, step, total steps


def generate(server: Server, spec: GenerationSpec, out: Path, on_progress: ProgressFn | None = None) -> RemoteResult:
    """Run the spec on the server; the files land at `out` as the in-process path names them.

    ServerUnavailable before the job is accepted (or if the server goes away while it runs)
    means nothing was written here: the caller may run it in-process."""
    started = time.perf_counter()
    with server.client() as http:
        try:
            # connecting is quick or the server is gone; accepting may take a while on a busy one
            answer = http.post("/api/v1/jobs", json=job_body(spec),
                               timeout=httpx.Timeout(server.timeout, read=SUBMIT_TIMEOUT_S))
        except httpx.HTTPError as exc:
            raise ServerUnavailable(f"the server at {server.url} did not take the job ({_reason(exc)})") from None
        if answer.status_code == 413:  # an input (a source clip) over the server's limits: this machine has none
            raise ServerUnavailable(f"the server at {server.url} takes smaller inputs ({_message(answer)})")
        _refuse_or_raise(server, answer)
        job = answer.json()
        try:
            job = _follow(server, job, on_progress)
        except KeyboardInterrupt:
            _cancel(http, job["id"])
            raise
        if job["status"] != "completed":
            error = job.get("error") or {}
            raise RemoteError(error.get("message") or f"job {job['id']} {job['status']}",
                              "cancelled" if job["status"] == "cancelled" else error.get("code") or "failed", 0)
        result = _download(server, http, job, Path(out))
    result.notes = [_local_names(line, spec) for line in result.notes]
    result.timings["total"] = time.perf_counter() - started
    return result


def _local_names(line: str, spec: GenerationSpec) -> str:
    """A server's note in this machine's words: the clip it names "the uploaded clip" is the
    file the user gave."""
    for name in SOURCE_CLIP_FIELDS:
        if getattr(spec, name):
            line = line.replace(UPLOADED_CLIP, Path(getattr(spec, name)).name)
    return line


def _follow(server: Server, job: dict, on_progress: ProgressFn | None) -> dict:
    """The SSE stream until `done`; each `progress` event moves the bar."""
    job_id = job["id"]
    try:
        with server.client(read_timeout=EVENTS_READ_TIMEOUT_S) as http, \
                http.stream("GET", f"/api/v1/jobs/{job_id}/events") as stream:
            if not stream.is_success:
                stream.read()
                _refuse_or_raise(server, stream)
            event = None
            for line in stream.iter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:") and event:
                    data = json.loads(line[5:])
                    if event == "progress" and on_progress:
                        on_progress(data.get("stage") or "", int(data.get("step") or 0),
                                    int(data.get("total_steps") or 0))
                    elif event == "done":
                        return data
                    elif event == "deleted":
                        raise RemoteError(f"job {job_id} was deleted on the server", "not_found", 404)
                elif not line:
                    event = None
    except httpx.HTTPError as exc:
        raise ServerUnavailable(f"the server at {server.url} went away during job {job_id} "
                                f"({_reason(exc)})") from None
    raise ServerUnavailable(f"the server at {server.url} closed the progress stream of job {job_id}")


def _cancel(http: httpx.Client, job_id: str) -> None:
    try:
        http.post(f"/api/v1/jobs/{job_id}/cancel", timeout=2.0)
    except httpx.HTTPError:
        pass


def _download(server: Server, http: httpx.Client, job: dict, out: Path) -> RemoteResult:
    """Every file of the job to its local name (as finish_clip and Studio name them), each
    written under a temp name and moved into place, the sidecar's file names made local."""
    from shotsmith.post.finish import clip_paths, contact_sheet_path, final_paths

    clips, locals_ = job["clips"], clip_paths(out, len(job["clips"]))
    out.parent.mkdir(parents=True, exist_ok=True)
    results = []
    for clip, path in zip(clips, locals_):
        names = final_paths(path)
        written: dict[str, Path | None] = {}
        for kind, key in CLIP_FILES:
            if not clip.get(key):
                names[kind].unlink(missing_ok=True)  # an older clip's GIF would not match
                written[kind] = None
                continue
            data = _fetch(server, http, job["id"], clip[key])
            if kind == "sidecar":
                data = _local_sidecar(data, names, bool(clip.get("gif_url")))
            written[kind] = _write(names[kind], data)
        results.append(RemoteClip(video=written["video"], gif=written["gif"], cover=written["cover"],
                                  sprite=written["sprite"], sidecar=written["sidecar"], width=clip["width"],
                                  height=clip["height"], fps=clip["fps"], frames=clip["frames"],
                                  duration=clip["duration"]))
    sheet = None
    if job.get("contact_sheet_url"):
        sheet = _write(contact_sheet_path(out), _fetch(server, http, job["id"], job["contact_sheet_url"]))
    return RemoteResult(job_id=job["id"], clips=results, seeds=list(job["seeds"]), contact_sheet=sheet,
                        prompt=job.get("prompt") or "", enhanced_prompt=job.get("enhanced_prompt"),
                        timings=dict(job.get("timings") or {}), notes=list(job.get("notes") or []))


def _fetch(server: Server, http: httpx.Client, job_id: str, url: str) -> bytes:
    # Only the file's name is taken from the answer: the request always goes to the server we chose.
    name = url.rsplit("/", 1)[-1]
    try:
        answer = http.get(f"/api/v1/jobs/{job_id}/files/{name}", timeout=FILE_TIMEOUT_S)
    except httpx.HTTPError as exc:
        raise RemoteError(f"could not download {name} of job {job_id} from {server.url} ({_reason(exc)})",
                          "download_failed", 502) from None
    _refuse_or_raise(server, answer)
    return answer.content


def _local_sidecar(data: bytes, names: dict[str, Path], with_gif: bool) -> bytes:
    sidecar = json.loads(data)
    sidecar["files"] = {kind: (path.name if kind != "gif" or with_gif else None) for kind, path in names.items()}
    return (json.dumps(sidecar, indent=2, default=str) + "\n").encode()


def _write(path: Path, data: bytes) -> Path:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.download")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


# 5. Enhancing ----------------------------------------------------------------------------------


def enhance(server: Server, body: dict) -> dict:
    """POST /api/v1/enhance: the prompt agent on the server (its LLM settings for backend 'llm')."""
    with server.client(read_timeout=EVENTS_READ_TIMEOUT_S) as http:
        try:
            answer = http.post("/api/v1/enhance", json={k: v for k, v in body.items() if v is not None})
        except httpx.HTTPError as exc:
            raise ServerUnavailable(f"the server at {server.url} did not answer ({_reason(exc)})") from None
        _refuse_or_raise(server, answer)
        return answer.json()
