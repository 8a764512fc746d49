"""One settings object for the whole process: declared once, read from the environment in one place."""

import pytest

from shotsmith import settings as settings_module
from shotsmith.settings import Settings, current, variables


def test_home_moves_jobs_models_and_loras(tmp_path, monkeypatch):
    from fastapi.testclient import TestClient

    from shotsmith.api.app import create_app
    from shotsmith.models.lora import LORA_FILE, list_loras, loras_dir
    from shotsmith.models.registry import ENTRIES, is_available, models_dir

    for name in ("SHOTSMITH_HOME", "SHOTSMITH_MODELS", "SHOTSMITH_LORAS"):
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "srv-shots"
    (home / "loras" / "my-style").mkdir(parents=True)
    (home / "loras" / "my-style" / LORA_FILE).write_bytes(b"")
    (home / "models" / "cogvideox-2b").mkdir(parents=True)
    (home / "models" / "cogvideox-2b" / "model_index.json").write_text("{}")
    app = create_app(Settings(home=home, worker=False, preload=""))
    assert models_dir() == home / "models" and loras_dir() == home / "loras"
    assert list_loras() == ["my-style"] and is_available(ENTRIES["cogvideox-2b"])
    with TestClient(app) as client:
        assert [lora["name"] for lora in client.get("/api/v1/loras").json()] == ["my-style"]
        created = client.post("/api/v1/jobs", json={"prompt": "a red ball", "enhance": False})
        assert created.status_code == 200, created.text
    assert (home / "jobs.sqlite3").exists()
    assert app.state.services.backend.job_dir(created.json()["id"]).parent == home / "jobs"


def test_environment_is_read_in_one_module():
    import pathlib
    import re

    src = pathlib.Path(settings_module.__file__).parent
    readers = [str(p.relative_to(src)) for p in src.rglob("*.py")
               if re.search(r"os\.environ\b(?!\.setdefault)|os\.getenv", p.read_text())]
    assert readers == ["settings.py"], readers


def test_bad_values_name_their_variable():
    with pytest.raises(ValueError, match="SHOTSMITH_MAX_ATTEMPTS"):
        Settings.from_env({"SHOTSMITH_MAX_ATTEMPTS": "0"})
    with pytest.raises(ValueError, match="SHOTSMITH_MODEL_ALIASES: .*NAME=MODEL"):
        Settings.from_env({"SHOTSMITH_MODEL_ALIASES": "sora-2"})
    with pytest.raises(ValueError, match="SHOTSMITH_THREADS"):
        Settings.from_env({"SHOTSMITH_THREADS": "many"})


def test_every_field_but_the_llm_group_has_one_variable():
    envs = variables()
    assert len(envs) == len(Settings.model_fields) - 1  # llm: the SHOTSMITH_LLM_* group
    assert Settings.from_env({"SHOTSMITH_LLM_MODEL": "glm-4-flash"}).llm == {"model": "glm-4-flash"}
    assert current().home == Settings.from_env().home
