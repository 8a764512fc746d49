"""Slow-client load: 50 image-URL submissions at once to a host that sends one byte every
2 s, against a real `python -m shotsmith.api` server, while /healthz and GET /v1/videos are
timed. They must stay fast (p99 < 100 ms) and every download must end at its deadline.

Loopback only: the trickling host is an asyncio server in this process on 127.0.0.1 (the
server is told to allow private image hosts for this test). The timing client runs in a
process of its own, as a monitoring client would, so the 50 attacking threads here do not
slow its measurements. Every loop is bounded and the test stops by itself in under a minute.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from api_server import KEY_A, KEY_B, start_server

ATTACKERS = 50
DEADLINE_S = 6.0
TRICKLE_S = 2.0  # one byte every 2 s
MAX_BYTES = 15  # a trickle ends by itself after 30 s even if nobody hangs up
PROBE_EVERY_S = 0.05
PROBE = r"""
import json, sys, time, httpx
url, key, seconds, every = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
samples = []
with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=10) as http:
    for _ in range(5):  # warm: connection open, routes imported
        http.get("/healthz"), http.get("/v1/videos")
    print("ready", flush=True)
    end = time.time() + seconds
    while time.time() < end:
        for path in ("/healthz", "/v1/videos"):
            start = time.time()
            status = http.get(path).status_code
            samples.append([path, start, time.time() - start, status])
        time.sleep(every)
print(json.dumps(samples), flush=True)
"""


class TrickleHost:
    """An HTTP host on loopback that answers 200 and then sends one byte every TRICKLE_S."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.active = 0
        self.held: list[float] = []  # seconds from accept to the client hanging up
        self.events: list[tuple[float, int]] = []  # (wall time, +1 opened / -1 closed)
        self.server = None
        self.port = 0

    def start(self) -> TrickleHost:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self.loop).result(10)
        return self

    def stop(self) -> None:
        async def close():
            self.server.close()
            await self.server.wait_closed()

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    async def _listen(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0, backlog=256)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.active += 1
        self.events.append((time.time(), 1))
        opened = time.monotonic()
        try:
            await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 4096\r\n\r\n")
            await writer.drain()
            hung_up = asyncio.ensure_future(reader.read(1))  # b"" when the client closes
            for _ in range(MAX_BYTES):
                done, _ = await asyncio.wait({hung_up}, timeout=TRICKLE_S)
                if done:
                    break
                writer.write(b"\x89")
                await writer.drain()
            hung_up.cancel()
        except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError):
            pass
        finally:
            self.held.append(time.monotonic() - opened)
            self.events.append((time.time(), -1))
            self.active -= 1
            writer.close()

    def active_at(self, moment: float) -> int:
        """Downloads hanging on this host at a (wall-clock) moment."""
        return sum(change for when, change in self.events if when <= moment)


def client(server, key: str, timeout: float, connections: int = 10) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=timeout,
                        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


@pytest.mark.slow
def test_fifty_slow_image_urls_do_not_slow_health_or_lists(tmp_path):
    host = TrickleHost().start()
    server = start_server(tmp_path / "home", keys=(KEY_A, KEY_B), wait_ready=False, env={
        "SHOTSMITH_WORKER": "0", "SHOTSMITH_PRELOAD": "", "SHOTSMITH_ALLOW_PRIVATE_IMAGE_URLS": "1",
        "SHOTSMITH_IMAGE_FETCH_DEADLINE_S": str(DEADLINE_S), "SHOTSMITH_MAX_IMAGE_FETCHES_PER_KEY": "64"})
    prober = None
    try:
        url = f"http://127.0.0.1:{host.port}/slow.png"
        bodies = [  # the three contracts, in turn
            ("/api/v1/jobs", {"prompt": "a red ball", "image": url, "steps": 2, "enhance": False}, "image"),
            ("/v1/videos", {"prompt": "a red ball", "input_reference": {"image_url": url}},
             "input_reference.image_url"),
            ("/api/paas/v4/videos/generations", {"model": "cogvideox-shapes-i2v", "prompt": "a red ball",
                                                 "image_url": url}, None),
        ]
        prober = subprocess.Popen([sys.executable, "-c", PROBE, server.url, KEY_B, str(DEADLINE_S + 2),
                                   str(PROBE_EVERY_S)], stdout=subprocess.PIPE, text=True)
        assert prober.stdout.readline().strip() == "ready"
        results: list[tuple[float, int, str, str | None]] = []
        attackers = client(server, KEY_A, 30, connections=ATTACKERS)  # one client, 50 connections

        def submit(index: int) -> None:
            path, body, field = bodies[index % len(bodies)]
            start = time.monotonic()
            response = attackers.post(path, json=body)
            results.append((time.monotonic() - start, response.status_code, response.text, field))

        with attackers, ThreadPoolExecutor(ATTACKERS) as pool:
            list(pool.map(submit, range(ATTACKERS)))
        out, _ = prober.communicate(timeout=DEADLINE_S * 4)
        samples = json.loads(out)

        # every download was cut at its deadline: a 400 naming the field, within the deadline plus slack
        assert len(results) == ATTACKERS
        took = [r[0] for r in results]
        for elapsed, status, text, field in results:
            assert status == 400, text
            assert "did not finish within" in text, text
            if field:
                assert f'"param":"{field}"' in text.replace(" ", ""), text
        assert max(took) < DEADLINE_S + 1.5, took  # the answer: the deadline plus a busy 2-core machine's slack
        held = host.held
        assert len(held) == ATTACKERS and max(held) <= DEADLINE_S + 0.5, held  # the download itself: at the deadline

        # health and lists stayed fast while (nearly) all 50 downloads were hanging
        report = {}
        for path in ("/healthz", "/v1/videos"):
            assert all(status == 200 for p, _, _, status in samples if p == path)
            during = [latency for p, start, latency, _ in samples
                      if p == path and host.active_at(start) >= ATTACKERS * 0.9]
            assert len(during) >= 20, (path, len(during))
            report[path] = {"n": len(during), "p50_ms": round(statistics.median(during) * 1000, 1),
                            "p99_ms": round(percentile(during, 99) * 1000, 1),
                            "max_ms": round(max(during) * 1000, 1)}
        print(f"\nslow-fetch load: {ATTACKERS} downloads, deadline {DEADLINE_S:g} s, one byte / {TRICKLE_S:g} s")
        print(f"  submissions answered after {min(took):.2f}-{max(took):.2f} s (median {statistics.median(took):.2f})")
        print(f"  trickle connections held {min(held):.2f}-{max(held):.2f} s")
        for path, numbers in report.items():
            print(f"  {path}: {numbers}")
        for path, numbers in report.items():
            assert numbers["p99_ms"] < 100, (path, numbers)
    finally:
        if prober is not None and prober.poll() is None:
            prober.kill()
        server.stop()
        host.stop()
