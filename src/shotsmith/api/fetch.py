"""Downloading image_url inputs without letting a slow or hostile host hurt the server.

- `parse_image_url`: the URL is parsed once, by httpx (the client that fetches it);
  http(s) only, no `user:password@`, a plain host name or IP, a real port. Anything
  else is a 400 naming the field, never a 500.
- `PinnedTransport`: resolves the host once, checks every address (public only,
  unless SHOTSMITH_ALLOW_PRIVATE_IMAGE_URLS), then connects to the checked address
  while the request keeps its Host header and TLS keeps its SNI name and certificate
  check. A DNS-rebinding host cannot answer the check with a public address and the
  connection with a private one: there is no second lookup.
- `fetch_image_async`: one deadline over everything (DNS, connect, headers, every
  byte), a size cap (Content-Length and the bytes counted), no redirects, no proxies
  from the environment. It runs on the event loop; the only blocking call, DNS, runs
  on a small pool of its own, never on the thread pool the sync routes share.
- `FetchSlots`: at most SHOTSMITH_MAX_IMAGE_FETCHES_PER_KEY downloads per key at
  once; the next one is a 429 naming the limit.
- `prefetch_images`: an async route downloads a body's image URLs here, before the
  sync part of the request runs in the thread pool; `image_from_reference` then finds
  the bytes instead of downloading (see api/media.py).
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import ssl
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar

import anyio
import httpx

from shotsmith.api.errors import ApiError

USER_AGENT = "shotsmith"
DNS_THREADS = 8
_HOST_NAME = re.compile(r"^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*\.?$")
_UNSAFE_CHARS = re.compile(r"[\x00-\x20\x7f]")
# identity: a compressed body could inflate past the size cap inside one decoded chunk
_HEADERS = {"User-Agent": USER_AGENT, "Accept": "image/*", "Accept-Encoding": "identity"}

# URL -> bytes downloaded by prefetch_images for the request being handled. A ContextVar,
# so the sync part of the request (run in the thread pool with a copy of the context)
# sees it and no other request does.
_PREFETCHED: ContextVar[dict[str, bytes] | None] = ContextVar("shotsmith_prefetched_images", default=None)

_dns_pool: ThreadPoolExecutor | None = None
_ssl_context: ssl.SSLContext | None = None
_init_lock = threading.Lock()


class BlockedAddress(Exception):
    """The host resolves to an address the server may not connect to."""


# 1. Parsing ---------------------------------------------------------------------


def parse_image_url(url: str, field: str) -> httpx.URL:
    """One parse, by httpx: the host checked is the host connected to."""
    def bad(problem: str) -> ApiError:
        return ApiError("invalid", f"{field}: {problem}", field)

    if _UNSAFE_CHARS.search(url):
        raise bad("the URL contains a space or a control character; percent-encode it")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError, TypeError) as exc:
        raise bad(f"not a valid URL ({exc})") from None
    if parsed.scheme not in ("http", "https"):
        raise bad("must be an http(s) URL")
    if parsed.userinfo:
        raise bad("the URL may not contain 'user:password@' before the host")
    host = parsed.host
    if not host:
        raise bad("the URL has no host")
    if parsed.port is not None and not 1 <= parsed.port <= 65535:
        raise bad(f"the URL's port {parsed.port} is not between 1 and 65535")
    if not _is_ip(host):
        try:
            ascii_host = parsed.raw_host.decode("ascii").lower()
        except UnicodeDecodeError:
            raise bad("the URL's host is not a valid host name") from None
        if len(ascii_host) > 253 or not _HOST_NAME.match(ascii_host):
            raise bad("the URL's host is not a valid host name")
    return parsed


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def default_port(url: httpx.URL) -> int:
    return url.port or (443 if url.scheme == "https" else 80)


# 2. Resolving and connecting to the checked address -----------------------------


def allowed_address(text: str, allow_private: bool) -> bool:
    address = ipaddress.ip_address(text.split("%", 1)[0])  # drop an IPv6 zone id
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return allow_private or address.is_global


def _pool() -> ThreadPoolExecutor:
    global _dns_pool
    with _init_lock:
        if _dns_pool is None:
            _dns_pool = ThreadPoolExecutor(DNS_THREADS, thread_name_prefix="shotsmith-dns")
        return _dns_pool


def tls_context() -> ssl.SSLContext:
    """One verified TLS context for every download (building one reads the CA bundle)."""
    global _ssl_context
    with _init_lock:
        if _ssl_context is None:
            _ssl_context = httpx.create_ssl_context()
        return _ssl_context


async def resolve(host: str, port: int) -> list[str]:
    """The host's addresses: one lookup, on the DNS pool (never the request thread pool)."""
    if _is_ip(host):
        return [host]
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.run_in_executor(_pool(), lambda: socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP))
    except (socket.gaierror, UnicodeError, OSError):
        raise BlockedAddress(f"cannot resolve host '{host}'") from None
    return list(dict.fromkeys(info[4][0] for info in infos))


class PinnedTransport(httpx.AsyncBaseTransport):
    """Connects to an address it has checked, whatever DNS says later.

    Each request's host is resolved once; every address must pass the check; the
    connection goes to the first one, by IP. The request keeps its Host header (set
    from the original URL when it was built) and TLS its server name (`sni_hostname`),
    so virtual hosts and certificate checks work as if nothing were pinned.
    """

    def __init__(self, *, allow_private: bool, inner: httpx.AsyncBaseTransport | None = None):
        self.allow_private = allow_private
        # `inner` sends the pinned request: httpx's own transport, or a recording one in tests
        self._inner = inner or httpx.AsyncHTTPTransport(verify=tls_context(), retries=0)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        addresses = await resolve(host, default_port(request.url))
        if not addresses:
            raise BlockedAddress(f"host '{host}' has no address")
        for address in addresses:
            if not allowed_address(address, self.allow_private):
                raise BlockedAddress(f"host '{host}' is a private or local address; send the image itself "
                                     "(data URL) instead")
        if addresses[0] != host:
            request.extensions = {**request.extensions, "sni_hostname": host}
            request.url = request.url.copy_with(host=addresses[0])
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


