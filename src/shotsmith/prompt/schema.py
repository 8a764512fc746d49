"""The prompt agent's public types: its result, slot report and error."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SLOTS = ("camera", "lighting", "subject", "movement", "scene", "mood")

# Where a slot's text came from. "user": the user's own words; "preset": the chosen
# (or inferred) style preset; "default": the neutral default; "director": chosen by the
# rule backend from what the idea shows (a face, night, fast action ...); "llm": written
# by the LLM backend; "omitted": left out so the prompt fits the token limit.
SlotSource = Literal["user", "preset", "default", "director", "llm", "omitted"]


class PromptError(ValueError):
    """Input the prompt agent cannot turn into a prompt. The message names the field."""

    job_code = "prompt_agent_failed"  # the code a failed job records (jobs/worker.py)

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.reason = message


class SlotInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    text: str
    source: SlotSource


class EnhanceResult(BaseModel):
    """An enhanced prompt and how it was made."""

    prompt: str = Field(description="The prompt to give the model.")
    original: str = Field(description="The user's input after cleaning (scene and content joined).")
    slots: dict[str, SlotInfo] = Field(description="The six formula slots, in formula order.")
    backend_used: Literal["rules", "llm"]
    fallback_reason: str | None = Field(None, description="Why the LLM backend was not used, if asked for.")
    tokens: int = Field(description="Length of `prompt` in tokens (the given tokenizer, else an estimate).")
    token_limit: int = 226
    words: int = 0
    style: str | None = Field(None, description="The style preset used (chosen, or inferred from the text).")
    mode: Literal["t2v", "i2v"] = "t2v"
    notes: list[str] = Field(default_factory=list, description="Things the user may want to know.")
    language: Literal["en", "zh", "other"] = Field(
        "en", description="The language of the user's idea (`original`); the prompt is English where the agent "
                          "could translate it.")
    translation: str | None = Field(None, description="The user's idea in English, as the rule backend translated "
                                                      "it (Chinese shapes-world ideas), else None.")
