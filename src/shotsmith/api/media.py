"""Request bodies and input images, read defensively.

- `read_body`: JSON or multipart/form-data (or urlencoded) into one dict, with a
  400 naming the problem for malformed bodies and a 415 for other content types.
- `BodyLimit`: ASGI middleware that answers 413 for bodies over the limit, by
  Content-Length or by counting the bytes of a chunked upload.
- `image_from_*`: bytes, data URLs, base64 and http(s) URLs -> a decoded RGB
  image, with byte and pixel limits checked before decoding (no decompression
  bombs) and only a few raster formats allowed. URLs are downloaded by api/fetch.py:
  async routes call `prefetch_images` first, so no download holds a thread-pool
  thread that /healthz and the list routes need.
- `video_from_*`: a source clip (upload or data:video URL) -> its bytes, size-capped and
  told by its container's first bytes; the spec decodes it once staged.
- `save_input_image`: the server writes the image under the job folder itself;
  nothing the client sends becomes a path.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import re
import warnings
from pathlib import Path

from fastapi import Request
from starlette.datastructures import UploadFile

from shotsmith.api.errors import ApiError, contract_of, error_body
from shotsmith.errors import FieldError
from shotsmith.text import MAX_DEPTH, check_tree, parse_int
from shotsmith.api.fetch import fetch_image_blocking, prefetched
from shotsmith.settings import Settings

IMAGE_FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "GIF")
INPUT_IMAGE_NAME = "input.png"
MAX_FORM_FIELDS = 64
_NESTED_KEY = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\[([A-Za-z_][A-Za-z0-9_]*)\]$")
_BASE64_TEXT = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_DATA_URL = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(;[\w.+-]+=[\w.+-]+)*)(?P<b64>;base64)?,",
                       re.IGNORECASE)


# Bodies ------------------------------------------------------------------------

class BodyLimit:
    """Reject request bodies over max_bytes with 413 before they are parsed."""

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers") or []).get(b"content-length")
        too_large = ApiError("too_large", f"request body is over the {self.max_bytes} byte limit")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                declared = -1
            if declared < 0:
                return await self._reject(scope, send, ApiError("bad_request", "Content-Length is not a number"),
                                          400)
            if declared > self.max_bytes:
                return await self._reject(scope, send, too_large, 413)
        seen = 0

        async def counted_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise too_large
            return message

        return await self.app(scope, counted_receive, send)

    @staticmethod
    async def _reject(scope, send, error: ApiError, status: int):
        body = json.dumps(error_body(contract_of(scope.get("path", "")), error)).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"x-should-retry", b"false"), (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


async def read_body(request: Request, *, file_fields: tuple[str, ...] = (), max_file_bytes: int) -> dict:
    """The request's fields as one dict. Files become bytes under their field name.

    Hand-written on purpose: FastAPI parses one body encoding per route, and the same route
    gets multipart from the OpenAI SDK and JSON from every other client.

    multipart keys like `input_reference[image_url]` (how the OpenAI SDK sends a nested
    object) become nested dicts.
    """
    content_type = request.headers.get("content-type", "")
    media = content_type.split(";")[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        return await _read_json(request)
    if media in ("multipart/form-data", "application/x-www-form-urlencoded"):
        return await _read_form(request, media, file_fields, max_file_bytes)
    shown = media or "none"
    raise ApiError("unsupported_media_type", f"Content-Type {shown} is not supported: send application/json or "
                   "multipart/form-data")


async def _read_json(request: Request) -> dict:
    raw = await request.body()
    if not raw.strip():
        raise ApiError("bad_request", "request body is empty: send a JSON object")
    try:
        data = json.loads(raw, parse_constant=_no_constant, parse_int=parse_int)
    except UnicodeDecodeError:
        raise ApiError("bad_request", "request body is not UTF-8 JSON") from None
    except json.JSONDecodeError as exc:
        raise ApiError("bad_request", f"request body is not valid JSON ({exc.msg} at line {exc.lineno} "
                       f"column {exc.colno})") from None
    except ValueError as exc:  # anything else the decoder cannot read
        raise ApiError("bad_request", f"request body is not valid JSON ({str(exc)[:120]})") from None
    except RecursionError:  # the decoder recurses per nesting level
        raise ApiError("bad_request", f"request body is nested deeper than {MAX_DEPTH} levels") from None
    if not isinstance(data, dict):
        raise ApiError("bad_request", f"request body must be a JSON object, not {type(data).__name__}")
    return _clean(data)


def _no_constant(name: str):
    raise ApiError("bad_request", f"request body is not valid JSON ({name} is not a JSON number)")


def _clean(data: dict) -> dict:
    """The one edge check of every contract's body: encodable text everywhere, shallow nesting."""
    try:
        check_tree(data)
    except FieldError as exc:
        raise ApiError("invalid", str(exc), exc.field) from None
    return data


