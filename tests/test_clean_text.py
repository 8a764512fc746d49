"""Clean text at the edge: what can't be encoded is refused before it is stored, and a record
stored before these checks still renders in every list."""

import json

import pytest
from fastapi.testclient import TestClient

from shotsmith.api.app import create_app
from shotsmith.errors import FieldError
from shotsmith.jobs import owner_of
from shotsmith.settings import Settings
from shotsmith.text import check_tree, clean_prompt, readable

KEY = "sk-clean-text"
AUTH = {"Authorization": f"Bearer {KEY}"}
SURROGATE = "\ud800"


@pytest.fixture()
def client(tmp_path):
    with TestClient(create_app(Settings(home=tmp_path / "home", worker=False, preload="", api_keys=(KEY,)))) as http:
        yield http


def raw_json(body: dict) -> bytes:
    # json.dumps writes a lone surrogate as the escape "\ud800": valid JSON that decodes to an unencodable str
    return json.dumps(body).encode()


@pytest.mark.parametrize("path, body, field", [
    ("/api/v1/jobs", {"prompt": "a ball", "enhanced_prompt": f"x{SURROGATE}"}, "enhanced_prompt"),
    ("/api/v1/jobs", {"prompt": "a ball", "model": SURROGATE}, "model"),
    ("/api/v1/jobs", {"prompt": "a ball", "lora": SURROGATE}, "lora"),
    ("/api/v1/jobs", {"prompt": "a ball", "size": f"480x32{SURROGATE}"}, "size"),
    ("/v1/videos", {"prompt": "a ball", "seconds": f"4{SURROGATE}"}, "seconds"),
    ("/v1/videos", {"prompt": "a ball", "input_reference": {"image_url": SURROGATE}}, "input_reference.image_url"),
    ("/api/paas/v4/videos/generations", {"model": "cogvideox-shapes", "prompt": "a ball",
                                         "request_id": f"r{SURROGATE}"}, "request_id"),
    ("/api/paas/v4/videos/generations", {"model": "cogvideox-shapes", "prompt": "a ball",
                                         "sensitive_word_check": {SURROGATE: 1}}, "sensitive_word_check"),
])
def test_lone_surrogates_are_refused_and_nothing_is_stored(client, path, body, field):
    response = client.post(path, content=raw_json(body), headers={**AUTH, "content-type": "application/json"})
    assert response.status_code == 400, response.text
    assert field in response.text and "surrogate" in response.text
    for listing in ("/api/v1/jobs", "/v1/videos", "/api/v1/studio/jobs"):
        page = client.get(listing, headers=AUTH)
        assert page.status_code == 200 and page.json()["data"] == []


@pytest.mark.parametrize("field, value", [("request_id", "a\x00b"), ("user_id", "user\x00id"),
                                          ("model", "cogvideox-shapes\r\n"), ("size", "480x320\x00")])
def test_control_characters_in_one_line_fields_are_refused(client, field, value):
    body = {"model": "cogvideox-shapes", "prompt": "a ball", field: value}
    response = client.post("/api/paas/v4/videos/generations", json=body, headers=AUTH)
    assert response.status_code == 400, response.text
    assert field in response.json()["error"]["message"]


def test_nul_in_a_prompt_is_dropped_before_it_can_reach_ffmpeg(client):
    response = client.post("/api/v1/jobs", json={"prompt": "a red ball", "enhanced_prompt": "a red\x00 ball"},
                           headers=AUTH)
    assert response.status_code == 200, response.text
    assert response.json()["spec"]["enhanced_prompt"] == "a red ball"


def test_deep_nesting_and_non_json_numbers_are_400(client):
    deep = b'{"prompt": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    for body in (deep, b'{"prompt": "x", "guidance": NaN}', b'{"prompt": "x", "seed": Infinity}',
                 json.dumps({"prompt": "x", "extra": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}).encode()):
        response = client.post("/api/v1/jobs", content=body, headers={**AUTH, "content-type": "application/json"})
        assert response.status_code == 400, response.text


def test_a_record_stored_before_the_checks_still_renders(client):
    store = client.app.state.services.backend.store
    store.create("video_0123456789abcdef0123456789abcdef", owner_of(KEY),
                 {"prompt": "old record", "negative_prompt": f"old {SURROGATE} record", "model": "cogvideox-shapes",
                  "width": 480, "height": 320}, source="zhipu", meta={"request_id": SURROGATE})
    for listing in ("/api/v1/jobs", "/v1/videos", "/api/v1/studio/jobs"):
        page = client.get(listing, headers=AUTH)
        assert page.status_code == 200, (listing, page.text)
        assert page.json()["data"][0]["id"] == "video_0123456789abcdef0123456789abcdef"
    assert "old \ufffd record" in client.get("/api/v1/jobs", headers=AUTH).text
    assert client.get("/api/paas/v4/async-result/video_0123456789abcdef0123456789abcdef",
                      headers=AUTH).status_code == 200


def test_text_rules():
    assert clean_prompt(" a\x1b ball\t\n", "prompt") == "a ball"
    with pytest.raises(FieldError) as info:
        clean_prompt(f"a {SURROGATE}", "prompt")
    assert info.value.field == "prompt" and "U+D800" in str(info.value)
    with pytest.raises(FieldError) as info:
        check_tree({"a": [{"b": f"x{SURROGATE}"}]})
    assert info.value.field == "a[0].b"
    assert readable({"k": [f"x{SURROGATE}"]}) == {"k": ["x\ufffd"]}


def test_line_wrapped_base64_images_are_not_taken_for_control_characters(client):
    import base64
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (96, 64), (200, 40, 40)).save(buffer, format="PNG")
    text = base64.b64encode(buffer.getvalue()).decode()
    wrapped = "\n".join(text[i:i + 76] for i in range(0, len(text), 76))
    response = client.post("/api/v1/jobs", json={"prompt": "", "image": wrapped}, headers=AUTH)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("path, field, raw", [
    ("/api/v1/jobs", "seed", b'{"prompt": "a ball", "seed": ' + b"9" * 100_000 + b"}"),
    ("/api/v1/jobs", "seconds", b'{"prompt": "a ball", "seconds": 1e308}'),
    ("/v1/videos", "seconds", b'{"prompt": "a ball", "seconds": "1e308"}'),
    ("/api/paas/v4/videos/generations", "duration",
     b'{"model": "cogvideox-shapes", "prompt": "a ball", "duration": 1e308}'),
    ("/api/v1/jobs", "size", b'{"prompt": "a ball", "size": "65536x65536"}'),
    ("/api/paas/v4/videos/generations", "size", b'{"model": "cogvideox-shapes", "prompt": "a ball", "size": "8x8"}'),
])
def test_out_of_range_numbers_are_400_naming_the_field_the_client_sent(client, path, field, raw):
    response = client.post(path, content=raw, headers={**AUTH, "content-type": "application/json"})
    assert response.status_code == 400, response.text
    message = response.json()["error"]["message"]
    assert message.startswith(f"{field}:") and "width" not in message, message
