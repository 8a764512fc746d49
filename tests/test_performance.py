"""Runtime options (cache, compile, threads, dtype, offload) and the hot-path changes, on tiny models."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from shotsmith.engine import Engine
from shotsmith.engine.engine import decode
from shotsmith.models.loader import load_pipeline, route_conv3d_to_onednn
from shotsmith.models.registry import ENTRIES, OptionError, entry_from_folder, parse_cache, resolve, with_options
from shotsmith.spec import SpecError, build_spec

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def engine():
    return Engine()


def _spec(folder, **kw):
    return build_spec(**{"prompt": "a red ball moves right", "model": str(folder), "steps": 3, "frames": 9,
                         "seed": 5, "enhance": False, **kw})


# ---------------------------------------------------------------- options: validation

@pytest.mark.parametrize("text, parsed", [
    ("none", ("none", None)), ("first-block", ("first-block", 0.05)), ("First-Block:0.3", ("first-block", 0.3)),
    ("pyramid-attention:3", ("pyramid-attention", 3)), ("faster-cache", ("faster-cache", 2)),
    ("taylorseer:4", ("taylorseer", 4)),
])
def test_cache_choices_parse(text, parsed):
    assert parse_cache(text) == parsed


@pytest.mark.parametrize("text, words", [
    ("teacache", "not a cache choice"), ("first-block:0", "(0, 1]"), ("first-block:x", "(0, 1]"),
    ("taylorseer:1", "2 to 10"), ("pyramid-attention:2.5", "2 to 10"), ("none:1", "takes no value"),
])
def test_bad_cache_in_a_request_names_the_field_and_rule(text, words):
    with pytest.raises(SpecError) as err:
        build_spec(prompt="a red ball", cache=text)
    assert err.value.field == "cache"
    assert str(err.value).startswith("cache:") and words in str(err.value)


def test_request_cache_is_stored_in_one_spelling_and_defaults_to_the_model():
    assert build_spec(prompt="x", cache=" TaylorSeer ").cache == "taylorseer:2"
    spec = build_spec(prompt="x")
    assert spec.cache is None and spec.cache_choice() == resolve(None).cache


@pytest.mark.parametrize("options, field", [
    ({"cache": "fastest"}, "cache"), ({"compile": "yes"}, "compile"), ({"threads": 0}, "threads"),
    ({"threads": True}, "threads"), ({"dtype": "float8"}, "dtype"), ({"cpu_offload": "disk"}, "cpu_offload"),
    ({"vae_tiling": "on"}, "vae_tiling"), ({"warp_speed": 9}, "warp_speed"),
    ({"first_frame_lock": 1}, "first_frame_lock"),
])
def test_bad_model_options_name_the_field(options, field):
    with pytest.raises(OptionError, match=rf"^{field}: "):
        with_options(ENTRIES["cogvideox-5b"], **options)


def test_model_options_change_only_what_is_given():
    entry = with_options(ENTRIES["cogvideox-5b"], cache="pyramid-attention", compile=True, threads=4,
                         cpu_offload="sequential", vae_tiling=False)
    assert (entry.cache, entry.compile, entry.threads, entry.dtype) == ("pyramid-attention", True, 4, "bfloat16")
    assert entry.memory == {"cpu_offload": "sequential", "vae_slicing": True, "vae_tiling": False}
    assert ENTRIES["cogvideox-5b"].memory["cpu_offload"] == "model"  # the registry entry is untouched


def test_registry_defaults_cpu_and_gpu():
    embedded, big = resolve(None), ENTRIES["cogvideox-5b"]
    assert embedded.dtype == "float32" and embedded.memory == {} and not embedded.compile
    assert big.memory["cpu_offload"] == "model" and big.dtype == "bfloat16" and big.cache == "none"


def test_threads_from_the_environment_are_checked(monkeypatch):
    monkeypatch.setenv("SHOTSMITH_THREADS", "many")
    with pytest.raises(OptionError, match="^SHOTSMITH_THREADS: "):
        Engine()
    before = torch.get_num_threads()
    monkeypatch.setenv("SHOTSMITH_THREADS", "1")
    try:
        assert Engine().threads == 1 and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


# ---------------------------------------------------------------- options: applied

def test_cache_switches_per_request_and_leaves_no_trace(engine, tiny_model_dirs):
    plain = engine.render(_spec(tiny_model_dirs["t2v"], cache="none")).candidates[0].frames
    cached = engine.render(_spec(tiny_model_dirs["t2v"], cache="pyramid-attention")).candidates[0]
    pipe = engine.pipeline(entry_from_folder(tiny_model_dirs["t2v"]))
    assert pipe.transformer.is_cache_enabled and cached.frames.shape == plain.shape
    again = engine.render(_spec(tiny_model_dirs["t2v"], cache="none")).candidates[0].frames
    assert not pipe.transformer.is_cache_enabled
    assert np.array_equal(plain, again)


def test_cache_state_is_cleared_between_requests(engine, tiny_model_dirs):
    first = engine.render(_spec(tiny_model_dirs["t2v"], cache="taylorseer")).candidates[0].frames
    second = engine.render(_spec(tiny_model_dirs["t2v"], cache="taylorseer")).candidates[0].frames
    assert np.array_equal(first, second)


def test_cache_the_model_cannot_run_is_a_clear_error(engine, tiny_model_dirs):
    # First-block caching needs a second transformer block; the tiny model has one.
    with pytest.raises(SpecError, match="^cache: 'first-block:0.3' does not run on this model") as err:
        engine.render(_spec(tiny_model_dirs["t2v"], cache="first-block:0.3"))
    assert err.value.field == "cache"
    assert engine.render(_spec(tiny_model_dirs["t2v"], cache="none")).candidates[0].frames.shape[0] == 9


def test_compile_is_a_load_option(tiny_model_dirs):
    entry = entry_from_folder(tiny_model_dirs["t2v"])
    compiled = with_options(entry, compile=True)
    assert Engine.pipeline_key(entry) != Engine.pipeline_key(compiled)
    pipe = load_pipeline(compiled, "cpu")  # compiles lazily, on the first call: nothing runs here
    assert pipe.transformer._compiled_call_impl is not None
    assert load_pipeline(entry, "cpu").transformer._compiled_call_impl is None


# ---------------------------------------------------------------- hot path

def test_prompt_and_negative_are_encoded_once_per_process(tiny_model_dirs):
    engine = Engine()
    pipe = engine.pipeline(entry_from_folder(tiny_model_dirs["t2v"]))
    calls = []
    original = pipe.encode_prompt

    def counting(prompt, *args, **kw):
        if prompt is not None:  # the pipeline's own call passes embeddings, prompt None: no encoding
            calls.append(prompt)
        return original(prompt, *args, **kw)

    pipe.encode_prompt = counting
    engine.render(_spec(tiny_model_dirs["t2v"], candidates=2))
    engine.render(_spec(tiny_model_dirs["t2v"], prompt="a blue square moves left"))
    assert calls == ["a red ball moves right", "", "a blue square moves left"]


def test_cached_embeddings_give_the_same_clip(tiny_model_dirs):
    first = Engine().render(_spec(tiny_model_dirs["t2v"])).candidates[0].frames
    engine = Engine()
    engine.render(_spec(tiny_model_dirs["t2v"], seed=9))
    assert np.array_equal(first, engine.render(_spec(tiny_model_dirs["t2v"])).candidates[0].frames)


def test_onednn_conv3d_decodes_like_the_stock_path(tiny_model_dirs):
    from diffusers import CogVideoXPipeline

    stock = CogVideoXPipeline.from_pretrained(tiny_model_dirs["t2v"])
    routed = CogVideoXPipeline.from_pretrained(tiny_model_dirs["t2v"])
    assert route_conv3d_to_onednn(routed.vae) > 0
    latents = torch.randn(1, 3, 4, 8, 12, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        a, b = decode(stock, latents, 9), decode(routed, latents, 9)
    assert a.shape == b.shape == (9, 32, 48, 3)
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


def test_frames_leave_decode_contiguous(engine, tiny_model_dirs):
    assert engine.render(_spec(tiny_model_dirs["t2v"])).candidates[0].frames.flags["C_CONTIGUOUS"]


# ---------------------------------------------------------------- benchmark script

def _bench():
    sys.path.insert(0, str(REPO / "benchmarks"))
    import run

    return run


def test_gpu_5b_option_skips_cleanly_without_cuda(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = tmp_path / "RESULTS.md"
    assert _bench().main(["--gpu-5b-config", "--out", str(out)]) == 0
    assert "skipped" in capsys.readouterr().out and not list(tmp_path.iterdir())


def test_gpu_5b_benchmark_code_path_runs_on_cpu_with_a_cut_down_config():
    results = _bench().gpu_5b_benchmark(
        device="cpu", overrides=dict(num_layers=2, num_attention_heads=2, text_embed_dim=64), size=(64, 32),
        frames=9, steps=2, repeats=1, caches=("pyramid-attention",))
    assert set(results) == {"plain", "none", "pyramid-attention", "peak_gib"}
    assert all(v[0] > 0 for k, v in results.items() if k != "peak_gib")


def test_benchmark_rejects_unknown_sections():
    with pytest.raises(SystemExit):
        _bench().main(["--sections", "overhead,warp"])


def test_adherence_benchmark_refuses_an_unknown_cache_before_loading_anything():
    import subprocess

    run = subprocess.run([sys.executable, str(REPO / "benchmarks" / "shapes_adherence.py"), "cogvideox-shapes",
                          "--cache", "warp-speed", "--limit", "1"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    assert "--cache: 'warp-speed' is not a cache choice" in run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.slow  # loads MiniLM and embeds ~140 captions: ~14 s
def test_text_probe_fits_a_linear_reader_and_writes_its_table(tmp_path):
    sys.path.insert(0, str(REPO / "benchmarks"))
    import text_probe

    # the reader itself: two separable classes are read back exactly
    x = np.concatenate([np.random.default_rng(0).normal(-2, 1, (40, 5)), np.random.default_rng(1).normal(2, 1, (40, 5))])
    predict = text_probe.fit_linear(x, ["a"] * 40 + ["b"] * 40)
    assert predict(np.array([[-3.0] * 5, [3.0] * 5])) == ["a", "b"]
    # two-object captions have no per-object label (the probe reads those slots on one-object rows)
    two = {"background": "sky", "count": 2, "objects": [{"colour": "red", "shape": "circle", "motion": "up"}] * 2}
    assert text_probe.labels(two) == {"colour": None, "shape": None, "motion": None, "background": "sky", "count": 2}
    out = tmp_path / "probe.md"
    assert text_probe.main(["--captions", "wide", "--scenes", "20", "--out", str(out)]) == 0
    table = out.read_text()
    assert "| wide |" in table and "60 held-out captions" in table
    scores = [float(v) for v in table.split("| wide |")[1].split("\n")[0].strip(" |").split(" | ")]
    assert len(scores) == 6 and all(0 <= s <= 100 for s in scores)


def test_text_probe_sets_the_generators_misses_against_its_own_misreads(tmp_path):
    sys.path.insert(0, str(REPO / "benchmarks"))
    import text_probe

    def row(cid, wrong):
        return {"id": cid, "adherence": {"correct": {s: s not in wrong for s in text_probe.SLOTS}}}

    run = tmp_path / "run.json"
    run.write_text(json.dumps({"rows": [row("h01", {"colour"}), row("h02", {"colour", "shape"}), row("h30", {"colour"})]}))
    misses = text_probe.generator_misses([run, run])
    assert misses.count(("h02", "shape")) == 2 and len(misses) == 8
    # h30 is a two-object caption the probe does not read per object: its colour miss is left out
    read = {s: {"h01", "h02"} for s in text_probe.SLOTS}
    wrong = {"colour": {"h02"}, "shape": set()}
    table = text_probe.agreement_table(misses, read, wrong, runs=2)
    assert "| colour | 1 of 2 | 4 | 2 (50 %) |" in table
    assert "| shape | 0 of 2 | 2 | 0 (0 %) |" in table
    assert "| motion | 0 of 2 | 0 | 0 (-) |" in table
    # a file that is not an adherence run, or a folder that is not a model, is refused by name
    # before any encoder loads
    (tmp_path / "other.json").write_text('{"rows": 3}')
    for flag, bad in (("--compare", tmp_path / "missing.json"), ("--compare", tmp_path / "other.json"),
                      ("--encoder", tmp_path)):
        with pytest.raises(SystemExit) as stop:
            text_probe.main([flag, str(bad)])
        assert stop.value.code == 2


def test_colour_words_lists_every_held_out_colour_phrase_and_splits_runs_by_the_encoders_reading(tmp_path):
    sys.path.insert(0, str(REPO / "benchmarks"))
    import collections

    import colour_words

    from shotsmith.train import world

    # every object of every held-out caption has its colour phrase in the list, meaning that colour
    held = [json.loads(line) for line in world.HELDOUT_CAPTIONS.read_text().splitlines() if line.strip()]
    for caption in held:
        named = [c for p, c in colour_words.COLOUR_PHRASES.items() if p in caption["prompt"].lower()]
        assert set(named) == {o["colour"] for o in caption["expected"]["objects"]}, caption["id"]
    # a wrong colour or a tie is a misreading; a clear right one is not
    assert colour_words.misread("sapphire", collections.Counter(red=4, blue=2))
    assert colour_words.misread("amber", collections.Counter(orange=3, blue=3))
    assert not colour_words.misread("amber", collections.Counter(orange=4, red=2))

    def row(prompt, overall, colour):
        slots = {s: 1.0 for s in colour_words.SLOTS} | {"colour": colour}
        return {"prompt": prompt, "adherence": {"slots": slots, "overall": overall}}

    run = tmp_path / "run_seed1.json"
    run.write_text(json.dumps({"rows": [row("a sapphire crate", 0.6, 0.0), row("a deep blue orb", 1.0, 1.0),
                                        row("the Amber orb", 0.8, 0.0), row("a leaf green tile", 0.8, 0.0)]}))
    table = colour_words.split_table([run], {"sapphire", "amber"})
    assert "| run_seed1.json | 80.0 | 50.0 / 100.0 / 100.0 / 100.0 / 100.0 | 90.0 (2) | 70.0 (2) |" in table
    (tmp_path / "other.json").write_text('{"rows": []}')
    for bad in (tmp_path / "missing.json", tmp_path / "other.json"):
        with pytest.raises(SystemExit) as stop:
            colour_words.main(["--split", str(bad)])
        assert stop.value.code == 2
