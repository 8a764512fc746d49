"""Hostile-input battery (issue 18): hundreds of requests an attacker (or a broken client)
could send, against a real server, on the OpenAI, Zhipu and native contracts.

Every case asserts:
- the status is below 500;
- every 4xx is a JSON error body in the contract's shape (OpenAI/native
  `{"error": {"message", "type", "param", "code"}}`, Zhipu `{"error": {"code", "message"}}`)
  that names the field at fault where there is one (OpenAI/native: `error.param` or the
  field name in `error.message`; Zhipu: the field name in `error.message`);
- no absolute server path (the temporary HOME, the repository) in any answer;
- every JSON answer is strict JSON (no NaN/Infinity tokens);
- a request that was accepted left a job that can still be read back (a stored record
  that cannot be rendered must never break a read).
Some families say more (a cost request must be refused, an unknown LoRA is a 400, a bare
base64 JPEG is accepted, another key's ids are 404s...).

After the battery every list endpoint still answers 200 for each key.

The server runs without a worker (accepted jobs stay queued; nothing is rendered) and,
through a `sitecustomize` guard on its path, can open no connection beyond loopback: image
URLs such as `http://127.0.0.1:8799@1.1.1.1/x` exercise the parser and the host check, never
the network. `test_accepted_odd_text_renders` runs the cases that used to fail only after a
whole render on a second server that has a worker.

The listed cases run in the default suite (about 30 s); the hypothesis-generated bodies and
the render cases are `-m slow`. SHOTSMITH_TEST_SRC=<checkout>/src runs the servers on another
checkout's sources (e.g. to see which cases an older commit fails).
"""

from __future__ import annotations

import base64
import io
import json
import math
import os
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from api_server import FAST_SIZE, KEY_A, KEY_B, PROMPT, REPO, data_url, decode_video, png_bytes, start_server, wait_for

MAX_BODY_BYTES = 2_000_000
NO_BODY = object()

CREATE = {"openai": "/v1/videos", "zhipu": "/api/paas/v4/videos/generations", "native": "/api/v1/jobs"}
RETRIEVE = {"openai": "/v1/videos/{id}", "zhipu": "/api/paas/v4/async-result/{id}", "native": "/api/v1/jobs/{id}"}
GOOD = {
    "openai": {"prompt": PROMPT, "size": FAST_SIZE, "steps": 2, "enhance": False},
    "zhipu": {"model": "cogvideox-shapes", "prompt": PROMPT, "size": FAST_SIZE, "steps": 2, "enhance": False},
    "native": {"prompt": PROMPT, "size": FAST_SIZE, "steps": 2, "enhance": False},
}
# Every text field of every contract (dotted: a field inside an object).
TEXT_FIELDS = {
    "openai": ["prompt", "negative_prompt", "model", "seconds", "size", "style", "lora", "cache", "interpolation",
               "input_reference.image_url", "input_reference.file_id"],
    "zhipu": ["model", "prompt", "negative_prompt", "image_url", "quality", "size", "request_id", "user_id", "style",
              "lora", "cache", "interpolation"],
    "native": ["prompt", "negative_prompt", "image", "model", "size", "style", "enhanced_prompt", "lora", "cache",
               "interpolation"],
}
ENHANCE_FIELDS = ["text", "scene", "content", "style", "mode", "backend", "model"]
IMAGE_FIELD = {"openai": "input_reference.image_url", "zhipu": "image_url", "native": "image"}
I2V = {"openai": {}, "zhipu": {"model": "cogvideox-shapes-i2v"}, "native": {}}


@dataclass
class Case:
    id: str
    family: str
    contract: str                      # openai | zhipu | native: the error shape expected
    method: str
    path: str                          # {a_openai} {a_zhipu} {a_native}: ids of KEY_A's own jobs
    body: object = NO_BODY             # serialised with json.dumps (lone surrogates stay \\uXXXX escapes)
    raw: bytes | None = None           # sent as is
    content_type: str | None = "application/json"
    files: dict | None = None          # multipart parts
    headers: dict = field(default_factory=dict)
    key: str | None = KEY_A            # None: no Authorization header
    param: str | None = None           # the field a refusal must name
    expect: object = "ok"              # "ok": any status < 500; "4xx"; "2xx"; or one exact status
    words: tuple[str, ...] = ()        # a refusal's message holds one of these
    raw_http: bool = False             # sent with http.client: header values httpx refuses to send


CASES: list[Case] = []


def add(*args, **kwargs) -> None:
    CASES.append(Case(*args, **kwargs))


def with_field(body: dict, dotted: str, value) -> dict:
    body = json.loads(json.dumps(body))
    head, _, tail = dotted.partition(".")
    if tail:
        body[head] = {**body.get(head, {}), tail: value}
    else:
        body[head] = value
    return body


def create(contract: str, id_: str, family: str, changes: dict | None = None, *, param=None, expect="ok",
           words=(), base: dict | None = None, **kwargs) -> None:
    body = json.loads(json.dumps(GOOD[contract] if base is None else base))
    for name, value in (changes or {}).items():
        body = with_field(body, name, value)
    add(f"{contract}-{id_}", family, contract, "POST", CREATE[contract], body, param=param, expect=expect,
        words=words, **kwargs)


def jpeg_b64() -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (96, 64), (40, 120, 200)).save(buf, format="JPEG")
    return base64.b64encode(buf.getvalue()).decode()


# 1. Lone surrogates (raw JSON escapes) in every text field of every contract ---------------
SURROGATES = {"lone-high": "\ud800", "lone-low-inside": "user-\udfff-12345"}
for contract, names in TEXT_FIELDS.items():
    for name in names:
        for tag, value in SURROGATES.items():
            create(contract, f"surrogate-{name}-{tag}", "surrogate", {name: value}, param=name)
for name in ENHANCE_FIELDS:
    for tag, value in SURROGATES.items():
        add(f"native-surrogate-enhance-{name}-{tag}", "surrogate", "native", "POST", "/api/v1/enhance",
            {"text": "a ball", name: value}, param=name)
for tag, value in SURROGATES.items():
    add(f"openai-surrogate-remix-prompt-{tag}", "surrogate", "openai", "POST", "/v1/videos/{a_openai}/remix",
        {"prompt": value}, param="prompt")
create("zhipu", "surrogate-image_url-list", "surrogate", {"image_url": ["\ud800"]}, param="image_url")
create("zhipu", "surrogate-sensitive_word_check", "surrogate",
       {"sensitive_word_check": {"type": "\ud800", "status": "\udc00"}})
