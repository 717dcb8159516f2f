"""Torch-free pydantic configs of the HLV plugin (``plugin.py`` imports them to register specs).

The metric configs spell out what each option means, because the same metric name means
different things across papers (JSD as distance vs divergence, base 2 vs e, KL direction,
smoothing); ``plurieval show kl_divergence`` prints these descriptions.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


def _base_as_text(value: Any) -> Any:
    # `--set base=2` and YAML `base: 2` arrive as numbers; the base is a name ("2"), not a value.
    return str(int(value)) if isinstance(value, (int, float)) and not isinstance(value, bool) and value == int(value) else value


Normalization = Literal["none", "linear", "softmax"]
Base = Annotated[Literal["e", "2", "10"], BeforeValidator(_base_as_text)]

_NORM = Field(
    "none",
    description=(
        "how predictions become distributions: 'none' (must already sum to 1), 'linear' "
        "(x/sum(x); negative scores are first shifted by their minimum), 'softmax' (for logits)"
    ),
)


class _MetricConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")


class KLConfig(_MetricConfig):
    direction: Literal["human_model", "model_human"] = Field(
        "human_model", description="'human_model' = KL(human ‖ model) (default), 'model_human' = KL(model ‖ human)"
    )
    base: Base = Field("e", description="logarithm base: e (nats), 2 (bits) or 10")
    epsilon: float = Field(
        1e-12, ge=0, description="added to every probability of both distributions before renormalising; 0 = none"
    )
    normalization: Normalization = _NORM


class JSConfig(_MetricConfig):
    base: Base = Field("2", description="logarithm base; with base 2 the divergence and distance lie in [0, 1]")
    normalization: Normalization = _NORM


class TVConfig(_MetricConfig):
    normalization: Normalization = _NORM


class CrossEntropyConfig(_MetricConfig):
    base: Base = Field("e", description="logarithm base")
    epsilon: float = Field(1e-12, ge=0, description="added to the model probabilities before renormalising; 0 = none")
    normalization: Normalization = _NORM


class EntropyCalibrationConfig(_MetricConfig):
    base: Base = Field("e", description="logarithm base of both entropies")
    normalization: Normalization = _NORM


class RankConfig(_MetricConfig):
    """Rank metrics are invariant to any monotone normalisation, so they take none."""


class AccuracyAtKConfig(_MetricConfig):
    k: int = Field(1, ge=1, description="the human top option must be among the model's k highest-scoring options")


class HLVDatasetConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    data_dir: str | None = Field(
        None,
        description=(
            "folder holding hlv/mjd-chaosnli/ (the shared data root) or the mjd-chaosnli folder itself; "
            "default: $PLURIEVAL_DATA_DIR, else the small sample shipped with the package"
        ),
    )
    split: Literal["dev", "test", "varierr", "sample"] = Field(
        "test", description="dev/test: 629 ChaosNLI-MNLI items each; varierr: the 341 items with VariErr labels"
    )


class ItemCountsConfig(BaseModel):
    """The generic loader: any JSONL of items with answer options and annotator counts."""

    model_config = ConfigDict(extra="forbid")
    path: str = Field(..., description="JSONL file, one item per line")
    id_field: str | None = Field("id", description="field holding the item id (None: the line number)")
    input_fields: list[str] = Field(default_factory=lambda: ["text"], description="fields shown to the model")
    options: list[str] | None = Field(None, description="answer options in order; default: the 'options' field of each row")
    counts_field: str = Field("counts", description="annotator counts (or probabilities) in option order")


class ChaosNLIBenchmarkConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    data_dir: str | None = Field(None, description="shared data root (see the chaosnli dataset); default $PLURIEVAL_DATA_DIR")
    split: Literal["dev", "test", "varierr", "sample"] | None = Field(
        None, description="default: test with shared data, the packaged sample without"
    )
    baseline: bool = Field(True, description="also score the uniform distribution on the same items")


class OptionLogitsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    normalization: Literal["softmax", "linear"] = Field(
        "softmax",
        description="softmax over the option-letter logits (temperature T), or linear: (z - min z) / sum(z - min z)",
    )
    temperature: float = Field(1.0, gt=0, description="softmax temperature")
    chat: bool = Field(True, description="wrap the prompt in the model's chat template")


class CoTConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_new_tokens: int = Field(96, ge=1, description="length of the generated chain of thought")
    max_statements: int = Field(12, ge=1, description="judge at most this many statements per chain of thought")
    normalization: Literal["softmax", "linear"] = Field("softmax", description="support scores → distribution")
    temperature: float = Field(0.25, gt=0, description="softmax temperature over option scores in [-1, 1]")
    chat: bool = Field(True, description="wrap prompts in the model's chat template")
