"""BoardService: storyboards over the job backend, for every surface (HTTP, CLI, studio).

A board is an ordered list of shots; rendering a shot submits K ordinary generation jobs
(one per candidate, each with its own seed and files: a take is one clip), through the same
`JobBackend.submit` as any request, so the local worker and `--queue` workers run them alike.
The shot's seed is fixed at its first render (take i gets seed + i), so the shot list can
remake any take. A "continue" shot starts from the last frame of the picked take of the shot
before it: asking to render it marks it waiting, and the first pick (or read of the board)
that finds its predecessor picked submits it, exactly once across processes. Export hands
the picked takes to the cut and the shot list (board/cut.py, board/shotlist.py) and keeps
their files in HOME/boards/<board_id>/.

Every method takes the owner (a key's SHA-256); another owner's board is "not found".
Errors are typed: FieldError (400, naming the field), BoardNotFound (404), BoardConflict (409).
"""

from __future__ import annotations

import logging
import random
import shutil
import threading
import time
from pathlib import Path
from typing import Callable

from shotsmith.board import limits
from shotsmith.board.records import (Board, BoardConflict, BoardNotFound, BoardStore, JobState, Shot, Take, is_id,
                                     new_id)
from shotsmith.errors import FieldError
from shotsmith.jobs.records import Job, JobNotFound, QueueFull
from shotsmith.spec import MAX_SEED, GenerationSpec, build_spec

log = logging.getLogger(__name__)

DEFAULT_SIZE = (480, 320)  # a board's output size unless it says otherwise (3:2, like the models' native)
DEFAULT_FPS = 24
DEFAULT_DURATION = 6.25  # seconds: the embedded models' native clip
AnyJob = Job | JobState  # a take's job: its state (what boards show) or its whole record (export)
ACTIVE = ("queued", "in_progress")


def check_spec_fields(values: dict, prefix: str = "") -> dict:
    """Validate the board's and shots' request fields (width, height, fps, style, steps,
    interpolation) by the spec's own rules, declared once in spec.py: they are checked as part
    of a request on the default model. FieldError names the field."""
    given = {k: v for k, v in values.items() if v is not None}
    try:
        spec = build_spec(prompt="board settings", enhance=False, **given)
    except FieldError as exc:
        raise FieldError(prefix + exc.field, exc.message, exc.kind) from None
    return {name: getattr(spec, name) if name in given else None for name in values}


def task_of(mode: str) -> str:
    return "t2v" if mode == "t2v" else "i2v"


