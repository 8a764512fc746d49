"""Storyboards over HTTP: /api/v1/boards (issue 23; the contract is docs/api.md).

Thin over `BoardService`: each route reads its body (JSON, or multipart where a shot's image
is a file), checks it against its wire model (the spec's fields copied with `wire_fields`),
and calls the service in a thread. A key sees only its own boards: another key's board,
shot or take is a 404, exactly as for jobs. Errors name the field and the rule.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse
from pydantic import Field, create_model

from shotsmith.api.auth import require_owner
from shotsmith.api.common import Services, WireModel, base_url
from shotsmith.api.errors import ApiError, openai_responses
from shotsmith.api.media import image_from_bytes, image_from_reference, read_body
from shotsmith.api.schema import request_body
from shotsmith.board.records import BoardConflict, BoardNotFound
from shotsmith.spec import wire_fields

# 1. Protocol ------------------------------------------------------------------------------


class _Free(WireModel):
    free_text = ("script", "text", "prompt", "title", "name")


_BoardSettings = dict(
    model=(str | None, Field(None, max_length=128, description="Registry name; null = the default text-to-video "
                             "or image-to-video model per shot mode")),
    **wire_fields("width", "height", "fps", "style", "steps", "interpolation",
                  prefix="The board's (every take is rendered with it). "),
)

BoardCreate = create_model(
    "BoardCreate", __base__=_Free,
    name=(str, Field(..., description="The board's name")),
    script=(str | None, Field(None, description="A script or idea: broken down into the board's shots")),
    backend=(Literal["rules", "llm"] | None, Field(None, description="Breakdown backend (default rules)")),
    shots=(list[dict[str, Any]] | None, Field(None, description="Shots to add as given (each as for POST .../shots)")),
    **_BoardSettings,
)
BoardUpdate = create_model("BoardUpdate", __base__=_Free,
                           name=(str | None, Field(None, description="The board's name")), **_BoardSettings)

BreakdownRequest = create_model(
    "BreakdownRequest", __base__=_Free,
    script=(str, Field(..., description="A script or idea (the text of a .md/.txt file)")),
    backend=(Literal["rules", "llm"] | None, Field(None, description="'llm' uses the server's OpenAI-compatible "
                                                   "chat endpoint, falling back to rules")),
    replace=(bool, Field(False, description="Replace every shot (default: append)")),
)

_ShotFields = dict(
    title=(str | None, Field(None, description="A short label")),
    prompt=(str | None, Field(None, description="The formula prompt (default: written from text by the prompt agent)")),
    mode=(Literal["t2v", "i2v", "continue"] | None, Field(None, description="t2v, i2v (from image) or continue "
                                                          "(from the previous shot's picked take's last frame)")),
    duration=(float | None, Field(None, description="Seconds (snapped to a length the model renders)")),
    image=(str | None, Field(None, description="i2v: the first frame, a data:image/...;base64 URL (or a file part)")),
    **wire_fields("style", "seed", "candidates"),
)
ShotCreate = create_model("ShotCreate", __base__=_Free,
                          text=(str, Field(..., description="Scene + content, or an idea")), **_ShotFields)
ShotUpdate = create_model("ShotUpdate", __base__=_Free, text=(str | None, Field(None)),
                          picked_take_id=(str | None, Field(None, description="A take of this shot (null unpicks)")),
                          **_ShotFields)
OrderRequest = create_model("OrderRequest", __base__=WireModel,
                            shot_ids=(list[str], Field(..., description="Every shot id, in the new order")))
RenderRequest = create_model("RenderRequest", __base__=WireModel,
                             shot_ids=(list[str] | None, Field(None, description="Default: every shot without a "
                                                               "picked take and without takes in flight")))
PickRequest = create_model("PickRequest", __base__=WireModel, take_id=(str, Field(..., description="One of the "
                                                                                  "shot's takes")))
ExportRequest = create_model("ExportRequest", __base__=WireModel,
                             crossfade=(float | None, Field(None, description="Seconds of crossfade between shots, "
                                                            "0-1 (default 0: cuts)")))

IMAGE_FIELDS = ("image",)


async def _body(request: Request, model, *, files: bool = False, optional: bool = False) -> dict:
    """The body checked by its wire model: the fields the client sent (images stay as sent)."""
    if optional and not (await request.body()).strip():
        return {}
    svc: Services = request.app.state.services
    body = await read_body(request, file_fields=IMAGE_FIELDS if files else (),
                           max_file_bytes=svc.settings.max_image_bytes)
    image = body.pop("image", None) if files else None
    checked = model.model_validate(body)
    values = checked.model_dump(exclude_unset=True)
    if image is not None:
        values["image"] = image
    return values


def _decode_image(values: dict, svc: Services):
    """A shot's image, from a file part (bytes) or a data URL / base64 (text)."""
    image = values.pop("image", None)
    if image is None:
        return None
    if isinstance(image, (bytes, bytearray)):
        return image_from_bytes(bytes(image), svc.settings, "image")
    return image_from_reference(str(image), svc.settings, "image")


