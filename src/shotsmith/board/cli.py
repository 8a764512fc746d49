"""`shotsmith board ...`: storyboards from the command line, over the same BoardService as the API.

The records are the server's (HOME/jobs.sqlite3, or --db / SHOTSMITH_DB), so a board made here
shows in the studio and the other way round; the CLI acts as the owner of SHOTSMITH_API_KEY
(none: the local owner, as a server without keys). `render` waits with a progress bar per
shot: its takes run on this home's running server when one answers, else on a worker in this
process (the model loads here), like `shotsmith generate`.
"""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

board_app = typer.Typer(help="Storyboards: a script broken into shots, rendered as takes, cut into one film.",
                        no_args_is_help=True)
err = Console(stderr=True)
out = Console()

HOME_OPTION = typer.Option(None, "--home", help="Data folder (default: $SHOTSMITH_HOME or the user data dir)")
JSON_OPTION = typer.Option(False, "--json", help="Print the whole board as JSON")


def fail(message: str, code: int = 2) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def line(text: str) -> None:
    out.print(text, highlight=False, markup=False, soft_wrap=True)


@contextmanager
def board_service(home: Path | None, *, worker: bool = False):
    """A BoardService on this home's job store (and, with worker, a worker thread that runs the
    takes here); every typed error becomes one line and exit code 2."""
    from shotsmith.api.app import default_backend
    from shotsmith.api.errors import ApiError
    from shotsmith.board.records import BoardConflict, BoardNotFound
    from shotsmith.board.service import BoardService
    from shotsmith.errors import FieldError
    from shotsmith.jobs import owner_of
    from shotsmith.jobs.records import QueueFull, QueueUnavailable
    from shotsmith.settings import Settings, configure

    try:
        settings = Settings.from_env(home=home, worker=worker, preload="")
    except ValueError as exc:
        fail(str(exc))
    configure(settings)
    backend = default_backend(settings)
    backend.start()
    try:
        yield BoardService(settings, backend), owner_of(settings.client_key or "")
    except (FieldError, BoardNotFound, BoardConflict, QueueFull, QueueUnavailable) as exc:
        fail(str(exc))
    except ApiError as exc:
        fail(exc.message)
    finally:
        backend.stop()


def read_script(source: str) -> str:
    """A .md/.txt file's text, or stdin for '-'."""
    if source == "-":
        return sys.stdin.read()
    path = Path(source)
    if not path.is_file():
        fail(f"script: {source} is not a file (give a .md or .txt file, or - for stdin)")
    if path.suffix.lower() not in (".md", ".txt", ".markdown", ""):
        fail(f"script: {path.name} is not a .md or .txt file")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        fail(f"script: {path.name} is not UTF-8 text")


def parse_size(size: str | None) -> tuple[int | None, int | None]:
    if size is None:
        return None, None
    from shotsmith.spec import SpecError
    from shotsmith.spec import parse_size as parse

    try:
        return parse(size, "size")
    except SpecError as exc:
        fail(str(exc))


def show(board: dict, as_json: bool) -> None:
    if as_json:
        out.print_json(json.dumps(board))
        return
    progress = board["progress"]
    line(f"{board['id']}  {board['name']}  {board['width']}x{board['height']} {board['fps']}fps  {board['status']}  "
         f"{progress['picked']}/{progress['shots']} picked")
    table = Table(box=None, show_header=True, header_style="bold")
    for name in ("#", "shot", "title", "mode", "seconds", "seed", "status", "takes"):
        table.add_column(name, overflow="fold", no_wrap=name == "shot")
    for shot in board["shots"]:
        # takes by number (pick takes a number too): * = picked, the job's status unless completed
        takes = " ".join(f"{n}{'*' if t['id'] == shot['picked_take_id'] else ''}"
                         f"{'' if t['status'] == 'completed' else ':' + t['status']}"
                         for n, t in enumerate(shot["takes"], 1))
        table.add_row(str(shot["index"] + 1), shot["id"], shot["title"], shot["mode"], f"{shot['duration']:g}",
                      str(shot["seed"]) if shot["seed"] is not None else "-", shot["status"], takes or "-")
    out.print(table)
    if board["export"]:
        line(f"cut: {board['export']['cut_url']}  ({board['export']['duration']:.2f} s, "
             f"{board['export']['chapters']} chapters)")