class BoardService:
    def __init__(self, settings, backend):
        from shotsmith.api.common import Services

        self.settings = settings
        self.backend = backend
        self.services = Services(settings=settings, backend=backend)
        self.root = Path(settings.home) / "boards"
        self._store: BoardStore | None = None
        self._advancing = threading.Lock()

    @property
    def store(self) -> BoardStore:
        """On the job store's engine (opened by backend.start(): the same database as the jobs)."""
        engine = self.backend.store.engine
        if self._store is None or self._store.engine is not engine:
            self._store = BoardStore(engine)
        return self._store

    def folder(self, board_id: str) -> Path:
        if not is_id("board", board_id):
            raise BoardNotFound("board", board_id, "board_id")
        return self.root / board_id

    # Boards -------------------------------------------------------------------

    def create(self, owner: str, *, name, model=None, width=None, height=None, fps=None, style=None,
               steps=None, interpolation=None, script=None, backend: str = "rules", shots: list | None = None,
               root: str = "") -> dict:
        """A new board; `script` is broken down into its shots, `shots` are added as given."""
        values = self._board_values({"name": name, "model": model, "width": width or DEFAULT_SIZE[0],
                                     "height": height or DEFAULT_SIZE[1], "fps": fps or DEFAULT_FPS,
                                     "style": style, "steps": steps, "interpolation": interpolation})
        drafts = []
        if shots is not None:
            if not isinstance(shots, list):
                raise FieldError("shots", "must be a list of shots")
            limits.check_shot_count(len(shots))
            drafts = [self._shot_values(values, shot, field=f"shots[{i}]") for i, shot in enumerate(shots)]
        if script is not None:
            drafts += self._breakdown(values, script, backend)
        limits.check_shot_count(len(drafts))
        limits.check_board_count(self.store.count(owner) + 1)
        board_id = self.store.create(owner, values)
        if drafts:
            self.store.add_shots(owner, board_id, drafts, max_shots=limits.MAX_SHOTS)
        return self.get(owner, board_id, root=root)

    def list(self, owner: str, root: str = "") -> list[dict]:
        out = []
        for board in self.store.list(owner):
            view = self.view(board, {}, root)
            view.pop("shots")
            view.pop("progress")
            view.pop("status")
            view["shot_count"] = board.shot_count
            out.append(view)
        return out

    def get(self, owner: str, board_id: str, root: str = "") -> dict:
        """The board as the contract shows it; waiting shots whose predecessor is picked are
        submitted first (so a restarted server needs no extra step)."""
        board, jobs = self._load(owner, board_id)
        if self._advance(owner, board, jobs):
            board, jobs = self._load(owner, board_id)
        return self.view(board, jobs, root)

    def update(self, owner: str, board_id: str, values: dict, root: str = "") -> dict:
        board = self.store.get(owner, board_id)
        allowed = ("name", "model", "width", "height", "fps", "style", "steps", "interpolation")
        unknown = [k for k in values if k not in allowed]
        if unknown:
            raise FieldError(unknown[0], f"is not a board field that can be changed (fields: {', '.join(allowed)})")
        current = {name: getattr(board, name) for name in allowed}
        checked = self._board_values({**current, **values})
        snapped = {}  # another model renders other lengths: the shots snap to its (checked before any write)
        if checked["model"] != board.model:
            for shot in board.shots:
                duration = self._snap(checked, shot.mode, shot.duration, f"shots[{shot.position}].duration")
                if duration != shot.duration:
                    snapped[shot.id] = duration
        self.store.update(owner, board_id, {k: checked[k] for k in values})
        for shot_id, duration in snapped.items():
            self.store.update_shot(owner, board.id, shot_id, {"duration": duration})
        return self.get(owner, board_id, root=root)

    def delete(self, owner: str, board_id: str) -> dict:
        """The board, its shots and takes, the takes' jobs (and their files) and the board's files."""
        board = self.store.delete(owner, board_id)
        for shot in board.shots:
            self._delete_jobs(owner, shot.takes)
        shutil.rmtree(self.folder(board.id), ignore_errors=True)
        return {"id": board.id, "object": "board", "deleted": True}

    # Shots --------------------------------------------------------------------

    def breakdown(self, owner: str, board_id: str, *, script, backend: str = "rules", replace: bool = False,
                  root: str = "") -> dict:
        board = self.store.get(owner, board_id)
        drafts = self._breakdown(self._board_dict(board), script, backend)
        if replace:
            limits.check_shot_count(len(drafts))
        else:
            limits.check_shot_count(len(board.shots) + len(drafts))
        self.store.add_shots(owner, board.id, drafts, max_shots=limits.MAX_SHOTS, replace=replace)
        if replace:
            for shot in board.shots:
                self._delete_jobs(owner, shot.takes)
                self._remove_image(board.id, shot)
        return self.get(owner, board_id, root=root)

    def add_shot(self, owner: str, board_id: str, values: dict, *, image=None, root: str = "") -> dict:
        """Append one shot; `image` (a decoded RGB image) makes it image-to-video."""
        board = self.store.get(owner, board_id)
        limits.check_shot_count(len(board.shots) + 1)
        if image is not None:
            values = {**values, "mode": values.get("mode") or "i2v"}
        shot = self._shot_values(self._board_dict(board), values)
        shot["id"] = new_id("shot")
        if image is not None:
            if shot["mode"] != "i2v":
                raise FieldError("image", f"only an image-to-video shot (mode i2v) takes an image, not "
                                 f"mode {shot['mode']}")
            shot["image"] = self._save_image(board.id, shot["id"], image)
        elif shot["mode"] == "i2v":
            raise FieldError("image", "an image-to-video shot (mode i2v) needs its first frame: send image",
                             "missing")
        try:
            self.store.add_shots(owner, board.id, [shot], max_shots=limits.MAX_SHOTS)
        except BaseException:
            if shot.get("image"):
                (self.folder(board.id) / shot["image"]).unlink(missing_ok=True)
            raise
        return self.get(owner, board_id, root=root)

    def update_shot(self, owner: str, board_id: str, shot_id: str, values: dict, *, image=None,
                    root: str = "") -> dict:
        board = self.store.get(owner, board_id)
        shot = self._find_shot(board, shot_id)
        editable = ("title", "text", "prompt", "mode", "duration", "style", "seed", "candidates",
                    "picked_take_id", "image")
        for name in values:
            if name not in editable:
                raise FieldError(name, f"is not a shot field that can be changed (fields: {', '.join(editable)})")
        values = dict(values)
        picking = "picked_take_id" in values
        take_id = values.pop("picked_take_id", None)
        if "image" in values and image is None:
            if values.pop("image") is not None:
                raise FieldError("image", "send the image as a data: URL or a file")
        regenerate = "text" in values and "prompt" not in values  # a new text gets a new formula prompt
        changed = self._shot_values(self._board_dict(board), {**self._shot_dict(shot), **values},
                                    regenerate_prompt=regenerate) if values or image is not None else {}
        update = {k: changed[k] for k in values if k in changed}
        if image is not None:
            if changed.get("mode", shot.mode) != "i2v":
                raise FieldError("image", "only an image-to-video shot (mode i2v) takes an image")
            update["mode"] = "i2v"
        elif changed and changed["mode"] == "i2v" and not shot.image:
            raise FieldError("image", "an image-to-video shot (mode i2v) needs its first frame: send image",
                             "missing")
        if regenerate:
            update["prompt"] = changed["prompt"]
        if shot.pending and update.get("mode", "continue") != "continue":
            update["pending"] = False  # no longer waits for the shot before it: render it again
        if picking:  # the same rules as pick (null unpicks); after every check of the other fields
            self._pick(owner, board, shot, take_id)
        if image is not None:
            update["image"] = self._save_image(board.id, shot.id, image)
        if update:
            self.store.update_shot(owner, board.id, shot.id, update)
        return self.get(owner, board_id, root=root)

    def delete_shot(self, owner: str, board_id: str, shot_id: str, root: str = "") -> dict:
        board = self.store.get(owner, board_id)
        shot = self._find_shot(board, shot_id)
        takes = self.store.delete_shot(owner, board.id, shot.id)
        self._delete_jobs(owner, takes)
        self._remove_image(board.id, shot)
        return self.get(owner, board_id, root=root)

    def reorder(self, owner: str, board_id: str, shot_ids, root: str = "") -> dict:
        if not isinstance(shot_ids, list) or not all(isinstance(s, str) for s in shot_ids):
            raise FieldError("shot_ids", "must be a list of shot ids (every shot of the board, in the new order)")
        self.store.reorder(owner, board_id, shot_ids)
        return self.get(owner, board_id, root=root)

    # Render, pick, export -----------------------------------------------------------

    def render(self, owner: str, board_id: str, shot_ids=None, root: str = "") -> dict:
        """Submit K takes for each listed shot (default: every shot with no pick and no take in
        flight). Every shot's request is checked before anything is queued."""
        board, jobs = self._load(owner, board_id)
        if shot_ids is None:
            targets = [s for s in board.shots if not s.picked_take_id and not s.pending
                       and not any(self._active(jobs, t) for t in s.takes)]
        else:
            if not isinstance(shot_ids, list) or not all(isinstance(s, str) for s in shot_ids):
                raise FieldError("shot_ids", "must be a list of shot ids")
            wanted = set(shot_ids)
            for shot_id in shot_ids:
                self._find_shot(board, shot_id, field="shot_ids")
            targets = [s for s in board.shots if s.id in wanted]
        specs = {}
        for shot in targets:  # every check first: a bad shot queues nothing
            if shot.mode == "continue" and shot.position == 0:
                raise FieldError(f"shots[{shot.position}].mode", f"{self._name(shot)} is the first shot: there is "
                                 "no shot before it to continue from (use t2v or i2v)")
            specs[shot.id] = self._check_render(board, shot)
        self._check_room(owner, sum(s.candidates for s in targets if s.mode != "continue"))
        for shot in targets:
            if shot.mode == "continue":
                self.store.set_pending(board.id, [shot.id], True)
            else:
                self._submit_takes(owner, board, shot, self._image_path(board, shot))
        board, jobs = self._load(owner, board_id)
        self._advance(owner, board, jobs)
        return self.get(owner, board_id, root=root)

    def pick(self, owner: str, board_id: str, shot_id: str, take_id, root: str = "") -> dict:
        board = self.store.get(owner, board_id)
        shot = self._find_shot(board, shot_id)
        if take_id is None:
            raise FieldError("take_id", "is required: the id of one of the shot's takes", "missing")
        self._pick(owner, board, shot, take_id)
        return self.get(owner, board_id, root=root)

    def export(self, owner: str, board_id: str, *, crossfade=0.0, root: str = "") -> dict:
        """The picked takes cut into one MP4 with a chapter per shot, and the shot list."""
        crossfade = limits.check_crossfade(0.0 if crossfade is None else crossfade)
        board, jobs = self._load(owner, board_id, whole_jobs=True)
        if not board.shots:
            raise BoardConflict("shots", "the board has no shots to export; add or break down some first")
        picked = []
        for shot in board.shots:
            take = self._picked(shot)
            job = jobs.get(take.job_id) if take else None
            if take is None or job is None or job.status != "completed" or not job.outputs:
                raise BoardConflict("shots", f"{self._name(shot)} ({shot.id}) has no picked take; render it and "
                                    "pick a take first")
            picked.append((shot, job))
        from shotsmith.board.cut import CutPiece, cut_board
        from shotsmith.board.shotlist import write_shot_list
        from shotsmith.jobs.worker import private_dir

        pieces = [CutPiece(path=self._take_video(job), title=shot.title or f"Shot {shot.position + 1}")
                  for shot, job in picked]
        folder = private_dir(self.folder(board.id))
        result = cut_board(pieces, folder / "cut.mp4", width=board.width, height=board.height, fps=board.fps,
                           crossfade=crossfade, title=board.name)
        view = self.view(board, jobs, root)
        by_job = {job_id: self._take_video(job) for job_id, job in jobs.items() if job.outputs}

        def take_file(take: dict) -> Path | None:
            return by_job.get(take.get("job_id"))

        def take_spec(take: dict) -> dict | None:  # the request that made it: the remake command is exact
            job = jobs.get(take.get("job_id"))
            return dict(job.spec) if job is not None else None

        files = write_shot_list(view, folder, take_files=take_file, take_specs=take_spec)
        export = {"cut": Path(result.path).name, "html": Path(files["html"]).name, "csv": Path(files["csv"]).name,
                  "md": Path(files["md"]).name, "duration": round(float(result.duration), 3),
                  "chapters": len(result.chapters), "created_at": int(time.time())}
        self.store.set_export(owner, board.id, export)
        return self.get(owner, board_id, root=root)

    def file_path(self, owner: str, board_id: str, name: str) -> Path:
        """A file of the board's folder (its export, its shots' images), by a name inside it."""
        self.store.get(owner, board_id)  # the owner's board, or not found
        folder = self.folder(board_id).resolve()
        parts = [p for p in str(name).split("/") if p]
        if not parts or any(p in (".", "..") or p.startswith(".") for p in parts) or len(parts) > 3:
            raise BoardNotFound("file", name, "name")
        path = folder.joinpath(*parts).resolve()
        if folder not in path.parents or not path.is_file():
            raise BoardNotFound("file", name, "name")
        return path

    def wait(self, owner: str, board_id: str, *, on_update: Callable[[dict], None] | None = None,
             poll_s: float = 0.5, timeout: float | None = None) -> dict:
        """Poll until no shot is queued, rendering or waiting (a waiting shot whose predecessor
        has no pick cannot start: it ends the wait too)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            board = self.get(owner, board_id)
            if on_update:
                on_update(board)
            busy = [s for s in board["shots"] if s["status"] in ("queued", "rendering")]
            waiting = [s for s in board["shots"] if s["status"] == "waiting"]
            startable = [s for s in waiting if self._predecessor_picked(board, s)]
            if not busy and not startable:
                return board
            if deadline is not None and time.monotonic() > deadline:
                return board
            time.sleep(poll_s)

    # The board as the contract shows it --------------------------------------------

    def view(self, board: Board, jobs: dict[str, AnyJob], root: str = "") -> dict:
        files = f"{root}/api/v1/boards/{board.id}/files"
        shots = [self._shot_view(board, shot, jobs, root, files) for shot in board.shots]
        takes = [t for s in shots for t in s["takes"]]
        waiting_takes = sum(s["candidates"] for s in shots if s["status"] == "waiting")
        slots = len(takes) + waiting_takes
        percent = round(sum(t["progress"] for t in takes) / slots) if slots else 0
        picked = sum(1 for s in shots if s["picked_take_id"])
        if any(s["status"] in ("queued", "rendering", "waiting") for s in shots):
            status = "rendering"
        elif shots and picked == len(shots):
            status = "exported" if board.export else "ready"
        else:
            status = "draft"
        export = None
        if board.export:
            e = board.export
            export = {"cut_url": f"{files}/{e['cut']}", "html_url": f"{files}/{e['html']}",
                      "csv_url": f"{files}/{e['csv']}", "md_url": f"{files}/{e['md']}", "duration": e["duration"],
                      "chapters": e["chapters"], "created_at": e["created_at"]}
        return {
            "id": board.id, "object": "board", "name": board.name, "created_at": int(board.created_at),
            "updated_at": int(board.updated_at), "model": board.model, "width": board.width, "height": board.height,
            "fps": board.fps, "style": board.style, "steps": board.steps, "interpolation": board.interpolation,
            "status": status,
            "progress": {"shots": len(shots), "rendered": sum(1 for s in shots if any(
                t["status"] == "completed" for t in s["takes"])), "picked": picked, "percent": min(100, percent)},
            "shots": shots, "export": export,
        }

    def _shot_view(self, board: Board, shot: Shot, jobs: dict[str, AnyJob], root: str, files: str) -> dict:
        takes = [self._take_view(take, jobs.get(take.job_id), root) for take in shot.takes]
        active = [t for t in takes if t["status"] in ACTIVE]
        if active:
            status = "rendering" if any(t["status"] == "in_progress" for t in active) else "queued"
        elif shot.pending:
            status = "waiting"
        elif any(t["status"] == "completed" for t in takes):
            status = "done"
        elif takes:
            status = "failed"
        else:
            status = "draft"
        return {
            "id": shot.id, "index": shot.position, "title": shot.title or f"Shot {shot.position + 1}",
            "text": shot.text, "prompt": shot.prompt,
            "mode": shot.mode, "image_url": f"{files}/{shot.image}" if shot.image else None,
            "duration": shot.duration, "style": shot.style, "seed": shot.seed, "candidates": shot.candidates,
            "model": self._model_for(board, shot.mode), "status": status,
            "progress": 100 if status == "done" else round(sum(t["progress"] for t in takes) / len(takes))
            if takes else 0,
            "takes": takes, "picked_take_id": shot.picked_take_id,
        }

    @staticmethod
    def _take_view(take: Take, job: AnyJob | None, root: str) -> dict:
        clip = job.outputs[0] if job is not None and job.outputs else None
        files = f"{root}/api/v1/jobs/{take.job_id}/files"
        if job is None:
            status, progress = "deleted", 0
        else:
            status = job.status
            progress = 100 if job.terminal else job.progress
        return {"id": take.id, "job_id": take.job_id, "seed": take.seed, "status": status, "progress": progress,
                "video_url": f"{files}/{clip.video}" if clip else None,
                "cover_url": f"{files}/{clip.cover}" if clip else None,
                "duration": clip.duration if clip else None,
                "error": job.error.message if job is not None and job.error else None}

    # Helpers ------------------------------------------------------------------------

    def _load(self, owner: str, board_id: str, *, whole_jobs: bool = False) -> tuple[Board, dict]:
        """The board and its takes' jobs: their states (JobState), or with whole_jobs the records."""
        board = self.store.get(owner, board_id)
        ids = [t.job_id for s in board.shots for t in s.takes]
        return board, self.store.jobs(owner, ids) if whole_jobs else self.store.job_states(owner, ids)

    def _board_values(self, values: dict) -> dict:
        from shotsmith.api.common import model_name

        out = dict(values)
        out["name"] = limits.check_board_name(values.get("name"))
        if values.get("model") is not None:
            from shotsmith.api.errors import ApiError
            from shotsmith.models.registry import ENTRIES

            task = ENTRIES[values["model"]].task if values["model"] in ENTRIES else "t2v"
            try:
                out["model"] = model_name(values["model"], self.settings, task)
            except ApiError as exc:
                raise FieldError("model", exc.message.removeprefix("model: "), "unknown_model") from None
        out.update(check_spec_fields({k: values.get(k) for k in ("width", "height", "fps", "style", "steps",
                                                                  "interpolation")}))
        for name in ("width", "height", "fps"):
            if out[name] is None:
                raise FieldError(name, "is required", "missing")
        return out

    @staticmethod
    def _board_dict(board: Board) -> dict:
        return {name: getattr(board, name) for name in ("name", "model", "width", "height", "fps", "style",
                                                         "steps", "interpolation")}

    @staticmethod
    def _shot_dict(shot: Shot) -> dict:
        return {name: getattr(shot, name) for name in ("title", "text", "prompt", "mode", "duration", "style",
                                                        "seed", "candidates")}

    def _shot_values(self, board: dict, values: dict, *, field: str = "", regenerate_prompt: bool = False) -> dict:
        """One shot's fields checked (limits.py and the spec's rules), its duration snapped to a
        length the model renders, and a formula prompt written from its text when none is given."""
        if not isinstance(values, dict):
            raise FieldError(field or "shot", "must be an object with the shot's fields")
        prefix = f"{field}." if field else ""
        known = ("title", "text", "prompt", "mode", "duration", "style", "seed", "candidates", "image")
        for name in values:
            if name not in known:
                raise FieldError(prefix + name, "is not a shot field")
        text = limits.check_shot_text(values.get("text"), prefix + "text")
        mode = limits.check_mode(values.get("mode") or "t2v", prefix + "mode")
        style = values.get("style")
        if style is not None:
            style = check_spec_fields({"style": style}, prefix)["style"]
        prompt = values.get("prompt")
        prompt = limits.check_shot_prompt(prompt, prefix + "prompt") if prompt is not None else ""
        if regenerate_prompt or not prompt:
            prompt = self._formula_prompt(text, style or board.get("style"), mode, prefix)
        duration = values.get("duration")
        duration = DEFAULT_DURATION if duration is None else limits.check_duration(duration, prefix + "duration")
        return {
            "title": limits.check_title(values.get("title") or "", prefix + "title"),
            "text": text, "prompt": prompt, "mode": mode, "style": style,
            "duration": self._snap(board, mode, duration, prefix + "duration"),
            "seed": limits.check_seed(values.get("seed"), prefix + "seed"),
            "candidates": limits.check_candidates(1 if values.get("candidates") is None else values["candidates"],
                                                  prefix + "candidates"),
            "image": None,
        }

    def _breakdown(self, board: dict, script, backend) -> list[dict]:
        from shotsmith.board.breakdown import split_script

        backend = limits.check_backend(backend or "rules")
        script = limits.check_script(script)  # before any work: an empty or 2 MB script is refused here
        drafts = split_script(script, backend=backend, style=board.get("style"), settings=self.settings,
                              model=self._model_for(board, "t2v"))
        limits.check_shot_count(len(drafts))
        out = []
        for i, draft in enumerate(drafts):
            shot = self._shot_values(board, {"title": draft.title, "text": draft.text, "prompt": draft.prompt,
                                             "mode": draft.mode, "duration": draft.duration, "style": draft.style},
                                     field=f"shots[{i}]")
            if i == 0 and shot["mode"] == "continue":
                shot["mode"] = "t2v"  # nothing before it to continue from
            out.append(shot)
        return out

    @staticmethod
    def _formula_prompt(text: str, style: str | None, mode: str, prefix: str) -> str:
        from shotsmith.prompt import PromptError, enhance

        try:
            return enhance(text, style=style, mode="t2v" if mode == "t2v" else "i2v").prompt
        except PromptError as exc:
            raise FieldError(prefix + "text", str(exc).removeprefix("text: ")) from None

    def _model_for(self, board: Board | dict, mode: str) -> str:
        """The board's model where its task fits the shot's mode, else the default for the mode."""
        from shotsmith.models.registry import DEFAULT_I2V_MODEL, DEFAULT_MODEL, ENTRIES

        model = board.get("model") if isinstance(board, dict) else board.model
        task = task_of(mode)
        if model and model in ENTRIES and ENTRIES[model].task == task:
            return model
        return DEFAULT_MODEL if task == "t2v" else DEFAULT_I2V_MODEL

    def _snap(self, board: dict, mode: str, duration: float, field: str) -> float:
        """The clip length nearest `duration` that the shot's model renders (its frame rule), so
        the board's durations add up to the cut's."""
        from shotsmith.models.registry import ENTRIES

        entry = ENTRIES[self._model_for(board, mode)]
        if duration > entry.max_seconds + 1e-9:
            raise FieldError(field, f"{duration:g} s is longer than model {entry.name} renders (at most "
                             f"{entry.max_seconds:g} s)")
        return round(entry.frames_for_seconds(duration) / entry.fps, 4)

    def _spec_values(self, board: Board, shot: Shot, seed: int | None) -> dict:
        return {"prompt": shot.prompt, "enhance": False, "model": self._model_for(board, shot.mode),
                "seed": seed, "candidates": 1, "seconds": shot.duration, "width": board.width,
                "height": board.height, "fps": board.fps, "style": shot.style or board.style,
                "steps": board.steps, "interpolation": board.interpolation}

    def _check_render(self, board: Board, shot: Shot) -> GenerationSpec:
        """The shot's request, validated as a job's would be (a continue shot's first frame does
        not exist yet: its other fields are checked)."""
        values = self._spec_values(board, shot, shot.seed)
        prefix = f"shots[{shot.position}]."
        if shot.mode == "i2v" and not self._image_path(board, shot):
            raise FieldError(prefix + "image", f"{self._name(shot)} is image-to-video and has no image", "missing")
        if shot.mode != "t2v":
            values["image"] = "first-frame.png"
        try:
            spec = build_spec(**values)
        except FieldError as exc:
            field = {"seconds": "duration", "width": "width", "height": "height"}.get(exc.field, exc.field)
            raise FieldError(prefix + field if field not in ("width", "height", "fps") else field,
                             f"{self._name(shot)}: {exc.message}", exc.kind) from None
        limit = self.settings.max_request_cost
        if limit and spec.cost() > limit:
            raise FieldError("width", f"{self._name(shot)} asks for {spec.cost():.1f} giga pixel-steps, over this "
                             f"server's limit of {limit:g}; lower the board's size or steps", "too_costly")
        return spec

    def _check_room(self, owner: str, jobs: int) -> None:
        """All of a render's takes fit the key's limit of active jobs, or none is queued."""
        limit = getattr(self.backend, "max_active_per_owner", None)
        if not limit or not jobs:
            return
        active = self.backend.store.active_count(owner)
        if active + jobs > limit:
            raise QueueFull(f"this render needs {jobs} jobs (shots x candidates) and this key has {active} "
                            f"queued or running of at most {limit}; render fewer shots at a time (shot_ids) or "
                            "wait for some to finish")

    def _submit_takes(self, owner: str, board: Board, shot: Shot, image: Path | object | None) -> list[str]:
        """K jobs for the shot, seeds seed+n.. (n = takes it already has); fixes the shot's seed."""
        from shotsmith.api.common import request_spec, submit_job

        seed = shot.seed
        if seed is None:
            seed = random.randrange(0, MAX_SEED + 1 - 64)
            self.store.update_shot(owner, board.id, shot.id, {"seed": seed}, keep_export=True)
        made = []
        for n in range(len(shot.takes), len(shot.takes) + shot.candidates):
            take_seed = (seed + n) % (MAX_SEED + 1)
            values = self._spec_values(board, shot, take_seed)
            job = submit_job(self.services, owner,
                             lambda files, values=values: request_spec(self.services, values, files,
                                                                       renames={"seconds": "duration"}),
                             inputs={"image": image} if image is not None else None, source="native",
                             meta={"board_id": board.id, "shot_id": shot.id})
            made.append(self.store.add_take(board.id, shot.id, job.id, take_seed))
        return made

    def _advance(self, owner: str, board: Board, jobs: dict[str, AnyJob]) -> bool:
        """Submit every waiting continue shot whose predecessor has a picked, finished take,
        from that take's last frame. True when something was submitted."""
        submitted = False
        with self._advancing:
            for shot in board.shots[:1]:
                if shot.pending:  # moved to the front while waiting: nothing before it to wait for
                    self.store.take_pending(shot.id)
                    submitted = True
            for before, shot in zip(board.shots, board.shots[1:]):
                if not shot.pending:
                    continue
                take = self._picked(before)
                job = jobs.get(take.job_id) if take else None
                if job is None or job.status != "completed" or not job.outputs:
                    continue
                if not self.store.take_pending(shot.id):
                    continue  # another request (or process) submitted it
                try:
                    frame = self._last_frame(self._take_video(job))
                    self._check_room(owner, shot.candidates)
                    self._submit_takes(owner, board, shot, frame)
                    submitted = True
                except QueueFull:  # the key's queue is full: it keeps waiting, and a later read tries again
                    self.store.set_pending(board.id, [shot.id], True)
                except Exception as exc:  # the shot goes back to draft; the board stays readable
                    log.warning("board %s: could not start %s from %s: %s", board.id, shot.id, take.id, exc)
        return submitted

    def _pick(self, owner: str, board: Board, shot: Shot, take_id) -> None:
        if take_id is None:
            self.store.update_shot(owner, board.id, shot.id, {"picked_take_id": None})
            return
        if not isinstance(take_id, str):
            raise FieldError("take_id", "must be the id of one of the shot's takes")
        take = next((t for t in shot.takes if t.id == take_id), None)
        if take is None:
            raise BoardNotFound(f"take of {self._name(shot)} ({shot.id})", take_id, "take_id")
        job = self.store.job_states(owner, [take.job_id]).get(take.job_id)
        if job is None or job.status != "completed":
            state = job.status if job else "deleted"
            raise BoardConflict("take_id", f"take '{take_id}' is {state}; only a finished take can be picked")
        self.store.update_shot(owner, board.id, shot.id, {"picked_take_id": take.id})
        board, jobs = self._load(owner, board.id)
        self._advance(owner, board, jobs)

    def _delete_jobs(self, owner: str, takes) -> None:
        for take in takes:
            try:
                self.backend.delete(owner, take.job_id)
            except (JobNotFound, LookupError):
                pass

    def _save_image(self, board_id: str, shot_id: str, image) -> str:
        from shotsmith.jobs.worker import private_dir

        folder = private_dir(self.folder(board_id))
        name = f"{shot_id}.png"
        tmp = folder / f".{name}.tmp"
        image.save(tmp, format="PNG")
        tmp.replace(folder / name)
        return name

    def _remove_image(self, board_id: str, shot: Shot) -> None:
        if shot.image:
            (self.folder(board_id) / shot.image).unlink(missing_ok=True)

    def _image_path(self, board: Board, shot: Shot) -> Path | None:
        if shot.mode != "i2v" or not shot.image:
            return None
        path = self.folder(board.id) / shot.image
        return path if path.is_file() else None

    def _take_video(self, job: AnyJob) -> Path:
        return self.backend.job_dir(job.id) / job.outputs[0].video

    @staticmethod
    def _last_frame(video: Path):
        from PIL import Image

        from shotsmith.post.source import read_tail

        return Image.fromarray(read_tail(video, seconds=0)[-1])

    @staticmethod
    def _picked(shot: Shot) -> Take | None:
        return next((t for t in shot.takes if t.id == shot.picked_take_id), None) if shot.picked_take_id else None

    @staticmethod
    def _active(jobs: dict[str, AnyJob], take: Take) -> bool:
        job = jobs.get(take.job_id)
        return job is not None and job.status in ACTIVE

    @staticmethod
    def _find_shot(board: Board, shot_id, field: str = "shot_id") -> Shot:
        shot = next((s for s in board.shots if s.id == shot_id), None)
        if shot is None:
            raise BoardNotFound("shot", str(shot_id), field)
        return shot

    @staticmethod
    def _name(shot: Shot) -> str:
        return f"shot {shot.position + 1}" + (f" ('{shot.title}')" if shot.title else "")

    @staticmethod
    def _predecessor_picked(board: dict, shot: dict) -> bool:
        index = shot["index"]
        return index > 0 and board["shots"][index - 1]["picked_take_id"] is not None