async def _call(fn, *args, **kwargs):
    """The service in a worker thread; its typed errors become the native API's errors."""
    try:
        return await run_in_threadpool(fn, *args, **kwargs)
    except BoardNotFound as exc:
        raise ApiError("not_found", f"{exc} for this API key", exc.field) from None
    except BoardConflict as exc:
        raise ApiError("conflict", exc.message, exc.field) from None


def board_service(request: Request):
    """One BoardService per app, on the app's job backend."""
    from shotsmith.board.service import BoardService

    svc: Services = request.app.state.services
    service = getattr(request.app.state, "boards", None)
    if service is None:
        service = request.app.state.boards = BoardService(svc.settings, svc.backend)
    return service


def _root(request: Request) -> str:
    return base_url(request, request.app.state.settings)


# 2. Routes -------------------------------------------------------------------------------

router = APIRouter(tags=["boards"], responses=openai_responses(400, 401, 404, 413, 415))


@router.post("/api/v1/boards", status_code=201, responses=openai_responses(415), openapi_extra=request_body(BoardCreate))
async def create_board(request: Request, owner: str = Depends(require_owner), boards=Depends(board_service)):
    """A new board; with `script` its shots come from the breakdown, with `shots` as given."""
    values = await _body(request, BoardCreate)
    return JSONResponse(await _call(boards.create, owner, root=_root(request), **values), status_code=201)


@router.get("/api/v1/boards")
async def list_boards(request: Request, owner: str = Depends(require_owner), boards=Depends(board_service)):
    data = await _call(boards.list, owner, _root(request))
    return {"object": "list", "data": data}


@router.get("/api/v1/boards/{board_id}")
async def get_board(board_id: str, request: Request, owner: str = Depends(require_owner),
                    boards=Depends(board_service)):
    return await _call(boards.get, owner, board_id, _root(request))


@router.patch("/api/v1/boards/{board_id}", openapi_extra=request_body(BoardUpdate))
async def update_board(board_id: str, request: Request, owner: str = Depends(require_owner),
                       boards=Depends(board_service)):
    values = await _body(request, BoardUpdate)
    return await _call(boards.update, owner, board_id, values, _root(request))


@router.delete("/api/v1/boards/{board_id}")
async def delete_board(board_id: str, owner: str = Depends(require_owner), boards=Depends(board_service)):
    """The board, its files, and its takes' jobs."""
    return await _call(boards.delete, owner, board_id)


@router.post("/api/v1/boards/{board_id}/breakdown", openapi_extra=request_body(BreakdownRequest))
async def breakdown(board_id: str, request: Request, owner: str = Depends(require_owner),
                    boards=Depends(board_service)):
    values = await _body(request, BreakdownRequest)
    return await _call(boards.breakdown, owner, board_id, root=_root(request), **values)