for contract in CREATE:
    create(contract, "surrogate-unknown-key", "surrogate", {"\ud800": "x"})
    create(contract, "surrogate-pair-reversed-prompt", "surrogate", {"prompt": "\udc00\ud800 ball"}, param="prompt")
# the same bytes a surrogate would encode to (CESU-8), in multipart fields: not UTF-8
CESU = b"\xed\xa0\x80"
for name in ("prompt", "negative_prompt", "model", "size", "seconds", "lora", "style", "cache"):
    parts = {"prompt": (None, PROMPT.encode()), "size": (None, FAST_SIZE.encode()), "steps": (None, b"2")}
    parts[name] = (None, b"a" + CESU + b"b")
    add(f"openai-surrogate-multipart-{name}", "surrogate", "openai", "POST", "/v1/videos", files=parts, param=name)
add("openai-surrogate-multipart-filename", "surrogate", "openai", "POST", "/v1/videos",
    raw=b"--zz\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\n" + PROMPT.encode() +
    b"\r\n--zz\r\nContent-Disposition: form-data; name=\"input_reference\"; filename=\"a" + CESU +
    b".png\"\r\nContent-Type: image/png\r\n\r\n" + png_bytes() + b"\r\n--zz--\r\n",
    content_type="multipart/form-data; boundary=zz")
for path, contract in (("/api/v1/jobs/%ED%A0%80", "native"), ("/v1/videos/%ED%A0%80", "openai"),
                       ("/api/paas/v4/async-result/%ED%A0%80", "zhipu"), ("/v1/videos?after=%ED%A0%80", "openai"),
                       ("/api/v1/studio/jobs?q=%ED%A0%80", "native"), ("/api/v1/studio/jobs?style=%ED%A0%80",
                                                                      "native"),
                       ("/api/v1/jobs/{a_native}/files/%ED%A0%80", "native")):
    add(f"{contract}-surrogate-url-{path.split('?')[0].strip('/').replace('/', '_')[:40]}-{len(CASES)}",
        "surrogate", contract, "GET", path)

# 2./3. Image URLs: parser edge cases, odd schemes, private hosts in disguise ----------------
IMAGE_URLS = {
    "bracketed-ipv4": "http://[1.1.1.1]/x",
    "userinfo-loopback": "http://127.0.0.1:8799@1.1.1.1/x",
    "userinfo-reverse": "http://1.1.1.1@127.0.0.1:8799/x",
    "backslash-userinfo": "http://1.1.1.1\\@127.0.0.1/x",
    "space-in-host": "http://1.1.1.1 /x",
    "space-in-path": "http://1.1.1.1/a b.png",
    "crlf-header-injection": "http://1.1.1.1/x.png\r\nHost: 127.0.0.1\r\n",
    "tab-in-host": "http://1.1.\t1.1/x",
    "port-too-large": "http://1.1.1.1:99999/x",
    "port-negative": "http://1.1.1.1:-1/x",
    "port-not-number": "http://1.1.1.1:http/x",
    "no-host": "http:///x.png",
    "decimal-loopback": "http://2130706433/x.png",
    "hex-loopback": "http://0x7f000001/x.png",
    "short-loopback": "http://127.1/x.png",
    "zero-host": "http://0/x.png",
    "ipv6-loopback": "http://[::1]/x.png",
    "ipv4-mapped-ipv6": "http://[::ffff:127.0.0.1]/x.png",
    "ipv6-zone": "http://[fe80::1%25eth0]/x.png",
    "bad-ipv6": "http://[::1/x.png",
    "percent-host": "http://%31%32%37.0.0.1/x.png",
    "ftp-scheme": "ftp://1.1.1.1/x.png",
    "gopher-scheme": "gopher://127.0.0.1:6379/_INFO",
    "file-scheme": "file:///etc/passwd",
    "javascript-scheme": "javascript:alert(1)",
    "upper-scheme": "HTTP://127.0.0.1:1/x.png",
    "scheme-only": "http://",
    "metadata-ip": "http://169.254.169.254/latest/meta-data/",
}
for contract in CREATE:
    for tag, url in IMAGE_URLS.items():
        create(contract, f"image-url-{tag}", "image-url", {IMAGE_FIELD[contract]: url, **I2V[contract]},
               param=IMAGE_FIELD[contract].split(".")[-1], expect="4xx")
create("zhipu", "image-url-list-userinfo", "image-url", {"image_url": ["http://127.0.0.1:8799@1.1.1.1/x"],
                                                          **I2V["zhipu"]}, param="image_url", expect="4xx")
create("zhipu", "image-url-list-bracketed", "image-url", {"image_url": ["http://[1.1.1.1]/x"], **I2V["zhipu"]},
       param="image_url", expect="4xx")
create("zhipu", "image-url-wrong-type", "image-url", {"image_url": {"url": "http://1.1.1.1/x"}}, param="image_url",
       expect="4xx")
create("openai", "image-url-as-string", "image-url", {"input_reference": "http://[1.1.1.1]/x"},
       param="input_reference", expect="4xx")

