"""Configs of the CLaS-Bench plugin (torch-free: ``plugin.py`` imports this module)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from plurieval.api import CommaList, DegenerateConfig


class SplitConfig(BaseModel):
    """Questions (not rows) are split, so a question's translations never straddle splits."""

    model_config = ConfigDict(extra="forbid")
    train: float = Field(0.4, ge=0, le=1, description="share of questions for fitting directions/neurons")
    dev: float = Field(0.2, ge=0, le=1, description="share for choosing layer and α")
    seed: int = Field(0, description="question shuffling seed before splitting")


class ClasDatasetConfig(BaseModel):
    """Parallel questions: one file per language, one question per line, line i parallel."""

    model_config = ConfigDict(extra="forbid")
    id: str = "clasbench-sample"
    source: str | None = Field(
        None, description="folder or URL of the published layout ({lang}.txt); default: the shipped sample")
    file_pattern: str = Field("{lang}.txt", description="file name per language inside `source`")
    languages: CommaList | None = Field(None, description="languages to load (default: every file found / all of the sample)")
    revision: str | None = None
    splits: SplitConfig = Field(default_factory=SplitConfig)


class HFParallelConfig(BaseModel):
    """A ``datasets``-loadable parallel set: wide (one column per language) or long
    (``id``/``language``/``question`` columns)."""

    model_config = ConfigDict(extra="forbid")
    id: str = "clasbench-hf"
    path: str = Field(..., description="datasets builder ('json', 'csv', 'parquet') or a hub id / local dataset folder")
    data_files: str | list[str] | dict[str, Any] | None = None
    split: str = "train"
    layout: Literal["wide", "long"] = "wide"
    languages: CommaList | None = None
    id_column: str = "id"
    language_column: str = "language"
    text_column: str = "question"
    revision: str | None = None
    splits: SplitConfig = Field(default_factory=SplitConfig)


class ParallelCorpusConfig(BaseModel):
    """A CLaS-style set built from a parallel corpus under ``PLURIEVAL_DATA_DIR`` (or ``root``)."""

    model_config = ConfigDict(extra="forbid")
    corpus: Literal["polyrefuse-harmless", "mgsm"] = "polyrefuse-harmless"
    root: str | None = Field(None, description="folder of the corpus (default: $PLURIEVAL_DATA_DIR/<corpus folder>)")
    languages: CommaList | None = None
    max_questions: int | None = Field(None, ge=1, description="keep the first N parallel questions")
    revision: str | None = None
    splits: SplitConfig = Field(default_factory=SplitConfig)


class LanguageControlConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    identifier: str | None = Field(None, description="language_identifier resource (default: the default one, py3langid)")
    identifier_params: dict[str, Any] = Field(default_factory=dict)
    degenerate_check: bool = Field(True, description="degenerate text (plurieval.text.degenerate, with the target's script "
                                                     "rule) never counts as in the target language")
    degenerate: DegenerateConfig = Field(default_factory=DegenerateConfig)


class RelevanceConfig(BaseModel):
    """J. ``mode="embedding"`` (offline default, a *proxy*): cosine between the multilingual
    embeddings of output and source question → 0 below ``low``, 1 below ``high``, else 2.
    ``mode="judge"``: the CLaS-Bench LLM-judge protocol with any HF model (``judge_model``)."""

    model_config = ConfigDict(extra="forbid")
    mode: Literal["embedding", "judge"] = "embedding"
    embedder: str | None = Field(None, description="embedder resource (default: the default embedder)")
    embedder_params: dict[str, Any] = Field(default_factory=dict)
    low: float = Field(0.89, description="cosine below this → 0 (irrelevant); spec 1 used 0.80 (docs/judges.md)")
    high: float = Field(0.895, description="cosine at or above this → 2 (relevant), in between → 1; spec 1 used 0.84")
    judge: str | None = Field(None, description="judge resource name (default: 'hf-judge')")
    judge_model: str | None = Field(None, description="HF hub id or local folder of the judge model (mode=judge)")
    judge_max_new_tokens: int = Field(8, ge=1)
    degenerate_check: bool = Field(True, description="degenerate text (plurieval.text.degenerate) scores 0, whatever "
                                                     "the proxy or judge says")
    degenerate: DegenerateConfig = Field(default_factory=DegenerateConfig)
    echo_check: bool = Field(True, description="mode=embedding: compare only what the output adds to an echo of the "
                                               "question (plurieval.text.strip_echo)")


class SteeringScoreConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    language_control: LanguageControlConfig = Field(default_factory=LanguageControlConfig)
    relevance: RelevanceConfig = Field(default_factory=RelevanceConfig)


class HFJudgeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = Field(..., description="HF hub id or local folder of a chat model")
    max_new_tokens: int = Field(8, ge=1)
    batch_size: int = Field(8, ge=1)


class ClasBenchConfig(BaseModel):
    """The CLaS-Bench protocol's knobs; the defaults are the benchmark as specified."""

    model_config = ConfigDict(extra="forbid")
    dataset: str = Field("clasbench-sample", description="dataset name (clasbench-sample, clasbench-parallel, clasbench-hf, ...)")
    dataset_params: dict[str, Any] = Field(default_factory=dict)
    source_languages: CommaList = Field(default_factory=lambda: ["en"], description="languages the prompts are written in")
    target_languages: CommaList | None = Field(None, description="languages to steer towards (default: all others)")
    layers: list[int] | None = Field(None, description="layer grid (default: 5 evenly spaced layers from L/6 to 5L/6)")
    dev_limit: int | None = Field(8, ge=1, description="dev questions per target for the sweep (None = all)")
    max_new_tokens: int = Field(48, ge=1)
    max_tokens_per_language: int = Field(4000, ge=1, description="token activations kept per language (SAE training)")
    language_control: LanguageControlConfig = Field(default_factory=LanguageControlConfig)
    relevance: RelevanceConfig = Field(default_factory=RelevanceConfig)
    plots: bool = True
    activation_store: str | None = Field(
        None, description="folder for shared activation sets (default: OUTPUT/activations, shared by runs)")