# 3. Downloading -----------------------------------------------------------------


async def fetch_image_async(url: str, settings, field: str) -> bytes:
    """Download an image URL within the deadline and the size cap; any failure is a 400 naming the field."""
    if not settings.fetch_image_urls:
        raise ApiError("invalid", f"{field}: this server does not download URLs; send a data:image/...;base64 "
                       "URL", field)
    target = parse_image_url(url, field)
    deadline = settings.image_fetch_deadline_s
    limit = settings.max_image_bytes
    timeout = httpx.Timeout(min(settings.image_fetch_timeout_s, deadline))
    transport = PinnedTransport(allow_private=settings.allow_private_image_urls)
    try:
        with anyio.fail_after(deadline):
            async with httpx.AsyncClient(transport=transport, timeout=timeout, follow_redirects=False,
                                         trust_env=False, headers=_HEADERS) as client:
                async with client.stream("GET", target) as response:
                    if response.status_code != 200:
                        raise ApiError("invalid", f"{field}: downloading the URL gave HTTP {response.status_code}",
                                       field)
                    declared = response.headers.get("content-length", "")
                    if declared.isdigit() and int(declared) > limit:
                        raise _too_large(field, limit)
                    data = bytearray()
                    async for chunk in response.aiter_raw():
                        data += chunk
                        if len(data) > limit:
                            raise _too_large(field, limit)
                    return bytes(data)
    except TimeoutError:
        raise ApiError("invalid", f"{field}: the download did not finish within {deadline:g} s "
                       "(SHOTSMITH_IMAGE_FETCH_DEADLINE_S)", field) from None
    except BlockedAddress as exc:
        raise ApiError("invalid", f"{field}: {exc}", field) from None
    except httpx.TimeoutException:
        raise ApiError("invalid", f"{field}: the host did not answer within {timeout.read:g} s", field) from None
    except (httpx.HTTPError, OSError, ssl.SSLError, ValueError) as exc:
        raise ApiError("invalid", f"{field}: could not download the URL ({_reason(exc)})", field) from None


def _too_large(field: str, limit: int) -> ApiError:
    return ApiError("too_large", f"{field}: image is over the {limit} byte limit", field)


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())[:200]
    return text or type(exc).__name__


def fetch_image_blocking(url: str, settings, field: str) -> bytes:
    """The same download for sync callers outside an event loop (a route that did not prefetch,
    the CLI): same deadline and checks, on an event loop of its own."""
    return anyio.run(fetch_image_async, url, settings, field)


def prefetched(url: str) -> bytes | None:
    """The bytes prefetch_images downloaded for `url` in this request, if any."""
    cache = _PREFETCHED.get()
    return None if cache is None else cache.get(url)


# 4. Per-key limit and prefetching -----------------------------------------------


class FetchSlots:
    """How many downloads each key runs now; over the limit is a 429 at once, not a wait."""

    def __init__(self):
        self._lock = threading.Lock()
        self._active: Counter[str] = Counter()

    def active(self, owner: str) -> int:
        with self._lock:
            return self._active[owner]

    @contextmanager
    def hold(self, owner: str, count: int, limit: int, field: str):
        with self._lock:
            if self._active[owner] + count > limit:
                raise ApiError("rate_limited", f"{field}: this key already has {self._active[owner]} image "
                               f"download(s) running; the limit is {limit} at once "
                               "(SHOTSMITH_MAX_IMAGE_FETCHES_PER_KEY)", field)
            self._active[owner] += count
        try:
            yield
        finally:
            with self._lock:
                self._active[owner] -= count
                if self._active[owner] <= 0:
                    del self._active[owner]


def _is_http_url(value) -> bool:
    return isinstance(value, str) and value.strip()[:8].lower().startswith(("http://", "https://"))


def image_urls(body: dict, paths: tuple[str, ...]) -> list[tuple[str, str]]:
    """(field, URL) for each http(s) URL found at the dotted `paths` of a request body.
    A list of one or two counts as its elements (Zhipu's image_url: first, or first and last
    frame); anything else is left for the request's own validation to judge."""
    found = []
    for path in paths:
        value = body
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        for item in value if isinstance(value, list) and len(value) in (1, 2) else [value]:
            if _is_http_url(item):
                found.append((path, item.strip()))
    return found


async def prefetch_images(request, owner: str, body: dict, *paths: str) -> None:
    """Download the body's image URLs now, on the event loop, within the key's limit; the sync
    part of the request then decodes the bytes instead of downloading (image_from_reference)."""
    urls = image_urls(body, paths)
    if not urls:
        return
    settings = request.app.state.settings
    if not settings.fetch_image_urls:
        return  # image_from_reference refuses them with its own message
    slots = getattr(request.app.state, "image_fetch_slots", None)
    if slots is None:  # no await since the check: no other request can make a second one
        slots = request.app.state.image_fetch_slots = FetchSlots()
    cache = dict(_PREFETCHED.get() or {})
    with slots.hold(owner, len(urls), settings.max_image_fetches_per_key, urls[0][0]):
        for field, url in urls:
            cache[url] = await fetch_image_async(url, settings, field)
    _PREFETCHED.set(cache)