def find_shot(board: dict, ref: str) -> dict:
    """A shot by id or by its number on the board (1-based)."""
    if ref.isdigit() and 1 <= int(ref) <= len(board["shots"]):
        return board["shots"][int(ref) - 1]
    for shot in board["shots"]:
        if shot["id"] == ref:
            return shot
    fail(f"shot: no shot '{ref[:80]}' on board {board['id']} (give its id or its number, 1-{len(board['shots'])})")


@board_app.command("new")
def new(
    name: str = typer.Argument(..., help="The board's name"),
    script: Optional[str] = typer.Option(None, "--script", help="A .md/.txt script (or - for stdin) to break "
                                         "down into shots"),
    backend: str = typer.Option("rules", help="Breakdown backend: rules, or llm (the configured OpenAI-"
                                "compatible endpoint, falling back to rules)"),
    size: Optional[str] = typer.Option(None, help="Output size WIDTHxHEIGHT of every take and the cut "
                                       "(default 480x320)"),
    fps: Optional[int] = typer.Option(None, help="Frame rate of every take and the cut (default 24)"),
    model: Optional[str] = typer.Option(None, help="Model (default: per shot mode)"),
    style: Optional[str] = typer.Option(None, help="Style preset for shots without one"),
    steps: Optional[int] = typer.Option(None, help="Denoising steps (default per model)"),
    interpolation: Optional[str] = typer.Option(None, help="minterpolate, blend or none"),
    home: Optional[Path] = HOME_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Make a board (from a script, or empty); prints its id and shots."""
    text = read_script(script) if script is not None else None
    width, height = parse_size(size)
    with board_service(home) as (boards, owner):
        board = boards.create(owner, name=name, script=text, backend=backend, width=width, height=height, fps=fps,
                              model=model, style=style, steps=steps, interpolation=interpolation)
        show(board, as_json)


@board_app.command("add")
def add(
    board_id: str = typer.Argument(..., metavar="BOARD"),
    text: str = typer.Argument(..., help="What the shot shows (scene + content, or an idea)"),
    title: Optional[str] = typer.Option(None, help="A short label"),
    prompt: Optional[str] = typer.Option(None, help="The formula prompt (default: written from the text)"),
    mode: Optional[str] = typer.Option(None, help="t2v, i2v (with --image) or continue (from the previous "
                                       "shot's picked take)"),
    image: Optional[Path] = typer.Option(None, help="First frame of an image-to-video shot"),
    duration: Optional[float] = typer.Option(None, help="Seconds (snapped to a length the model renders)"),
    style: Optional[str] = typer.Option(None),
    seed: Optional[int] = typer.Option(None),
    candidates: Optional[int] = typer.Option(None, help="Takes per render, 1-4"),
    home: Optional[Path] = HOME_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Add a shot at the end of a board."""
    picture = None
    if image is not None:
        from shotsmith.spec import SpecError, check_image

        try:
            check_image(image)
        except SpecError as exc:
            fail(str(exc))
        from PIL import Image

        picture = Image.open(image).convert("RGB")
    values = {k: v for k, v in dict(text=text, title=title, prompt=prompt, mode=mode, duration=duration, style=style,
                                      seed=seed, candidates=candidates).items() if v is not None}
    with board_service(home) as (boards, owner):
        show(boards.add_shot(owner, board_id, values, image=picture), as_json)


@board_app.command("breakdown")
def breakdown(
    board_id: str = typer.Argument(..., metavar="BOARD"),
    script: str = typer.Argument(..., help="A .md/.txt script, or - for stdin"),
    backend: str = typer.Option("rules", help="rules, or llm"),
    replace: bool = typer.Option(False, help="Replace every shot (default: append)"),
    home: Optional[Path] = HOME_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Break a script down into shots on a board."""
    text = read_script(script)
    with board_service(home) as (boards, owner):
        show(boards.breakdown(owner, board_id, script=text, backend=backend, replace=replace), as_json)


@board_app.command("render")
def render(
    board_id: str = typer.Argument(..., metavar="BOARD"),
    shot: list[str] = typer.Option(None, "--shot", help="Only this shot (id or number); repeat for more. Default: "
                                   "every shot without a picked take and without takes in flight"),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Wait for the takes, with progress per shot"),
    local: bool = typer.Option(False, "--local", help="Run the takes in this process even when a server runs"),
    home: Optional[Path] = HOME_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Render K takes for each shot; continue shots start once the shot before them has a pick."""
    here = wait and (local or not _server_runs(home))
    with board_service(home, worker=here) as (boards, owner):
        current = boards.get(owner, board_id)
        ids = [find_shot(current, ref)["id"] for ref in shot] if shot else None
        board = boards.render(owner, board_id, ids)
        if wait:
            board = _wait(boards, owner, board_id)
        show(board, as_json)
        if any(s["status"] == "failed" for s in board["shots"]):
            raise typer.Exit(1)


@board_app.command("pick")
def pick(
    board_id: str = typer.Argument(..., metavar="BOARD"),
    shot_ref: str = typer.Argument(..., metavar="SHOT", help="The shot's id or number"),
    take_ref: str = typer.Argument(..., metavar="TAKE", help="The take's id or number (1-based)"),
    home: Optional[Path] = HOME_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Pick a shot's take (a waiting continue shot after it then starts)."""
    with board_service(home) as (boards, owner):
        target = find_shot(boards.get(owner, board_id), shot_ref)
        take = take_ref
        if take_ref.isdigit() and 1 <= int(take_ref) <= len(target["takes"]):
            take = target["takes"][int(take_ref) - 1]["id"]
        show(boards.pick(owner, board_id, target["id"], take), as_json)


@board_app.command("export")
def export(
    board_id: str = typer.Argument(..., metavar="BOARD"),
    crossfade: float = typer.Option(0.0, help="Seconds of crossfade between shots (0-1; 0 = cuts)"),
    home: Optional[Path] = HOME_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Cut the picked takes into one MP4 with a chapter per shot, and write the shot list; prints their paths."""
    with board_service(home) as (boards, owner):
        board = boards.export(owner, board_id, crossfade=crossfade)
        if as_json:
            show(board, True)
            return
        folder = boards.folder(board["id"])
        for key in ("cut_url", "html_url", "csv_url", "md_url"):
            line(str(folder / board["export"][key].rsplit("/", 1)[-1]))
        err.print(f"[dim]{board['export']['duration']:.2f} s, {board['export']['chapters']} chapters[/]")


@board_app.command("list")
def list_boards(home: Optional[Path] = HOME_OPTION, as_json: bool = JSON_OPTION) -> None:
    """The boards of this key, newest first."""
    with board_service(home) as (boards, owner):
        data = boards.list(owner)
        if as_json:
            out.print_json(json.dumps({"object": "list", "data": data}))
            return
        for board in data:
            line(f"{board['id']}  {board['name']}  {board['shot_count']} shots  {board['width']}x{board['height']}")


@board_app.command("show")
def show_board(board_id: str = typer.Argument(..., metavar="BOARD"), home: Optional[Path] = HOME_OPTION,
               as_json: bool = JSON_OPTION) -> None:
    """A board's shots, their takes (* = picked) and status."""
    with board_service(home) as (boards, owner):
        show(boards.get(owner, board_id), as_json)


@board_app.command("delete")
def delete(board_id: str = typer.Argument(..., metavar="BOARD"), home: Optional[Path] = HOME_OPTION) -> None:
    """Delete a board, its files and its takes' clips."""
    with board_service(home) as (boards, owner):
        boards.delete(owner, board_id)
        line(f"deleted {board_id}")


def _server_runs(home: Path | None) -> bool:
    """Whether this home's server answers (it then runs the takes; this process only waits)."""
    from shotsmith import client
    from shotsmith.settings import Settings

    try:
        return client.find_server(Settings.from_env(home=home)) is not None
    except (client.ServerUnavailable, client.ServerRefused, ValueError):
        return False


def _wait(boards, owner: str, board_id: str) -> dict:
    """Poll the board with a bar per shot and one for the board, until nothing can move."""
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                  TimeElapsedColumn(), console=err, transient=True) as bar:
        tasks: dict[str, int] = {}
        total = bar.add_task("board", total=100)

        def update(board: dict) -> None:
            for shot in board["shots"]:
                label = f"{shot['index'] + 1}. {shot['title'][:30]} ({shot['status']})"
                if shot["id"] not in tasks:
                    tasks[shot["id"]] = bar.add_task(label, total=100)
                bar.update(tasks[shot["id"]], description=label, completed=shot["progress"])
            bar.update(total, description=f"board ({board['status']})", completed=board["progress"]["percent"])

        return boards.wait(owner, board_id, on_update=update)
