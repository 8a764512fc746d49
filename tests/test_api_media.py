"""Image inputs: URL parsing, the pinned connection, the download deadline, size cap and
per-key limit, and bare base64. Downloads go to a loopback HTTP server started by the
test (private addresses allowed through the setting); DNS answers are faked where a test
needs a host name. The in-process app runs with the worker off: a job is only queued.
"""

from __future__ import annotations

import asyncio
import base64
import io
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from shotsmith.api.app import create_app
from shotsmith.api.errors import ApiError
from shotsmith.api.fetch import FetchSlots, PinnedTransport, fetch_image_async, image_urls, parse_image_url
from shotsmith.api.media import image_from_reference
from shotsmith.settings import Settings

KEY_A = "sk-media-alpha"
KEY_B = "sk-media-beta"
PROMPT = "a red ball rolls to the right"


def png_bytes(width: int = 64, height: int = 48) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 40)).save(buf, format="PNG")
    return buf.getvalue()


def jpeg_bytes() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (40, 200, 40)).save(buf, format="JPEG")
    return buf.getvalue()


PNG = png_bytes()



class ImageHandler(BaseHTTPRequestHandler):
    """/img.png, /slow (one byte every `trickle_s`, at most 60), /big, /big-chunked, /redirect, /missing."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        server = self.server
        server.hosts.append(self.headers.get("Host"))
        server.requested.set()
        if self.path == "/img.png":
            self._send(200, PNG)
        elif self.path == "/slow":
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.end_headers()
            try:
                for byte in PNG[:60]:  # bounded: ends by itself even if nobody hangs up
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(server.trickle_s)
            except OSError:  # the client gave up: that is the point
                pass
        elif self.path == "/big":
            self._send(200, b"\0" * 5000)
        elif self.path == "/big-chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                for _ in range(10):
                    self.wfile.write(b"3e8\r\n" + b"\0" * 1000 + b"\r\n")
                self.wfile.write(b"0\r\n\r\n")
            except OSError:
                pass
        elif self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/img.png")
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self._send(404, b"no")

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class ImageServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), ImageHandler)
        self.hosts: list[str] = []
        self.requested = threading.Event()
        self.trickle_s = 0.2

    def handle_error(self, request, client_address):
        pass

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.server_address[1]}{path}"


@pytest.fixture()
def images():
    srv = ImageServer()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def settings(tmp_path, **overrides) -> Settings:
    values = dict(home=tmp_path / "home", worker=False, preload="", api_keys=(KEY_A, KEY_B),
                  allow_private_image_urls=True, image_fetch_deadline_s=5.0)
    return Settings(**(values | overrides))


def fetch_now(url: str, conf: Settings, field: str = "image") -> bytes:
    return asyncio.run(fetch_image_async(url, conf, field))


# URL parsing ---------------------------------------------------------------------------


@pytest.mark.parametrize("url,words", [
    ("http://[1.1.1.1]/x", "not a valid URL"),
    ("http://127.0.0.1:8799@1.1.1.1/x", "user:password@"),
    ("http://user@example.com/x", "user:password@"),
    ("http://exa mple.com/x", "space or a control character"),
    ("http://example.com/a b.png", "space or a control character"),
    ("http://example.com/x\r\nHost: evil", "space or a control character"),
    ("http://example.com/\x00", "space or a control character"),
    ("https://example.com:99999/x", "port 99999"),
    ("http://example.com:abc/x", "not a valid URL"),
    ("http:///x", "no host"),
    ("http://%31%32%37.0.0.1/x", "not a valid host name"),
    ("http://exa_mple..com/x", "not a valid host name"),
])
def test_broken_urls_are_a_400_naming_the_field(url, words, tmp_path):
    with pytest.raises(ApiError) as caught:
        fetch_now(url, settings(tmp_path), "input_reference.image_url")
    error = caught.value
    assert error.status == 400 and error.param == "input_reference.image_url"
    assert words in error.message and error.message.startswith("input_reference.image_url: ")


def test_the_parsed_host_is_the_one_checked():
    assert parse_image_url("HTTP://Example.COM/a.png", "image").host == "example.com"
    assert parse_image_url("http://[::1]:8080/a.png", "image").host == "::1"
    assert parse_image_url("https://bücher.example/a.png", "image").raw_host == b"xn--bcher-kva.example"


@pytest.mark.parametrize("url", ["http://127.0.0.1:1/a.png", "http://localhost:1/a.png", "http://[::1]:1/a.png",
                                 "http://0x7f000001:1/a.png", "http://127.1:1/a.png", "http://2130706433:1/a.png",
                                 "http://[::ffff:127.0.0.1]:1/a.png", "http://169.254.169.254/latest/meta-data"])
def test_private_hosts_are_refused_in_every_spelling(url, tmp_path):
    with pytest.raises(ApiError) as caught:
        fetch_now(url, settings(tmp_path, allow_private_image_urls=False))
    assert caught.value.status == 400 and "private or local" in caught.value.message


# Connecting to the checked address ------------------------------------------------------


def fake_dns(monkeypatch, *answers: list[str]) -> list[str]:
    """getaddrinfo answers one list per call (a rebinding host changes its answer); returns the asked hosts."""
    asked: list[str] = []
    queue = list(answers)

    def getaddrinfo(host, port, *args, **kwargs):
        asked.append(host)
        addresses = queue.pop(0) if len(queue) > 1 else queue[0]
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
                for a in addresses]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


def test_a_rebinding_host_is_resolved_once_and_the_checked_address_is_dialled(monkeypatch):
    asked = fake_dns(monkeypatch, ["93.184.216.34"], ["127.0.0.1"])  # public for the check, then loopback
    seen = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.host, request.headers["host"], request.extensions.get("sni_hostname")))
        return httpx.Response(200, content=PNG)

    async def get(url: str) -> httpx.Response:
        transport = PinnedTransport(allow_private=False, inner=httpx.MockTransport(record))
        async with httpx.AsyncClient(transport=transport) as client:
            return await client.get(url)

    assert asyncio.run(get("https://rebind.test/a.png")).content == PNG
    assert asked == ["rebind.test"]  # one lookup: nothing asks DNS again before connecting
    assert seen == [("93.184.216.34", "rebind.test", "rebind.test")]  # dialled by IP; Host and SNI unchanged


def test_one_private_address_among_public_ones_refuses_the_host(monkeypatch, tmp_path):
    fake_dns(monkeypatch, ["93.184.216.34", "10.0.0.7"])
    with pytest.raises(ApiError) as caught:
        fetch_now("http://mixed.test/a.png", settings(tmp_path, allow_private_image_urls=False))
    assert "private or local" in caught.value.message and caught.value.param == "image"


def test_a_real_pinned_download_keeps_the_host_header(monkeypatch, images, tmp_path):
    fake_dns(monkeypatch, ["127.0.0.1"])
    port = images.server_address[1]
    assert fetch_now(f"http://images.test:{port}/img.png", settings(tmp_path)) == PNG
    assert images.hosts == [f"images.test:{port}"]


# Deadline, size cap, redirects -----------------------------------------------------------


def test_a_trickling_host_is_cut_off_at_the_deadline(images, tmp_path):
    images.trickle_s = 0.2  # 60 bytes would take 12 s
    start = time.monotonic()
    with pytest.raises(ApiError) as caught:
        fetch_now(images.url("/slow"), settings(tmp_path, image_fetch_deadline_s=1.0))
    took = time.monotonic() - start
    assert 1.0 <= took < 2.0, took  # the deadline, plus slack for a busy machine
    assert caught.value.status == 400 and "did not finish within 1 s" in caught.value.message


@pytest.mark.parametrize("path", ["/big", "/big-chunked"])
def test_an_image_over_the_byte_cap_is_a_413(path, images, tmp_path):
    with pytest.raises(ApiError) as caught:
        fetch_now(images.url(path), settings(tmp_path, max_image_bytes=2000))
    assert caught.value.status == 413 and "2000 byte limit" in caught.value.message


@pytest.mark.parametrize("path,words", [("/redirect", "HTTP 302"), ("/missing", "HTTP 404")])
def test_redirects_and_errors_are_not_followed(path, words, images, tmp_path):
    with pytest.raises(ApiError) as caught:
        fetch_now(images.url(path), settings(tmp_path))
    assert caught.value.status == 400 and words in caught.value.message
    assert len(images.hosts) == 1  # the redirect target was never asked for


def test_a_closed_port_is_a_400(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ApiError) as caught:
        fetch_now(f"http://127.0.0.1:{port}/a.png", settings(tmp_path))
    assert caught.value.status == 400 and "could not download" in caught.value.message


def test_a_sync_caller_gets_the_same_download(images, tmp_path):
    img = image_from_reference(images.url("/img.png"), settings(tmp_path), "image")
    assert img.size == (64, 48)


# Bare base64 -------------------------------------------------------------------------------


def test_bare_base64_jpeg_is_an_image_not_a_path(tmp_path):
    text = base64.b64encode(jpeg_bytes()).decode()
    assert text.startswith("/9j/")
    assert image_from_reference(text, settings(tmp_path), "image").size == (64, 48)
    wrapped = "\n".join(text[i:i + 76] for i in range(0, len(text), 76))  # MIME line breaks
    assert image_from_reference(wrapped, settings(tmp_path), "image").size == (64, 48)


@pytest.mark.parametrize("ref", ["/etc/passwd", "file:///etc/passwd", "./a.png", "~/a.png", "/srv/../etc/hosts"])
def test_paths_are_still_refused(ref, tmp_path):
    with pytest.raises(ApiError) as caught:
        image_from_reference(ref, settings(tmp_path), "image")
    assert caught.value.status == 400 and caught.value.param == "image"


# Through the API ---------------------------------------------------------------------------


def auth(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def job_body(image: str) -> dict:
    return {"prompt": PROMPT, "image": image, "steps": 2, "enhance": False, "size": "480x320"}


def test_the_api_takes_bare_base64_jpeg_and_refuses_bad_urls_by_field(tmp_path):
    with TestClient(create_app(settings(tmp_path, allow_private_image_urls=False))) as http:
        text = base64.b64encode(jpeg_bytes()).decode()
        made = http.post("/api/v1/jobs", json=job_body(text), headers=auth(KEY_A))
        assert made.status_code == 200, made.text
        assert made.json()["spec"]["image"] == "input.png"
        for url in ("http://[1.1.1.1]/x", "http://127.0.0.1:8799@1.1.1.1/x", "http://a b/x", "http://e.com/\r\n"):
            native = http.post("/api/v1/jobs", json=job_body(url), headers=auth(KEY_A))
            assert native.status_code == 400 and native.json()["error"]["param"] == "image", native.text
            openai = http.post("/v1/videos", json={"prompt": PROMPT, "input_reference": {"image_url": url}},
                               headers=auth(KEY_A))
            assert openai.status_code == 400, openai.text
            assert openai.json()["error"]["param"] == "input_reference.image_url"
            zhipu = http.post("/api/paas/v4/videos/generations", headers=auth(KEY_A),
                              json={"model": "cogvideox-shapes-i2v", "prompt": PROMPT, "image_url": url})
            assert zhipu.status_code == 400 and zhipu.json()["error"]["code"] == "1214", zhipu.text


def test_the_api_downloads_on_the_event_loop_and_limits_each_key(images, tmp_path):
    images.trickle_s = 0.2
    conf = settings(tmp_path, max_image_fetches_per_key=1, image_fetch_deadline_s=2.0)
    with TestClient(create_app(conf)) as http:
        slow: dict = {}

        def submit_slow():
            slow["response"] = http.post("/api/v1/jobs", json=job_body(images.url("/slow")), headers=auth(KEY_A))

        worker = threading.Thread(target=submit_slow)
        worker.start()
        assert images.requested.wait(5)
        # the same key, a second download while the first trickles: 429 naming the limit
        again = http.post("/api/v1/jobs", json=job_body(images.url("/img.png")), headers=auth(KEY_A))
        assert again.status_code == 429, again.text
        error = again.json()["error"]
        assert error["param"] == "image" and "limit is 1" in error["message"]
        assert "SHOTSMITH_MAX_IMAGE_FETCHES_PER_KEY" in error["message"]
        # another key is not held up, and neither are health and lists
        other = http.post("/api/v1/jobs", json=job_body(images.url("/img.png")), headers=auth(KEY_B))
        assert other.status_code == 200, other.text
        start = time.monotonic()
        assert http.get("/healthz").status_code == 200
        assert http.get("/v1/videos", headers=auth(KEY_A)).status_code == 200
        assert time.monotonic() - start < 0.5
        worker.join(10)
        assert slow["response"].status_code == 400 and "did not finish within 2 s" in slow["response"].text
        # the slot is free again
        assert http.post("/api/v1/jobs", json=job_body(images.url("/img.png")),
                         headers=auth(KEY_A)).status_code == 200


def test_openai_and_zhipu_image_urls_are_downloaded_too(images, tmp_path):
    with TestClient(create_app(settings(tmp_path))) as http:
        openai = http.post("/v1/videos", headers=auth(KEY_A), json={
            "prompt": PROMPT, "size": "480x320", "input_reference": {"image_url": images.url("/img.png")}})
        assert openai.status_code == 200, openai.text
        zhipu = http.post("/api/paas/v4/videos/generations", headers=auth(KEY_A), json={
            "model": "cogvideox-shapes-i2v", "prompt": PROMPT, "image_url": [images.url("/img.png")]})
        assert zhipu.status_code == 200, zhipu.text
    assert len(images.hosts) == 2


def test_fetch_slots_count_per_key():
    slots = FetchSlots()
    with slots.hold("a", 1, 2, "image"), slots.hold("a", 1, 2, "image"):
        with pytest.raises(ApiError) as caught:
            with slots.hold("a", 1, 2, "image"):
                pass
        assert caught.value.status == 429
        with slots.hold("b", 1, 2, "image"):
            assert slots.active("a") == 2 and slots.active("b") == 1
    assert slots.active("a") == 0


def test_image_urls_are_found_where_each_contract_puts_them():
    assert image_urls({"image": " http://h/a.png "}, ("image",)) == [("image", "http://h/a.png")]
    assert image_urls({"input_reference": {"image_url": "https://h/a"}}, ("input_reference.image_url",)) == [
        ("input_reference.image_url", "https://h/a")]
    assert image_urls({"image_url": ["http://h/a"]}, ("image_url",)) == [("image_url", "http://h/a")]
    assert image_urls({"image_url": ["http://h/a", "http://h/b"]}, ("image_url",)) == [  # first and last frame
        ("image_url", "http://h/a"), ("image_url", "http://h/b")]
    assert image_urls({"image_url": ["http://h/a"] * 3}, ("image_url",)) == []  # refused later
    assert image_urls({"image": "data:image/png;base64,AAAA", "input_reference": "x"},
                      ("image", "input_reference.image_url")) == []