async def _read_form(request: Request, media: str, file_fields: tuple[str, ...], max_file_bytes: int) -> dict:
    if media == "multipart/form-data":
        await _check_multipart_framing(request)
    try:
        form = await request.form(max_files=len(file_fields) or 1, max_fields=MAX_FORM_FIELDS)
    except ApiError:
        raise
    except Exception as exc:  # python-multipart and Starlette raise several types for broken bodies
        detail = getattr(exc, "detail", None) or str(exc) or type(exc).__name__
        raise ApiError("bad_request", f"malformed {media} body: {detail}") from None
    data: dict = {}
    try:
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                if key not in file_fields:
                    raise ApiError("invalid", f"{key}: unexpected file upload (files are accepted only in "
                                   f"{', '.join(file_fields) or 'no field'})", key)
                value = await _read_upload(value, key, max_file_bytes)
            nested = _NESTED_KEY.match(key)
            target, name = (data.setdefault(nested.group(1), {}), nested.group(2)) if nested else (data, key)
            if not isinstance(target, dict):
                raise ApiError("invalid", f"{nested.group(1)}: given both as a value and as an object",
                               nested.group(1))
            if name in target:
                raise ApiError("invalid", f"{key}: given more than once", key)
            target[name] = value
    finally:
        await form.close()
    return _clean(data)


async def _check_multipart_framing(request: Request) -> None:
    """The multipart parser accepts a truncated body as 'fewer fields'; say it is broken instead."""
    content_type = request.headers.get("content-type", "")
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not match:
        raise ApiError("bad_request", "multipart/form-data body has no boundary in its Content-Type")
    boundary = match.group(1).encode("latin-1", "replace")
    raw = await request.body()  # cached: request.form() parses the same bytes
    if not raw.lstrip(b"\r\n").startswith(b"--" + boundary) or not raw.rstrip(b"\r\n").endswith(
            b"--" + boundary + b"--"):
        raise ApiError("bad_request", "malformed multipart/form-data body: it does not start and end with its "
                       "boundary (truncated upload?)")


async def _read_upload(upload: UploadFile, field: str, max_bytes: int) -> bytes:
    data = await upload.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ApiError("too_large", f"{field}: file is over the {max_bytes} byte limit", field)
    return data


# Images ------------------------------------------------------------------------