# 4. Deeply nested JSON -------------------------------------------------------------------
DEEP = {"brackets": b"[" * 100_000, "objects": b'{"a":' * 100_000,
        "in-field": b'{"prompt": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        "closed-brackets": b"[" * 100_000 + b"]" * 100_000}
for contract, path in (*CREATE.items(), ("native", "/api/v1/enhance"), ("openai", "/v1/videos/{a_openai}/remix")):
    for tag, raw in DEEP.items():
        add(f"{contract}-nested-{tag}-{path.rsplit('/', 1)[-1]}", "nested-json", contract, "POST", path, raw=raw,
            expect="4xx")

# 4b. Storyboards: the same edge rules on the board routes (nesting, text, numbers, odd ids) ----------
for tag, raw in DEEP.items():
    add(f"native-nested-{tag}-boards", "nested-json", "native", "POST", "/api/v1/boards", raw=raw, expect="4xx")
BOARD_BODIES = [
    ("nul-name", {"name": "a\u0000b"}, "name", 400),
    ("surrogate-name", {"name": "a\ud800b"}, "name", 400),
    ("emoji-4000-name", {"name": "\U0001F3AC" * 4000}, "name", 400),
    ("name-a-number", {"name": 1e308}, "name", 400),
    ("shots-an-object", {"name": "x", "shots": {"a": 1}}, "shots", 400),
    ("shot-text-a-list", {"name": "x", "shots": [{"text": ["a"] * 3}]}, "text", 400),
    ("shot-duration-huge", {"name": "x", "shots": [{"text": "a red ball", "duration": 1e308}]}, "duration", 400),
    ("unknown-field", {"name": "x", "bogus": 1}, "bogus", 400),
    ("script-with-nul-kept-as-text", {"name": "x", "script": "Scene 1\u0000 a red ball rolls"}, None, 201),
]
for tag, body, param, expect in BOARD_BODIES:
    add(f"native-board-{tag}", "bodies", "native", "POST", "/api/v1/boards", body, param=param, expect=expect)
add("native-board-dot-dot-id", "odd-url", "native", "GET", "/api/v1/boards/%2e%2e%2f%2e%2e", expect=404)
add("native-board-file-dot-dot", "odd-url", "native", "GET", "/api/v1/boards/x/files/..%2f..%2fsecret", expect=404)

# 5. NUL characters and 4,000 emoji -----------------------------------------------------------
for contract, names in TEXT_FIELDS.items():
    for name in names:
        create(contract, f"nul-{name}", "nul", {name: "a red\u0000ball -vf x"}, param=name)
create("native", "nul-only-enhanced_prompt", "nul", {"enhanced_prompt": "\u0000"}, param="enhanced_prompt")
EMOJI = "\U0001F3AC"  # a clapper board: 1 code point, 2 UTF-16 units, 4 UTF-8 bytes
FAMILY = "\U0001F469\u200D\U0001F469\u200D\U0001F467\u200D\U0001F466"  # 7 code points, one glyph
for contract in CREATE:
    create(contract, "emoji-4000-prompt-and-negative", "emoji", {"prompt": EMOJI * 4000,
                                                                 "negative_prompt": EMOJI * 4000})
    create(contract, "emoji-zwj-family-prompt", "emoji", {"prompt": FAMILY * 571, "negative_prompt": FAMILY * 571})
    create(contract, "emoji-4001-prompt", "emoji", {"prompt": EMOJI * 4001}, param="prompt", expect=400)
create("native", "emoji-4000-enhanced_prompt", "emoji", {"enhanced_prompt": EMOJI * 4000,
                                                         "negative_prompt": EMOJI * 4000})
add("native-emoji-enhance-text", "emoji", "native", "POST", "/api/v1/enhance", {"text": EMOJI * 4000})

# 9. Bare base64 JPEG (starts with /9j/): docs/api.md accepts bare base64 ----------------------
JPEG = jpeg_b64()
assert JPEG.startswith("/9j/")
create("native", "base64-jpeg-bare", "base64-jpeg", {"image": JPEG}, param="image", expect="2xx")
create("zhipu", "base64-jpeg-bare", "base64-jpeg", {"image_url": JPEG, "model": "cogvideox-shapes-i2v"},
       param="image_url", expect="2xx")
create("zhipu", "base64-jpeg-bare-list", "base64-jpeg", {"image_url": [JPEG], "model": "cogvideox-shapes-i2v"},
       param="image_url", expect="2xx")
create("openai", "base64-jpeg-bare", "base64-jpeg", {"input_reference.image_url": JPEG}, param="image_url")
create("native", "base64-jpeg-data-url", "base64-jpeg", {"image": "data:image/jpeg;base64," + JPEG}, expect="2xx")
create("native", "base64-jpeg-bare-wrapped", "base64-jpeg", {"image": "\n".join(textwrap.wrap(JPEG, 76))},
       param="image", expect="2xx")
create("native", "base64-jpeg-truncated", "base64-jpeg", {"image": JPEG[:200]}, param="image", expect="4xx")
create("native", "base64-path-lookalike", "base64-jpeg", {"image": "/9j/../../etc/passwd"}, param="image",
       expect="4xx")

# 11. Cost: the most expensive request must be refused with a 400 naming the limit -------------
COST_WORDS = ("cost", "limit", "too expensive", "budget")
create("openai", "cost-max", "cost", {"candidates": 4, "steps": 200, "size": "4096x4096", "seconds": "12"},
       expect=400, words=COST_WORDS)
create("native", "cost-max", "cost", {"candidates": 4, "steps": 200, "size": "4096x4096", "seconds": 12},
       expect=400, words=COST_WORDS)
create("zhipu", "cost-max", "cost", {"candidates": 4, "steps": 200, "size": "4096x4096", "duration": 12, "fps": 60},
       expect=400, words=COST_WORDS)
add("openai-cost-max-multipart", "cost", "openai", "POST", "/v1/videos",
    files={"prompt": (None, PROMPT.encode()), "candidates": (None, b"4"), "steps": (None, b"200"),
           "size": (None, b"4096x4096"), "seconds": (None, b"12")}, expect=400, words=COST_WORDS)
for contract in CREATE:
    create(contract, "cost-huge-steps", "cost", {"steps": 10**9}, param="steps", expect="4xx")
    create(contract, "cost-huge-candidates", "cost", {"candidates": 10**6}, param="candidates", expect="4xx")
    create(contract, "cost-huge-size", "cost", {"size": "65536x65536"}, param="size", expect="4xx")

# 11./7. Unknown LoRA and model names: a 400 that reveals no server path ---------------------
NAMES = {
    "lora": ["no-such-lora", "../../../etc/passwd", "/etc/passwd", "a" * 1000, "LORA.safetensors", "..", "~root"],
    "model": ["no-such-model", "cogvideox-2b", "cogvideox1.5-5b-i2v", "../models/cogvideox-2b", "/tmp", "~/models",
              "COGVIDEOX-5B"],
}
for contract in CREATE:
    for name, values in NAMES.items():
        for i, value in enumerate(values):
            create(contract, f"unknown-{name}-{i}", "unknown-name", {name: value}, param=name, expect=400)
# the enhance request reads only a model's window: a registry name without weights is fine, a path never
for i, value in enumerate(["no-such-model", "../models/cogvideox-2b", "/tmp", "~/models", "a" * 5000]):
    add(f"native-unknown-enhance-model-{i}", "unknown-name", "native", "POST", "/api/v1/enhance",
        {"text": "a ball", "model": value}, param="model", expect=400)

# Odd unicode: RTL overrides, zero-width, combining marks, NFKC tricks --------------------------
ODD = {
    "rtl-override": "a red ball \u202egnp.exe\u202c",
    "zero-width": "a\u200b\u200c\u200d\u2060red\ufeffball",
    "combining-flood": "a" + "\u0301" * 3000,
    "fullwidth": "\uff43\uff4f\uff47\uff56\uff49\uff44\uff45\uff4f\uff58",
    "ligature-nfkc": "\ufb01re \u2460 \u2163",
    "line-separators": "a\u2028b\u2029c\u0085d",
    "tag-chars": "ball\U000E0041\U000E007F",
    "noncharacter": "ball\uffff\ufffe\U0010FFFF",
    "bidi-isolates": "\u2066\u2067\u2068ball\u2069",
    "control-chars": "a\u0001\u0007\u001b[31mred\u007f",
}
ODD_FIELDS = {"openai": ["prompt", "model", "size", "seconds", "lora", "style"],
              "zhipu": ["prompt", "model", "size", "request_id", "user_id", "quality"],
              "native": ["prompt", "enhanced_prompt", "model", "size", "cache", "negative_prompt"]}
for contract, names in ODD_FIELDS.items():
    for i, (tag, value) in enumerate(ODD.items()):
        name = names[i % len(names)]
        create(contract, f"unicode-{tag}-{name}", "odd-unicode", {name: value}, param=name)
for contract in CREATE:
    create(contract, "unicode-fullwidth-size", "odd-unicode", {"size": "\uff14\uff18\uff10x\uff13\uff12\uff10"},
           param="size")
    create(contract, "unicode-multiplication-sign-size", "odd-unicode", {"size": "480\u00d7320"}, param="size")
    create(contract, "unicode-arabic-digits-seconds", "odd-unicode",
           {"duration" if contract == "zhipu" else "seconds": "\u0664"}, param="duration" if contract == "zhipu"
           else "seconds")
    create(contract, "unicode-model-lookalike", "odd-unicode", {"model": "cogvideox\u2010shapes"}, param="model",
           expect="4xx")

# Wrong types -----------------------------------------------------------------------------------
WRONG = {"list": [1, 2], "object": {"a": 1}, "bool": True, "number": 12345, "null": None}
TYPED = {"openai": ["prompt", "size", "seconds", "steps", "candidates", "seed", "guidance", "fps", "enhance",
                    "input_reference", "lora_scale"],
         "zhipu": ["model", "prompt", "duration", "fps", "with_audio", "quality", "request_id", "steps",
                   "sensitive_word_check", "user_id"],
         "native": ["prompt", "image", "seconds", "steps", "candidates", "guidance", "enhanced_prompt", "enhance",
                    "style", "lora_scale"]}
for contract, names in TYPED.items():
    for i, name in enumerate(names):
        for j, (tag, value) in enumerate(WRONG.items()):
            if (i + j) % 2 and tag != "null":
                continue  # half the grid is enough to cover every type on every contract
            create(contract, f"type-{name}-{tag}", "wrong-type", {name: value}, param=name)

# Huge and negative numbers; NaN and Infinity as JSON tokens -------------------------------------
NUMERIC = {"openai": ["seed", "steps", "candidates", "guidance", "fps", "lora_scale", "seconds"],
           "zhipu": ["seed", "steps", "candidates", "guidance", "fps", "duration", "lora_scale"],
           "native": ["seed", "steps", "candidates", "guidance", "fps", "seconds", "lora_scale"]}
NUMBERS = {"huge": 10**40, "huge-negative": -10**40, "negative": -1, "float-overflow": 1e308, "tiny": 5e-324,
           "nan": math.nan, "inf": math.inf, "minus-inf": -math.inf}
for contract, names in NUMERIC.items():
    for name in names:
        for tag, value in NUMBERS.items():
            if tag in ("tiny", "huge-negative") and name not in ("seed", "guidance"):
                continue
            if tag in ("nan", "inf", "minus-inf"):
                # NaN/Infinity are not JSON (RFC 8259): a refusal may name the field or say the body is not JSON
                create(contract, f"number-{name}-{tag}", "numbers", {name: value}, expect="4xx",
                       words=(name, "JSON"))
            else:
                create(contract, f"number-{name}-{tag}", "numbers", {name: value}, param=name)
for contract in CREATE:
    add(f"{contract}-number-literal-1e999", "numbers", contract, "POST", CREATE[contract],
        raw=json.dumps(GOOD[contract])[:-1].encode() + b', "guidance": 1e999}', param="guidance")
    add(f"{contract}-number-digits-100k", "numbers", contract, "POST", CREATE[contract],
        raw=json.dumps(GOOD[contract])[:-1].encode() + b', "seed": ' + b"9" * 100_000 + b"}", param="seed",
        expect="4xx")

# Huge bodies, odd JSON documents ---------------------------------------------------------------
for contract, path in CREATE.items():
    good = json.dumps(GOOD[contract])
    add(f"{contract}-body-over-limit", "bodies", contract, "POST", path,
        raw=good[:-1].encode() + b', "negative_prompt": "' + b"x" * MAX_BODY_BYTES + b'"}', expect=413)
    # unknown fields: a 400 on Zhipu and native; the OpenAI surface ignores them (the SDK may add fields)
    unknown = "ok" if contract == "openai" else "4xx"
    add(f"{contract}-body-many-keys", "bodies", contract, "POST", path,
        raw=json.dumps({**GOOD[contract], **{f"k{i}": i for i in range(50_000)}}).encode(), expect=unknown)
    add(f"{contract}-body-duplicate-keys", "bodies", contract, "POST", path,
        raw=good[:-1].encode() + b', "prompt": 1, "prompt": "x"}')
    add(f"{contract}-body-long-key", "bodies", contract, "POST", path,
        raw=good[:-1].encode() + b', "' + b"k" * 500_000 + b'": 1}', expect=unknown)
    add(f"{contract}-body-big-array", "bodies", contract, "POST", path,
        raw=good[:-1].encode() + b', "prompt": [' + b"1," * 200_000 + b"1]}", param="prompt", expect="4xx")
    add(f"{contract}-body-top-level-string", "bodies", contract, "POST", path, raw=b'"\\ud800"', expect="4xx")
    add(f"{contract}-body-top-level-nan", "bodies", contract, "POST", path, raw=b"NaN", expect="4xx")
    add(f"{contract}-body-utf16", "bodies", contract, "POST", path, raw=good.encode("utf-16"),
        content_type="application/json; charset=utf-16")
    add(f"{contract}-body-bom", "bodies", contract, "POST", path, raw=b"\xef\xbb\xbf" + good.encode())
    add(f"{contract}-body-invalid-utf8", "bodies", contract, "POST", path,
        raw=good[:-1].encode() + b', "negative_prompt": "\xff\xfe"}', expect="4xx")
    add(f"{contract}-body-trailing-garbage", "bodies", contract, "POST", path, raw=good.encode() + b" {}",
        expect="4xx")
    add(f"{contract}-body-nul-bytes", "bodies", contract, "POST", path, raw=b"\x00" * 1000, expect="4xx")

# Wrong content types ----------------------------------------------------------------------------
CONTENT_TYPES = {"text-plain": ("text/plain", 415), "xml": ("application/xml", 415), "none": (None, 415),
                 "octet-stream": ("application/octet-stream", 415), "json-garbage-params":
                 ("application/json; charset=\x7f; boundary", "ok"), "vendor-json": ("application/vnd.x+json", "ok"),
                 "form-urlencoded": ("application/x-www-form-urlencoded", "ok"),
                 "multipart-no-boundary": ("multipart/form-data", "4xx"),
                 "multipart-empty-boundary": ("multipart/form-data; boundary=", "4xx"),
                 "multipart-json-body": ("multipart/form-data; boundary=zz", "4xx")}
for contract, path in CREATE.items():
    for tag, (ctype, expect) in CONTENT_TYPES.items():
        add(f"{contract}-content-type-{tag}", "content-type", contract, "POST", path,
            raw=json.dumps(GOOD[contract]).encode(), content_type=ctype, expect=expect)
add("openai-content-encoding-gzip-garbage", "content-type", "openai", "POST", "/v1/videos",
    raw=json.dumps(GOOD["openai"]).encode(), headers={"content-encoding": "gzip"})
add("zhipu-multipart", "content-type", "zhipu", "POST", CREATE["zhipu"],
    files={"model": (None, b"cogvideox-shapes"), "prompt": (None, PROMPT.encode())}, expect=415)
add("openai-multipart-many-fields", "content-type", "openai", "POST", "/v1/videos",
    files={f"f{i}": (None, b"x") for i in range(500)}, expect="4xx")
add("openai-multipart-duplicate-prompt", "content-type", "openai", "POST", "/v1/videos",
    files=[("prompt", (None, b"a")), ("prompt", (None, b"b"))], param="prompt", expect="4xx")
add("openai-multipart-nested-conflict", "content-type", "openai", "POST", "/v1/videos",
    files=[("prompt", (None, PROMPT.encode())), ("input_reference", (None, b"x")),
           ("input_reference[image_url]", (None, b"http://[1.1.1.1]/x"))], param="input_reference", expect="4xx")
add("openai-multipart-image-url-userinfo", "content-type", "openai", "POST", "/v1/videos",
    files=[("prompt", (None, PROMPT.encode())),
           ("input_reference[image_url]", (None, b"http://127.0.0.1:8799@1.1.1.1/x"))], param="image_url",
    expect="4xx")

# Odd URLs: traversal, overlong, NUL, bad percent-encoding -----------------------------------------
ODD_URLS = [
    ("openai", "/v1/videos/..%2F..%2Fjobs.sqlite3"), ("openai", "/v1/videos/%2e%2e/%2e%2e/etc/passwd"),
    ("openai", "/v1/videos/..%252f..%252fjobs.sqlite3"), ("openai", "/v1/videos/" + "a" * 8000),
    ("openai", "/v1/videos/video_%00"), ("openai", "/v1/videos/%zz"), ("openai", "/v1/videos/{a_openai}%00"),
    ("openai", "/v1/videos/{a_openai}/content?variant=..%2Fjobs.sqlite3"),
    ("openai", "/v1/videos/{a_openai}/content?candidate=99999999999999999999"),
    ("openai", "/v1/videos?limit=1e9"), ("openai", "/v1/videos?limit=-1"), ("openai", "/v1/videos?order=asc%00"),
    ("openai", "/v1/videos?after=..%2F..%2Fx"),
    ("openai", "/v1/videos/characters"), ("openai", "/v1/videos/extensions"), ("openai", "/v1/videos/edits"),
    ("native", "/api/v1/jobs/{a_native}/files/..%2F..%2Fjobs.sqlite3"),
    ("native", "/api/v1/jobs/{a_native}/files/%2e%2e%2fjobs.sqlite3"),
    ("native", "/api/v1/jobs/{a_native}/files/input.png%00.mp4"),
    ("native", "/api/v1/jobs/{a_native}/files/" + "b" * 8000),
    ("native", "/api/v1/jobs/..%2F..%2F..%2Fetc%2Fpasswd"), ("native", "/api/v1/jobs/%2e%2e"),
    ("native", "/api/v1/jobs?limit=101"), ("native", "/api/v1/jobs?after=%00"),
    ("native", "/api/v1/studio/jobs?q=" + "q" * 5000), ("native", "/api/v1/studio/jobs?status=..%2F"),
    ("native", "/api/v1/studio/jobs/..%2F..%2Fjobs.sqlite3"),
    ("native", "/studio/media/{a_native}/..%2F..%2Fjobs.sqlite3?o=x&e=1&s=x"),
    ("native", "/studio/media/{a_native}/clip.mp4?o=x&e=99999999999999999999999999&s=x"),
    ("native", "/studio/media/{a_native}/clip.mp4?o=x&e=-1&s=%ED%A0%80"),
    ("native", "/studio/media/..%2F..%2F/jobs.sqlite3?o=x&e=1&s=x"),
    ("native", "/studio/media/{a_native}/input.png"),
    ("zhipu", "/api/paas/v4/async-result/..%2F..%2F..%2Fetc%2Fpasswd"),
    ("zhipu", "/api/paas/v4/async-result/" + "z" * 8000), ("zhipu", "/api/paas/v4/async-result/%00"),
    ("zhipu", "/api/paas/v4/async-result/{a_zhipu}%20"), ("zhipu", "/api/paas/v4/async-result/"),
]
for i, (contract, url) in enumerate(ODD_URLS):
    add(f"{contract}-odd-url-{i}", "odd-url", contract, "GET", url, expect="4xx")
add("openai-odd-url-1000-query-params", "odd-url", "openai", "GET",
    "/v1/videos?" + "&".join(f"p{i}=1" for i in range(1000)))
add("openai-odd-url-post-characters", "odd-url", "openai", "POST", "/v1/videos/characters",
    {"name": "x", "video": "video_1"}, expect="4xx")
add("openai-odd-url-put", "odd-url", "openai", "PUT", "/v1/videos/{a_openai}", {"prompt": "x"}, expect=405)
add("zhipu-odd-url-delete", "odd-url", "zhipu", "DELETE", "/api/paas/v4/async-result/{a_zhipu}", expect=405)

# Wrong or missing keys ---------------------------------------------------------------------------
AUTH = {"none": None, "empty-bearer": "Bearer ", "spaces": "Bearer    ", "basic": "Basic YTpi",
        "token-scheme": f"Token {KEY_A}", "two-keys": f"Bearer {KEY_A}, Bearer {KEY_B}",
        "key-prefix": f"Bearer {KEY_A[:-1]}", "key-suffix": f"Bearer {KEY_A}x", "latin1": "Bearer sk-\xe9\xe8",
        "long": "Bearer " + "k" * 6000, "no-space": f"Bearer{KEY_A}"}
AUTH_PATHS = {"openai": [("GET", "/v1/videos"), ("POST", "/v1/videos")],
              "zhipu": [("POST", CREATE["zhipu"]), ("GET", "/api/paas/v4/async-result/{a_zhipu}")],
              "native": [("GET", "/api/v1/jobs"), ("GET", "/api/v1/studio/jobs")]}
for contract, routes in AUTH_PATHS.items():
    for i, (tag, header) in enumerate(AUTH.items()):
        method, path = routes[i % 2]
        add(f"{contract}-auth-{tag}-{method.lower()}", "keys", contract, method, path,
            GOOD[contract] if method == "POST" else NO_BODY, key=None,
            headers={"authorization": header} if header is not None else {}, expect=401, raw_http=True)

# Other keys' job ids: 404, never the job -------------------------------------------------------------
OTHERS = [("openai", "GET", "/v1/videos/{a_openai}"), ("openai", "GET", "/v1/videos/{a_openai}/content"),
          ("openai", "DELETE", "/v1/videos/{a_openai}"), ("openai", "POST", "/v1/videos/{a_openai}/remix"),
          ("openai", "GET", "/v1/videos?after={a_openai}"),
          ("zhipu", "GET", "/api/paas/v4/async-result/{a_zhipu}"), ("zhipu", "GET", "/api/paas/v4/async-result/"
                                                                                   "{a_native}"),
          ("native", "GET", "/api/v1/jobs/{a_native}"), ("native", "POST", "/api/v1/jobs/{a_native}/cancel"),
          ("native", "DELETE", "/api/v1/jobs/{a_zhipu}"), ("native", "GET", "/api/v1/jobs/{a_native}/files/input.png"),
          ("native", "GET", "/api/v1/jobs/{a_native}/events"), ("native", "GET", "/api/v1/studio/jobs/{a_openai}"),
          ("native", "GET", "/api/v1/jobs?after={a_native}")]
for contract, method, path in OTHERS:
    add(f"{contract}-other-key-{method.lower()}-{path.strip('/').replace('/', '_').replace('?', '_')}", "other-key",
        contract, method, path, {"prompt": "x"} if method == "POST" and "remix" in path else NO_BODY, key=KEY_B,
        expect=404)


# The server ----------------------------------------------------------------------------------------

GUARD = '''
"""Test guard (tests/test_hostile.py): this process may open no connection beyond loopback."""
import ipaddress
import socket

_connect, _connect_ex = socket.socket.connect, socket.socket.connect_ex


def _loopback(address):
    if not isinstance(address, tuple):
        return True  # AF_UNIX
    host = str(address[0]).split("%")[0]
    if host == "localhost":
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return ip.is_loopback or bool(mapped and mapped.is_loopback)


def connect(self, address):
    if not _loopback(address):
        raise ConnectionRefusedError(111, "test guard: no connections beyond loopback")
    return _connect(self, address)


def connect_ex(self, address):
    if not _loopback(address):
        return 111
    return _connect_ex(self, address)


socket.socket.connect, socket.socket.connect_ex = connect, connect_ex
'''


def guarded_env(tmp: Path) -> dict:
    """PYTHONPATH for a server: the loopback guard, then the sources (SHOTSMITH_TEST_SRC: another checkout's)."""
    guard = tmp / "loopback-guard"
    guard.mkdir(parents=True, exist_ok=True)
    (guard / "sitecustomize.py").write_text(GUARD)
    return {"PYTHONPATH": os.pathsep.join([str(guard), os.environ.get("SHOTSMITH_TEST_SRC") or str(REPO / "src")])}


@pytest.fixture(scope="module")
def hserver(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    srv = start_server(root / "home", env={
        **guarded_env(root), "SHOTSMITH_WORKER": "0", "SHOTSMITH_MAX_ACTIVE_JOBS_PER_KEY": "100000",
        "SHOTSMITH_MAX_BODY_BYTES": str(MAX_BODY_BYTES), "SHOTSMITH_IMAGE_FETCH_TIMEOUT_S": "3",
        "SHOTSMITH_LORAS": str(root / "home" / "loras"), "SHOTSMITH_MODELS": str(root / "home" / "models")})
    try:
        yield srv
    finally:
        close_client(srv)
        srv.stop()


CREATED: list[tuple[str, str, str]] = []  # (contract, id, key) of every job a case made


@pytest.fixture(scope="module")
def owned(hserver) -> dict:
    """One queued job of KEY_A's per contract (the server has no worker: they stay queued)."""
    ids = {}
    with hserver.client(KEY_A) as http:
        for contract in CREATE:
            answer = http.post(CREATE[contract], json=GOOD[contract])
            assert answer.status_code == 200, answer.text
            ids[f"a_{contract}"] = answer.json()["id"]
            CREATED.append((contract, answer.json()["id"], KEY_A))
    return ids


def forbidden_strings(server) -> list[str]:
    return [s for s in {str(server.home), str(server.home.parent), str(REPO), str(Path(sys.prefix).resolve()),
                        "/tmp/pytest-of-"} if len(s) > 4]


def strict_json(text: str):
    def refuse(token):
        raise ValueError(f"non-standard JSON token {token}")
    return json.loads(text, parse_constant=refuse)


def check_answer(server, response: httpx.Response, contract: str, *, param: str | None = None,
                 words: tuple[str, ...] = (), what: str = "") -> None:
    """The checks every answer of the battery must pass."""
    where = f"{what}: {response.request.method} {str(response.request.url)[:200]} -> {response.status_code} " \
            f"{response.text[:600]!r}"
    assert response.status_code < 500, where
    for leak in forbidden_strings(server):
        assert leak not in response.text, f"server path {leak!r} in the answer; {where}"
    ctype = response.headers.get("content-type", "")
    if ctype.startswith("application/json"):
        try:
            strict_json(response.text)
        except ValueError as exc:
            raise AssertionError(f"not strict JSON ({exc}); {where}") from None
    if response.status_code < 400:
        return
    assert ctype.startswith("application/json"), f"a refusal must be JSON; {where}"
    body = strict_json(response.text)
    assert isinstance(body, dict) and set(body) == {"error"}, where
    error = body["error"]
    if contract == "zhipu":
        assert set(error) == {"code", "message"}, f"not the Zhipu error shape; {where}"
        assert isinstance(error["code"], str) and error["code"].isdigit(), where
    else:
        assert set(error) == {"message", "type", "param", "code"}, f"not the OpenAI error shape; {where}"
        assert error["type"] in ("invalid_request_error", "rate_limit_error"), where
    assert isinstance(error["message"], str) and error["message"].strip(), where
    if param and response.status_code == 400:
        leaf = param.split(".")[-1]
        named = [str(error.get("param") or ""), error["message"]] if contract != "zhipu" else [error["message"]]
        assert any(leaf in text for text in named), f"the refusal does not name the field {param!r}; {where}"
    if words:
        assert any(w.lower() in error["message"].lower() for w in words), f"message lacks {words}; {where}"


_CLIENTS: dict[str, httpx.Client] = {}


def client_for(server) -> httpx.Client:
    """One client per server for the whole battery (plain HTTP: no TLS context to build per case)."""
    if server.url not in _CLIENTS:
        _CLIENTS[server.url] = httpx.Client(base_url=server.url, timeout=60, verify=False)
    return _CLIENTS[server.url]


def close_client(server) -> None:
    client = _CLIENTS.pop(server.url, None)
    if client is not None:
        client.close()


def send_raw(server, method: str, path: str, headers: dict, body: bytes | None) -> httpx.Response:
    """http.client sends what httpx refuses to (trailing spaces, Latin-1 header values)."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for name, value in headers.items():
            conn.putheader(name, value)
        if body is not None:
            conn.putheader("content-length", str(len(body)))
        conn.endheaders(body)
        answer = conn.getresponse()
        return httpx.Response(answer.status, headers=answer.getheaders(), content=answer.read(),
                              request=httpx.Request(method, server.url + path))
    finally:
        conn.close()


def send(server, case: Case, ids: dict) -> httpx.Response:
    path = case.path
    for name, value in ids.items():
        path = path.replace("{" + name + "}", value)
    headers = dict(case.headers)
    if case.key:
        headers["authorization"] = f"Bearer {case.key}"
    if case.raw_http:
        body = None
        if case.raw is not None or case.body is not NO_BODY:
            body = case.raw if case.raw is not None else json.dumps(case.body).encode()
            headers["content-type"] = case.content_type
        return send_raw(server, case.method, path, headers, body)
    kwargs: dict = {}
    if case.files is not None:
        kwargs["files"] = case.files
    elif case.raw is not None or case.body is not NO_BODY:
        kwargs["content"] = case.raw if case.raw is not None else json.dumps(case.body).encode()
        if case.content_type:
            headers["content-type"] = case.content_type
    try:
        return client_for(server).request(case.method, path, headers=headers, **kwargs)
    except (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError):
        # the server may close a kept-alive connection after an answer (a 413, a 500): the same
        # request once more on a new connection; a second failure is the server's
        close_client(server)
        return client_for(server).request(case.method, path, headers=headers, **kwargs)


def follow_up(server, contract: str, job_id: str, key: str) -> None:
    """An accepted request left a job: it must read back on its own contract and the native one."""
    for c in {contract, "native"}:
        answer = client_for(server).get(RETRIEVE[c].format(id=job_id), headers={"authorization": f"Bearer {key}"})
        check_answer(server, answer, c, what=f"reading back job {job_id}")
        assert answer.status_code == 200, f"accepted job {job_id} does not read back: {answer.text[:300]}"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile(hserver, owned, case: Case):
    response = send(hserver, case, owned)
    check_answer(hserver, response, case.contract, param=case.param, words=case.words, what=case.id)
    status = response.status_code
    if case.expect == "4xx":
        assert 400 <= status < 500, f"must be refused: {status} {response.text[:300]}"
    elif case.expect == "2xx":
        assert 200 <= status < 300, f"must be accepted: {status} {response.text[:300]}"
    elif isinstance(case.expect, int):
        assert status == case.expect, f"expected {case.expect}: {status} {response.text[:300]}"
    if 200 <= status < 300 and case.method == "POST" and response.headers.get("content-type", "").startswith(
            "application/json"):
        job_id = strict_json(response.text).get("id")
        if isinstance(job_id, str) and job_id.startswith("video_"):
            CREATED.append((case.contract, job_id, case.key or KEY_A))
            follow_up(hserver, case.contract, job_id, case.key or KEY_A)


@pytest.mark.parametrize("contract", list(CREATE))
def test_one_request_cannot_flood_the_log(hserver, owned, contract):
    """10,000 unknown field names in one body: refused or ignored, but not one log line (or one
    remembered name) each: an attacker must not grow the log or the server's memory per field."""
    before = len(hserver.log().splitlines())
    body = {**GOOD[contract], **{f"flood_{contract}_{i}": i for i in range(10_000)}}
    response = send(hserver, Case("flood", "bodies", contract, "POST", CREATE[contract], body), owned)
    check_answer(hserver, response, contract, what=f"{contract} flood")
    grown = len(hserver.log().splitlines()) - before
    assert grown < 50, f"one request with 10,000 unknown fields wrote {grown} log lines"


# Generated cases (hypothesis): random JSON objects over each contract's fields --------------------

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st  # noqa: E402

ALL_FIELDS = {
    "openai": TEXT_FIELDS["openai"] + ["seed", "candidates", "steps", "guidance", "fps", "enhance", "lora_scale"],
    "zhipu": TEXT_FIELDS["zhipu"] + ["fps", "duration", "with_audio", "watermark_enabled", "seed", "candidates",
                                     "steps", "guidance", "enhance", "lora_scale", "sensitive_word_check"],
    "native": TEXT_FIELDS["native"] + ["seed", "candidates", "steps", "guidance", "seconds", "fps", "enhance",
                                       "lora_scale"],
}
HOSTILE_TEXT = st.one_of(
    st.text(st.characters(exclude_categories=()), max_size=40),  # surrogates, NUL, controls included
    st.sampled_from(["\ud800", "\u0000", "\u202e", "../../etc/passwd", "/9j/", "http://[1.1.1.1]/x",
                     "http://127.0.0.1:8799@1.1.1.1/x", "4096x4096", "1e999", "NaN", "-0", "", " ", EMOJI * 50]),
)
LEAF = st.one_of(HOSTILE_TEXT, st.integers(min_value=-(10**30), max_value=10**30),
                 st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.none())
VALUE = st.recursive(LEAF, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                   st.dictionaries(HOSTILE_TEXT, inner, max_size=3)), max_leaves=6)
GENERATED_CONTRACTS = [(c, seed) for c in CREATE for seed in range(4)]


@pytest.mark.slow
@pytest.mark.parametrize("contract, part", GENERATED_CONTRACTS, ids=[f"{c}-{s}" for c, s in GENERATED_CONTRACTS])
def test_hostile_generated(hserver, owned, contract, part):
    """One to three of the contract's fields (or an unknown one) set to generated hostile values.

    Parts 0-1: text values only (surrogates, NUL, controls, lookalikes); parts 2-3: any JSON value.
    """
    names = ALL_FIELDS[contract]
    values = HOSTILE_TEXT if part < 2 else VALUE
    keys = st.sampled_from(names) if part != 3 else st.one_of(st.sampled_from(names), HOSTILE_TEXT)

    @hsettings(max_examples=50, deadline=None, derandomize=True, database=None,
               suppress_health_check=list(HealthCheck))
    @given(changes=st.dictionaries(keys, values, min_size=1, max_size=3))
    def run(changes):
        body = {**GOOD[contract], **changes}
        case = Case("generated", "generated", contract, "POST", CREATE[contract], body)
        response = send(hserver, case, owned)
        check_answer(hserver, response, contract, what=f"generated {json.dumps(changes)[:300]}")
        if 200 <= response.status_code < 300:
            job_id = strict_json(response.text).get("id")
            if isinstance(job_id, str):
                CREATED.append((contract, job_id, KEY_A))
                follow_up(hserver, contract, job_id, KEY_A)

    run()


# After the battery ---------------------------------------------------------------------------------

LISTS = ["/v1/videos?limit=100", "/api/v1/jobs?limit=100", "/api/v1/studio/jobs?limit=100",
         "/v1/videos?order=asc&limit=100", "/api/v1/studio/jobs?status=queued&limit=100"]


@pytest.mark.parametrize("key", [KEY_A, KEY_B], ids=["key-a", "key-b"])
def test_lists_still_answer_after_the_battery(hserver, owned, key):
    """Runs after the battery (file order): every list endpoint, every page, and every job of the key
    (from any list that answers, and every job a case made) still reads on every contract."""
    assert hserver.alive()
    health = httpx.get(f"{hserver.url}/healthz", timeout=30)
    assert health.status_code == 200, health.text
    failures, ids = [], {job_id for _, job_id, owner_key in CREATED if owner_key == key}
    with hserver.client(key) as http:
        for path in LISTS:
            # page through everything: a record that breaks rendering may sit on any page
            after, pages = None, 0
            while pages < 200:
                url = path + (f"&after={after}" if after else "")
                answer = http.get(url)
                if answer.status_code != 200:
                    failures.append(f"GET {url} -> {answer.status_code} {answer.text[:300]}")
                    break
                body = strict_json(answer.text)
                ids |= {job["id"] for job in body["data"]}
                pages += 1
                if not body.get("has_more"):
                    break
                after = body.get("last_id") or body.get("next_after")
        for job_id in sorted(ids):
            for path in (*RETRIEVE.values(), "/api/v1/studio/jobs/{id}"):
                answer = http.get(path.format(id=job_id))
                if answer.status_code != 200:
                    failures.append(f"GET {path.format(id=job_id)} -> {answer.status_code} {answer.text[:300]}")
    assert not failures, f"{len(failures)} reads failed:\n" + "\n".join(failures[:40])


def test_battery_size():
    assert len(CASES) >= 300
    families = {c.family for c in CASES}
    assert {"surrogate", "image-url", "nested-json", "nul", "emoji", "base64-jpeg", "cost", "unknown-name",
            "odd-unicode", "wrong-type", "numbers", "bodies", "content-type", "odd-url", "keys",
            "other-key"} <= families
    assert {c.contract for c in CASES} == {"openai", "zhipu", "native"}


# Accepted odd text must render (issue 18, item 5): a worker, a few cases ----------------------------

RENDER_CASES = [
    ("native", "nul-enhanced_prompt", {"enhanced_prompt": "a red ball\u0000 rolls", "seconds": 4}, "enhanced_prompt"),
    ("openai", "nul-prompt", {"prompt": "a red ball\u0000 rolls", "seconds": "4"}, "prompt"),
    ("native", "emoji-4000", {"prompt": EMOJI * 4000, "negative_prompt": EMOJI * 4000, "seconds": 4}, "prompt"),
    ("zhipu", "emoji-4000", {"prompt": EMOJI * 4000, "negative_prompt": EMOJI * 4000, "duration": 4}, "prompt"),
]


@pytest.fixture(scope="module")
def render_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile-render")
    srv = start_server(root / "home", env=guarded_env(root))
    try:
        yield srv
    finally:
        close_client(srv)
        srv.stop()


@pytest.mark.slow
@pytest.mark.parametrize("contract, name, changes, param", RENDER_CASES, ids=[f"{c[0]}-{c[1]}" for c in RENDER_CASES])
def test_accepted_odd_text_renders(render_server, contract, name, changes, param):
    """Refused at submit (naming the field), or accepted and then rendered: never failed after the work."""
    body = {**GOOD[contract], **changes}
    case = Case(name, "render", contract, "POST", CREATE[contract], body)
    response = send(render_server, case, {})
    check_answer(render_server, response, contract, param=param, what=name)
    if response.status_code >= 400:
        return
    job_id = response.json()["id"]
    with render_server.client(KEY_A) as http:
        job = wait_for(http, job_id, timeout=300)
        assert job["status"] == "completed", f"accepted, then failed after the render: {job['error']}"
        clip = http.get(f"/v1/videos/{job_id}/content")
        assert clip.status_code == 200 and decode_video(clip.content)["frames"] > 1
        for c in ("openai", "zhipu", "native"):
            check_answer(render_server, http.get(RETRIEVE[c].format(id=job_id)), c, what=f"{name} read back")
        sidecar = http.get(job["clips"][0]["sidecar_url"])
        check_answer(render_server, sidecar, "native", what=f"{name} sidecar")


@pytest.mark.slow
def test_no_server_path_in_image_to_video_files(render_server):
    """Issue 18 item 7: the sidecar clip.json and the MP4 tags of an i2v clip name no server path."""
    body = {**GOOD["native"], "image": data_url(png_bytes()), "seconds": 4}
    with render_server.client(KEY_A) as http:
        answer = http.post("/api/v1/jobs", json=body)
        assert answer.status_code == 200, answer.text
        job = wait_for(http, answer.json()["id"], timeout=300)
        assert job["status"] == "completed", job["error"]
        leaks = []
        for clip in job["clips"]:
            for url in (clip["sidecar_url"], clip["video_url"]):
                data = http.get(url).content
                for leak in forbidden_strings(render_server):
                    if leak.encode() in data:
                        leaks.append(f"{url.rsplit('/', 1)[-1]} holds {leak}")
        assert not leaks, leaks
