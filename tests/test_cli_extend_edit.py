"""`shotsmith extend` and `shotsmith generate --video/--strength` as a user runs them: one
clear line naming the option for bad input, and the warm path (client.py) carrying a source clip
to a running server inline, or falling back in one line when the server will not take it."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

import pytest
from api_server import KEY_A, start_server
from clips import write_clip
from typer.testing import CliRunner

from shotsmith import client
from shotsmith.cli import app
from shotsmith.settings import Settings
from shotsmith.spec import build_spec

runner = CliRunner()
SERVER_CAP = 60_000  # SHOTSMITH_MAX_VIDEO_BYTES of the test server: the noisy clip below is over it


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return write_clip(tmp_path_factory.mktemp("clips") / "made-elsewhere.mp4")


@pytest.fixture
def not_a_clip(tmp_path) -> Path:
    path = tmp_path / "notes.mp4"
    path.write_text("this is not a video\n" * 20)
    return path


BAD = [
    # (args with CLIP / BAD / IMAGE placeholders, words the one line must hold)
    (["extend", "missing.mp4", "-p", "more"], "CLIP: file missing.mp4 does not exist"),
    (["extend", "BAD", "-p", "more"], "CLIP: notes.mp4 is not a readable video"),
    (["extend", "CLIP", "-p", "more", "--seconds", "0"], "--seconds: seconds must be more than 0"),
    (["extend", "CLIP", "-p", "more", "--seconds", "121"], "--seconds: an extension adds at most 120 s"),
    (["extend", "CLIP", "-p", "more", "--model", "cogvideox-shapes"], "--model: model cogvideox-shapes is "
     "text-to-video"),
    (["extend", "CLIP", "-p", "more", "--size", "big"], "size: 'big' is not a size"),
    (["extend", "CLIP", "-p", "more", "--out", "CLIP"], "--out: "),
    (["generate", "a blue ball", "--video", "missing.mp4"], "--video: file missing.mp4 does not exist"),
    (["generate", "a blue ball", "--video", "BAD"], "--video: notes.mp4 is not a readable video"),
    (["generate", "a blue ball", "--strength", "0.5"], "--strength: only an edit (a source video) takes a strength"),
    (["generate", "a blue ball", "--video", "CLIP", "--strength", "1.5"], "--strength: "),
    (["generate", "a blue ball", "--video", "CLIP", "--model", "cogvideox-shapes-i2v"], "image-to-video"),
    (["generate", "a blue ball", "--video", "CLIP", "--image", "IMAGE"], "image: an edit starts from its source"),
    (["generate", "a blue ball", "--video", "CLIP", "--out", "CLIP"], "--out: "),
]


@pytest.mark.parametrize("args,words", BAD, ids=[" ".join(a[:1] + a[2:])[:60] for a, _ in BAD])
def test_bad_input_exits_with_one_line_naming_the_option(args, words, clip, not_a_clip, tmp_path, monkeypatch):
    from PIL import Image

    monkeypatch.chdir(tmp_path)
    image = tmp_path / "first.png"
    Image.new("RGB", (96, 64), (200, 40, 40)).save(image)
    places = {"CLIP": str(clip), "BAD": str(not_a_clip), "IMAGE": str(image)}
    before = clip.read_bytes()
    result = runner.invoke(app, [places.get(a, a) for a in args] + ["--local"])
    assert result.exit_code == 2, result.output
    assert words in result.output and "Traceback" not in result.output
    assert result.output.count("error:") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["first.png", "notes.mp4"]  # nothing written
    assert clip.read_bytes() == before


def test_a_seventh_extension_is_refused_naming_the_limit(tmp_path, monkeypatch):
    """The limit is read from the clip itself (its segments tag), wherever it was made."""
    segments = [{"kind": "generate", "prompt": "a red bar", "seed": 1, "model": "cogvideox-shapes", "seconds": 0.5}]
    segments += [{"kind": "extension", "extension": n, "prompt": "more", "seed": n, "model": "cogvideox-shapes-i2v",
                  "seconds": 0.1} for n in range(1, 7)]
    six = write_clip(tmp_path / "six-times.mp4", tag={"segments": segments, "extension": {"count": 6}})
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["extend", str(six), "-p", "more", "--seconds", "4", "--local"])
    assert result.exit_code == 2, result.output
    assert "CLIP: six-times.mp4 has been extended 6 times already; a clip is extended at most 6 times" in \
        result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["six-times.mp4"]
    five = write_clip(tmp_path / "five-times.mp4", tag={"segments": segments[:-1], "extension": {"count": 5}})
    spec = build_spec(prompt="more", extend_from=str(five), seconds=4).check_inputs()  # the sixth is fine
    assert spec.operation == "extend"


def test_real_process_prints_one_line(clip, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "shotsmith.cli", "extend", str(tmp_path / "gone.mp4"), "-p", "x"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [f"error: CLIP: file {tmp_path / 'gone.mp4'} does not exist"]


def test_help_lists_extend_and_the_edit_options():
    top = runner.invoke(app, ["--help"])
    assert top.exit_code == 0 and "extend" in top.output
    extend = runner.invoke(app, ["extend", "--help"], terminal_width=200)
    assert extend.exit_code == 0 and "--seconds" in extend.output and "CLIP" in extend.output
    generate = runner.invoke(app, ["generate", "--help"], terminal_width=200)
    assert "--video" in generate.output and "--strength" in generate.output


def test_warm_path_sends_the_clip_inline_and_keeps_every_field(clip):
    edit = build_spec(prompt="a blue ball", video=str(clip), strength=0.3, width=96, height=64)
    extension = build_spec(prompt="more", extend_from=str(clip), seconds=4, width=96, height=64)
    assert client.why_local(edit) is None and client.why_local(extension) is None
    body = client.job_body(edit)
    assert body["strength"] == 0.3 and body["size"] == "96x64" and "extend_from" not in body
    mime, _, data = body["video"].partition(";base64,")
    assert mime == "data:video/mp4" and base64.b64decode(data) == clip.read_bytes()
    body = client.job_body(extension)
    assert body["extend_from"].startswith("data:video/mp4;base64,") and body["seconds"] == 4


@pytest.fixture(scope="module")
def capped(tmp_path_factory):
    """A server that takes source clips up to SERVER_CAP bytes."""
    srv = start_server(tmp_path_factory.mktemp("cli-home"), keys=(KEY_A,),
                       env={"SHOTSMITH_MAX_VIDEO_BYTES": str(SERVER_CAP), "SHOTSMITH_PRELOAD": ""})
    try:
        yield srv
    finally:
        srv.stop()


def test_a_clip_over_the_servers_cap_is_not_queued_there(capped, tmp_path):
    """The server refuses the upload (413): the warm path says why and leaves it to this machine."""
    big = write_clip(tmp_path / "noisy.mp4", frames=24, size=(192, 128), noise=True)
    assert big.stat().st_size > SERVER_CAP
    spec = build_spec(prompt="more", extend_from=str(big), seconds=4, width=192, height=128, enhance=False)
    server = client.find_server(Settings.from_env({"SHOTSMITH_API_KEY": KEY_A}), capped.url)
    with pytest.raises(client.ServerUnavailable, match=f"takes smaller inputs .*{SERVER_CAP} byte limit"):
        client.generate(server, spec, tmp_path / "out.mp4")
    with capped.client(KEY_A) as http:
        assert http.get("/api/v1/jobs").json()["data"] == []
    assert not (tmp_path / "out.mp4").exists()


# Made: the clips themselves -----------------------------------------------------------------

QUICK = ["--steps", "2", "--no-enhance", "--interpolation", "none", "--json"]


@pytest.mark.slow  # the embedded model loads in this process
def test_extend_a_clip_made_elsewhere_in_process(clip, tmp_path):
    import json

    from shotsmith.post import probe_video

    out = tmp_path / "longer.mp4"
    result = runner.invoke(app, ["extend", str(clip), "-p", "the red bar keeps growing", "--seconds", "4",
                                 "--seed", "3", "--out", str(out), "--local", *QUICK])
    assert result.exit_code == 0, result.output
    made = json.loads(result.stdout)["clips"][0]
    info = probe_video(out)
    assert (info["width"], info["height"], round(info["fps"])) == (96, 64, 12)  # the clip's size and rate
    assert abs(info["duration"] - (1 + 4)) <= 0.2 and made["duration"] == pytest.approx(info["duration"], abs=0.1)
    segments = json.loads(Path(made["sidecar"]).read_text())["metadata"]["segments"]
    assert len(segments) == 2 and segments[1]["prompt"] == "the red bar keeps growing"


@pytest.mark.slow  # a model load and a render on the server
def test_warm_extend_runs_on_the_server(capped, clip, tmp_path, monkeypatch):
    from shotsmith.post import probe_video

    monkeypatch.setenv("SHOTSMITH_API_KEY", KEY_A)
    out = tmp_path / "warm.mp4"
    result = runner.invoke(app, ["extend", str(clip), "-p", "more", "--seconds", "4", "--seed", "3", "--out",
                                 str(out), "--server", capped.url, *QUICK])
    assert result.exit_code == 0, result.output
    assert f"made by the server at {capped.url}" in result.stderr
    assert abs(probe_video(out)["duration"] - 5) <= 0.2
    with capped.client(KEY_A) as http:
        jobs = http.get("/api/v1/jobs").json()["data"]
    assert [(j["operation"], j["source_job_id"]) for j in jobs] == [("extend", None)]


@pytest.mark.slow  # the embedded model loads in this process
def test_edit_a_clip_in_process(clip, tmp_path):
    import json

    from shotsmith.post import probe_video

    out = tmp_path / "edited.mp4"
    result = runner.invoke(app, ["generate", "a blue bar grows", "--video", str(clip), "--strength", "0.5",
                                 "--seed", "4", "--out", str(out), "--local", *QUICK])
    assert result.exit_code == 0, result.output
    assert any("resampled to" in note for note in json.loads(result.stdout)["notes"])
    info = probe_video(out)
    assert (info["width"], info["height"]) == (96, 64) and info["frames"] > 1


@pytest.mark.slow  # a model load and a render on the server
def test_warm_edit_runs_on_the_server_and_says_what_it_changed(capped, clip, tmp_path, monkeypatch):
    from shotsmith.post import probe_video

    monkeypatch.setenv("SHOTSMITH_API_KEY", KEY_A)
    out = tmp_path / "warm-edit.mp4"
    result = runner.invoke(app, ["generate", "a blue bar grows", "--video", str(clip), "--strength", "0.5", "--seed",
                                 "4", "--out", str(out), "--server", capped.url, *QUICK[:-1]])
    assert result.exit_code == 0, result.output
    assert f"made by the server at {capped.url}" in result.output
    assert "note: source made-elsewhere.mp4" in result.output and "resampled to" in result.output
    assert (probe_video(out)["width"], probe_video(out)["height"]) == (96, 64)
    with capped.client(KEY_A) as http:
        job = http.get("/api/v1/jobs").json()["data"][0]
    assert (job["operation"], job["source_job_id"], job["spec"]["strength"]) == ("edit", None, 0.5)
    assert job["notes"] and "resampled to" in job["notes"][0]