def image_from_bytes(data: bytes, settings: Settings, field: str):
    """Decode an uploaded image safely; returns an RGB PIL image."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise ApiError("invalid", f"{field}: the image is empty", field)
    if len(data) > settings.max_image_bytes:
        raise ApiError("too_large", f"{field}: image is {len(data)} bytes, over the {settings.max_image_bytes} "
                       "byte limit", field)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=IMAGE_FORMATS)
            width, height = img.size
            if width < 1 or height < 1 or width * height > settings.max_image_pixels:
                raise ApiError("invalid", f"{field}: image is {width}x{height} pixels, over the "
                               f"{settings.max_image_pixels} pixel limit", field)
            img.load()
            return img.convert("RGB")
    except ApiError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ApiError("invalid", f"{field}: image has too many pixels (decompression bomb)", field) from None
    except UnidentifiedImageError:
        raise ApiError("invalid", f"{field}: not an image (accepted: {', '.join(IMAGE_FORMATS)})", field) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ApiError("invalid", f"{field}: the image is truncated or corrupt ({exc})", field) from None


def _b64decode(text: str, settings: Settings, field: str) -> bytes:
    compact = re.sub(r"\s+", "", text)
    if len(compact) * 3 // 4 > settings.max_image_bytes + 3:
        raise ApiError("too_large", f"{field}: image is over the {settings.max_image_bytes} byte limit", field)
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError("invalid", f"{field}: not valid base64", field) from None


def _looks_like_base64(text: str) -> bool:
    """Only base64 characters, in whole 4-character groups: '/9j/4AAQ...' is data, '/etc/passwd' is not."""
    compact = re.sub(r"\s+", "", text)
    return len(compact) >= 8 and len(compact) % 4 == 0 and _BASE64_TEXT.fullmatch(compact) is not None


def image_from_reference(ref: str, settings: Settings, field: str):
    """An image given as a data URL, plain base64 or an http(s) URL -> RGB image."""
    ref = ref.strip()
    if not ref:
        raise ApiError("invalid", f"{field}: is empty", field)
    match = _DATA_URL.match(ref)
    if match:
        mime = (match.group("mime") or "").lower()
        if not mime.startswith("image/"):
            raise ApiError("invalid", f"{field}: data URL must hold an image (got {mime or 'no type'})", field)
        if not match.group("b64"):
            raise ApiError("invalid", f"{field}: data URL must be base64 encoded (';base64,')", field)
        return image_from_bytes(_b64decode(ref[match.end():], settings, field), settings, field)
    lowered = ref[:8].lower()
    if lowered.startswith("http://") or lowered.startswith("https://"):
        return image_from_bytes(fetch_image(ref, settings, field), settings, field)
    if _looks_like_base64(ref):  # before the path check: a JPEG's base64 starts with '/9j/'
        return image_from_bytes(_b64decode(ref, settings, field), settings, field)
    if "://" in ref[:16] or ref.startswith(("/", ".", "~", "file:")):
        raise ApiError("invalid", f"{field}: must be an http(s) URL, a data:image/...;base64 URL or base64 "
                       "image data", field)
    return image_from_bytes(_b64decode(ref, settings, field), settings, field)


def fetch_image(url: str, settings: Settings, field: str) -> bytes:
    """Download an image_url: the bytes `prefetch_images` already fetched for this request,
    else a download here (same deadline, size cap and address check; api/fetch.py)."""
    data = prefetched(url)
    return data if data is not None else fetch_image_blocking(url, settings, field)


# Videos ------------------------------------------------------------------------

# Source clips of edits and extensions: the container is told by its first bytes (never by a
# name or a declared type); the spec then decodes a frame of it (spec.check_video).
VIDEO_FORMATS = "MP4/MOV (ftyp) or WebM/Matroska"
_EBML_MAGIC = b"\x1a\x45\xdf\xa3"


def looks_like_video(data: bytes) -> bool:
    return data[4:8] == b"ftyp" or data[:4] == _EBML_MAGIC


def video_from_bytes(data: bytes, settings: Settings, field: str) -> bytes:
    """An uploaded source clip, checked for size and container before it is staged."""
    if not data:
        raise ApiError("invalid", f"{field}: the video is empty", field)
    if len(data) > settings.max_video_bytes:
        raise ApiError("too_large", f"{field}: video is {len(data)} bytes, over the {settings.max_video_bytes} "
                       "byte limit", field)
    if not looks_like_video(data):
        raise ApiError("invalid", f"{field}: not a video file (accepted: {VIDEO_FORMATS})", field)
    return data


def video_from_reference(ref: str, settings: Settings, field: str) -> bytes:
    """A source clip given inline as a data:video/...;base64 URL (no download: clips are large)."""
    match = _DATA_URL.match(ref.strip())
    if not match:
        raise ApiError("invalid", f"{field}: give the id of a completed video/job of this key or a "
                       "data:video/mp4;base64,... URL", field)
    mime = (match.group("mime") or "").lower()
    if not mime.startswith("video/"):
        raise ApiError("invalid", f"{field}: data URL must hold a video (got {mime or 'no type'})", field)
    if not match.group("b64"):
        raise ApiError("invalid", f"{field}: data URL must be base64 encoded (';base64,')", field)
    compact = re.sub(r"\s+", "", ref.strip()[match.end():])
    if len(compact) * 3 // 4 > settings.max_video_bytes + 3:
        raise ApiError("too_large", f"{field}: video is over the {settings.max_video_bytes} byte limit", field)
    try:
        data = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError("invalid", f"{field}: not valid base64", field) from None
    return video_from_bytes(data, settings, field)


def is_data_url(text: str) -> bool:
    return text.strip()[:5].lower() == "data:"


# Where each staged input file of a job lives in its folder: the names are the server's, never
# the client's. The first-frame image keeps its historical name (gallery and studio read it).
INPUT_FILE_NAMES = {"image": INPUT_IMAGE_NAME, "last_image": "input-last.png", "video": "input-video.mp4",
                    "extend_from": "input-source.mp4"}


def save_input_image(img, folder: Path, field: str = "image") -> Path:
    """Write the decoded image as PNG under the job folder, under a name the server chose."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / INPUT_FILE_NAMES[field]
    tmp = folder / f".{path.name}.tmp"
    img.save(tmp, format="PNG")
    tmp.replace(path)
    return path


def stage_input(value, folder: Path, field: str) -> Path:
    """Put one input of a job under its folder: a decoded image (PIL), a server file to copy
    (Path: a completed job's clip or image), or uploaded bytes (a clip, checked later by the spec)."""
    import shutil

    if isinstance(value, Path):
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / INPUT_FILE_NAMES[field]
        shutil.copyfile(value, path)
        return path
    if isinstance(value, (bytes, bytearray)):
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / INPUT_FILE_NAMES[field]
        tmp = folder / f".{path.name}.tmp"
        tmp.write_bytes(value)
        tmp.replace(path)
        return path
    return save_input_image(value, folder, field)