@router.post("/api/v1/boards/{board_id}/shots", status_code=201, responses=openai_responses(415),
             openapi_extra=request_body(ShotCreate, IMAGE_FIELDS))
async def add_shot(board_id: str, request: Request, owner: str = Depends(require_owner),
                   boards=Depends(board_service)):
    """One shot at the end; JSON (image as a data URL) or multipart with an `image` file."""
    values = await _body(request, ShotCreate, files=True)
    image = await run_in_threadpool(_decode_image, values, request.app.state.services)
    board = await _call(boards.add_shot, owner, board_id, values, image=image, root=_root(request))
    return JSONResponse(board, status_code=201)


@router.patch("/api/v1/boards/{board_id}/shots/{shot_id}", openapi_extra=request_body(ShotUpdate, IMAGE_FIELDS))
async def update_shot(board_id: str, shot_id: str, request: Request, owner: str = Depends(require_owner),
                      boards=Depends(board_service)):
    values = await _body(request, ShotUpdate, files=True)
    image = await run_in_threadpool(_decode_image, values, request.app.state.services) if values.get(
        "image") is not None else None
    return await _call(boards.update_shot, owner, board_id, shot_id, values, image=image, root=_root(request))


@router.delete("/api/v1/boards/{board_id}/shots/{shot_id}")
async def delete_shot(board_id: str, shot_id: str, request: Request, owner: str = Depends(require_owner),
                      boards=Depends(board_service)):
    return await _call(boards.delete_shot, owner, board_id, shot_id, _root(request))


@router.put("/api/v1/boards/{board_id}/order", openapi_extra=request_body(OrderRequest))
async def reorder(board_id: str, request: Request, owner: str = Depends(require_owner),
                  boards=Depends(board_service)):
    values = await _body(request, OrderRequest)
    return await _call(boards.reorder, owner, board_id, values["shot_ids"], _root(request))


@router.post("/api/v1/boards/{board_id}/render", status_code=202, responses=openai_responses(409, 429),
             openapi_extra=request_body(RenderRequest))
async def render(board_id: str, request: Request, owner: str = Depends(require_owner),
                 boards=Depends(board_service)):
    """K takes for every listed shot (default: each without a pick and without takes in flight)."""
    values = await _body(request, RenderRequest, optional=True)
    board = await _call(boards.render, owner, board_id, values.get("shot_ids"), _root(request))
    return JSONResponse(board, status_code=202)


@router.post("/api/v1/boards/{board_id}/shots/{shot_id}/pick", responses=openai_responses(409),
             openapi_extra=request_body(PickRequest))
async def pick(board_id: str, shot_id: str, request: Request, owner: str = Depends(require_owner),
               boards=Depends(board_service)):
    values = await _body(request, PickRequest)
    return await _call(boards.pick, owner, board_id, shot_id, values["take_id"], _root(request))


@router.post("/api/v1/boards/{board_id}/export", responses=openai_responses(409),
             openapi_extra=request_body(ExportRequest))
async def export(board_id: str, request: Request, owner: str = Depends(require_owner),
                 boards=Depends(board_service)):
    """The picked takes cut into one MP4 (a chapter per shot) and the shot list (HTML, CSV, Markdown)."""
    values = await _body(request, ExportRequest, optional=True)
    return await _call(boards.export, owner, board_id, crossfade=values.get("crossfade"), root=_root(request))


@router.get("/api/v1/boards/{board_id}/files/{name:path}", response_class=FileResponse, responses={
    200: {"content": {"video/mp4": {}, "text/html": {}, "text/csv": {}, "text/markdown": {}, "image/png": {}},
          "description": "A file of the board: its export or a shot's image"}})
async def board_file(board_id: str, name: str, owner: str = Depends(require_owner), boards=Depends(board_service)):
    path = await _call(boards.file_path, owner, board_id, name)
    media = {".md": "text/markdown; charset=utf-8", ".csv": "text/csv; charset=utf-8"}.get(path.suffix)
    return FileResponse(path, media_type=media)
