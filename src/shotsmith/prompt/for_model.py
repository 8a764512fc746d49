"""The prompt agent for a named model: the model's caption window and task set the prompt.

Kept apart from the agent (which takes a token limit and knows no models) and light to import:
the API's /enhance and `shotsmith enhance --model` call it without loading torch.
"""

from __future__ import annotations

from shotsmith.models.registry import resolve

from .agent import enhance
from .schema import EnhanceResult, PromptError

FORMULA_TOKEN_LIMIT = 226  # CogVideoX's caption window: the prompt size without a model named


def enhance_for_model(text: str | None = None, *, scene: str | None = None, content: str | None = None,
                      style: str | None = None, mode: str | None = None, backend: str = "rules",
                      model: str | None = None, tokenizer=None) -> EnhanceResult:
    """The prompt agent for the model that will read the prompt (the API's /enhance, `shotsmith
    enhance --model`): its caption window and its task. The embedded models read 48 tokens and get an
    English idea as written; without a model, a CogVideoX-sized (226-token) formula prompt.

    The mode defaults to the model's task; a mode the model cannot do is refused naming `mode`."""
    token_limit = FORMULA_TOKEN_LIMIT
    if model:
        entry = resolve(model, mode)  # UnknownModel names the field
        if mode is None:
            mode = entry.task if entry.task in ("t2v", "i2v") else "t2v"
        elif mode != entry.task:
            kinds = {"t2v": "text-to-video", "i2v": "image-to-video"}
            raise PromptError("mode", f"'{mode}' asks for a prompt for {kinds.get(mode, mode)}, but model "
                                      f"'{entry.name}' is {kinds.get(entry.task, entry.task)}; leave mode out "
                                      "or pick a model of that kind")
        token_limit = entry.text_limit
    return enhance(text, scene=scene, content=content, style=style, mode=mode or "t2v", backend=backend,
                   token_limit=token_limit, tokenizer=tokenizer)
