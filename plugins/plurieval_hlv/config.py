"""Torch-free pydantic configs of the HLV plugin (``plugin.py`` imports them to register specs).

The metric configs spell out what each option means, because the same metric name means
different things across papers (JSD as distance vs divergence, base 2 vs e, KL direction,
smoothing, tie rules); ``plurieval show kl_divergence`` prints these descriptions. Every metric
config takes ``convention`` (``plurieval_hlv.conventions``): it fills in the sub-choices a
reference implementation makes, and fields given explicitly override it.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from plurieval_hlv.conventions import DEFAULT, SOURCES, conventions_for, unknown_convention_message


def _base_as_text(value: Any) -> Any:
    # `--set base=2` and YAML `base: 2` arrive as numbers; the base is a name ("2"), not a value.
    return str(int(value)) if isinstance(value, (int, float)) and not isinstance(value, bool) and value == int(value) else value


Normalization = Literal["none", "linear", "shift_min", "softmax"]
Base = Annotated[Literal["e", "2", "10"], BeforeValidator(_base_as_text)]
Smoothing = Literal["add", "floor", "clip"]
ModelTies = Literal["expected", "first", "last"]
HumanTies = Literal["any", "first", "last"]

_NORM = Field(
    "none",
    description=(
        "how predictions become distributions: 'none' (must already sum to 1), 'linear' "
        "(x/sum(x); only when a value is negative is the vector first shifted by its minimum), "
        "'shift_min' ((x - min x)/sum(x - min x) always: CoT-HLV's linear mode; the lowest option gets 0), "
        "'softmax' (for logits)"
    ),
)
_EPS_MODE = Field(
    "add",
    description=(
        "how epsilon is applied: 'add' (p + eps, renormalised), 'floor' (values below eps set to eps, "
        "renormalised: ChaosNLI), 'clip' (clipped to [eps, 1 - eps], not renormalised: LeWiDi)"
    ),
)
_ROUND_EXAMPLE = Field(None, ge=0, description="round each per-item value to this many decimals (LeWiDi 2025: 5)")
_ROUND_MEAN = Field(None, ge=0, description="round the mean to this many decimals (LeWiDi 2025: 5)")
_MODEL_TIES = Field(
    "expected",
    description=(
        "ties among the model's scores: 'expected' (broken uniformly at random; the metric is the expected "
        "value), 'first' (the lower option index wins: np.argmax), 'last' (the higher index wins: np.argsort()[-1])"
    ),
)
_UNDEFINED = Field(
    "skip", description="a constant vector has no rank correlation: 'skip' (None, left out of the mean) or "
                        "'zero' (counted as 0 and kept: CoT-HLV)")
_HUMAN_TIES = Field(
    "any",
    description="ties among the human top options: 'any' (every tied option counts), 'first' or 'last' (one, by index)",
)


def _convention_field(metric: str) -> Any:
    presets = conventions_for(metric)
    choices = tuple(presets)
    return Field(
        DEFAULT,
        description=(
            "reference convention that sets every sub-choice at once (explicit fields still override): "
            + "; ".join(f"{name} = {SOURCES[name]}" for name in choices)
        ),
        json_schema_extra={"enum": list(choices), "presets": {k: dict(v) for k, v in presets.items()}},
    )


class _MetricConfig(BaseModel):
    # defer_build: validators are built on first use, so `plurieval list` (which imports every
    # plugin.py, hence these configs) does not pay for two dozen metric schemas
    model_config = ConfigDict(extra="forbid", defer_build=True)


class _ConventionConfig(_MetricConfig):
    """A metric config whose ``convention`` fills in the sub-choices the user did not give."""

    metric: ClassVar[str]
    convention: str = DEFAULT

    @model_validator(mode="before")
    @classmethod
    def _apply_convention(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        name = data.get("convention", DEFAULT)
        presets = conventions_for(cls.metric)
        if name not in presets:
            raise ValueError(unknown_convention_message(cls.metric, str(name)))
        return {**presets[name], **data}


class KLConfig(_ConventionConfig):
    metric: ClassVar[str] = "kl_divergence"
    convention: str = _convention_field("kl_divergence")
    direction: Literal["human_model", "model_human"] = Field(
        "human_model", description="'human_model' = KL(human ‖ model) (default), 'model_human' = KL(model ‖ human)"
    )
    base: Base = Field("e", description="logarithm base: e (nats), 2 (bits) or 10")
    epsilon: float = Field(1e-12, ge=0, lt=1, description="smoothing constant (see smoothing); 0 = none")
    smoothing: Smoothing = _EPS_MODE
    smoothed: Literal["both", "model"] = Field("both", description="which distributions epsilon is applied to")
    normalization: Normalization = _NORM


class JSConfig(_ConventionConfig):
    metric: ClassVar[str] = "js_distance"
    convention: str = _convention_field("js_distance")
    base: Base = Field("2", description="logarithm base; with base 2 the divergence and distance lie in [0, 1]")
    epsilon: float = Field(0.0, ge=0, lt=1, description="smoothing constant (see smoothing); 0 = none (none is needed)")
    smoothing: Smoothing = _EPS_MODE
    smoothed: Literal["both", "model"] = Field("model", description="which distributions epsilon is applied to")
    normalization: Normalization = _NORM


class JSDivergenceConfig(_ConventionConfig):
    metric: ClassVar[str] = "js_divergence"
    convention: str = _convention_field("js_divergence")
    base: Base = Field("2", description="logarithm base; with base 2 the divergence lies in [0, 1]")
    normalization: Normalization = _NORM


class TVConfig(_ConventionConfig):
    metric: ClassVar[str] = "total_variation"
    convention: str = _convention_field("total_variation")
    normalization: Normalization = _NORM


class CrossEntropyConfig(_ConventionConfig):
    metric: ClassVar[str] = "cross_entropy"
    convention: str = _convention_field("cross_entropy")
    base: Base = Field("e", description="logarithm base")
    epsilon: float = Field(1e-12, ge=0, lt=0.5, description="smoothing constant for the model probabilities; 0 = none")
    smoothing: Smoothing = _EPS_MODE
    log_offset: float = Field(0.0, ge=0, description="added inside the logarithm, log(m + offset) (LeWiDi 2023: 1e-9)")
    normalization: Normalization = _NORM


class EntropyCalibrationConfig(_ConventionConfig):
    metric: ClassVar[str] = "entropy_calibration_error"
    convention: str = _convention_field("entropy_calibration_error")
    base: Base = Field("e", description="logarithm base of both entropies")
    signed: bool = Field(False, description="report H(model) − H(human) (> 0: the model is less certain) instead of |·|")
    normalization: Normalization = _NORM


class RankConfig(_ConventionConfig):
    """Rank metrics are invariant to any monotone normalisation, so they take none."""

    metric: ClassVar[str] = "rank_spearman"
    convention: str = _convention_field("rank_spearman")
    undefined: Literal["skip", "zero"] = _UNDEFINED
    few_options: Literal["rank", "accuracy"] = Field(
        "rank", description="with fewer than three options: 'rank' (ρ as usual) or 'accuracy' (argmax == argmax, "
                            "first of ties: CoT-HLV)")


class KendallConfig(_ConventionConfig):
    metric: ClassVar[str] = "rank_kendall"
    convention: str = _convention_field("rank_kendall")
    undefined: Literal["skip", "zero"] = _UNDEFINED


class RankMatchConfig(_ConventionConfig):
    metric: ClassVar[str] = "rank_exact_match"
    convention: str = _convention_field("rank_exact_match")
    ties: Literal["weak_order", "index"] = Field(
        "weak_order", description="'weak_order': tied options must be tied on both sides; 'index': compare full "
                                  "orders with ties in index order (Baan et al.: argsort == argsort)")


class AccuracyAtKConfig(_ConventionConfig):
    metric: ClassVar[str] = "accuracy_at_k"
    convention: str = _convention_field("accuracy_at_k")
    k: int = Field(1, ge=1, description="rank cut-off (top_k) or the rank compared (kth_rank)")
    mode: Literal["top_k", "kth_rank"] = Field(
        "top_k", description="'top_k': a human top option is among the model's k highest; 'kth_rank': the model's "
                             "k-th ranked option is the human k-th ranked option (Baan et al.'s acc@k)")
    model_ties: ModelTies = _MODEL_TIES
    human_ties: HumanTies = _HUMAN_TIES


class ECEConfig(_ConventionConfig):
    metric: ClassVar[str] = "ece"
    convention: str = _convention_field("ece")
    bins: int = Field(10, ge=1, description="equal-width confidence bins (a, b] over [0, 1]")
    model_ties: ModelTies = _MODEL_TIES
    human_ties: HumanTies = _HUMAN_TIES
    normalization: Normalization = _NORM


class ManhattanConfig(_ConventionConfig):
    metric: ClassVar[str] = "manhattan_distance"
    convention: str = _convention_field("manhattan_distance")
    multilabel: bool = Field(
        False, description="each item is a list of per-label distributions (LeWiDi VariErrNLI): the item's value is "
                           "the mean over labels")
    round_example: int | None = _ROUND_EXAMPLE
    round_mean: int | None = _ROUND_MEAN
    normalization: Normalization = _NORM


class WassersteinConfig(_ConventionConfig):
    metric: ClassVar[str] = "wasserstein_distance"
    convention: str = _convention_field("wasserstein_distance")
    positions: list[float] | None = Field(
        None, description="the value of each ordinal label, in option order (default 0, 1, ..., K-1)")
    round_example: int | None = _ROUND_EXAMPLE
    round_mean: int | None = _ROUND_MEAN
    normalization: Normalization = _NORM


class ErrorRateConfig(_ConventionConfig):
    metric: ClassVar[str] = "error_rate"
    convention: str = _convention_field("error_rate")
    multilabel: bool = Field(
        False, description="each item is a list of per-label annotator vectors: the item's value is the mean over labels")
    round_example: int | None = _ROUND_EXAMPLE
    round_mean: int | None = _ROUND_MEAN


class MeanAbsoluteDistanceConfig(_ConventionConfig):
    metric: ClassVar[str] = "mean_absolute_distance"
    convention: str = _convention_field("mean_absolute_distance")
    scale: float = Field(
        ..., gt=0, description="divides the mean absolute difference; LeWiDi 2025 passes the number of label values "
                               "(11 for Par, 6 for CSC), though its docstring says 10 and 5")


class StepScoreConfig(_ConventionConfig):
    """Per-step scores of generated tokens from logits, as inseq computes them."""

    metric: ClassVar[str] = "step_logit"
    convention: str = _convention_field("step_logit")
    reduction: Literal["mean", "sum"] = Field("mean", description="how the step scores of one item become one value")


StepLogitConfig = StepScoreConfig


class StepProbabilityConfig(StepScoreConfig):
    metric: ClassVar[str] = "step_probability"
    convention: str = _convention_field("step_probability")


class StepLogprobConfig(StepScoreConfig):
    metric: ClassVar[str] = "step_logprob"
    convention: str = _convention_field("step_logprob")


class StepEntropyConfig(StepScoreConfig):
    metric: ClassVar[str] = "step_entropy"
    convention: str = _convention_field("step_entropy")
    base: Base = Field("e", description="logarithm base (inseq: e, nats)")


class StepCrossEntropyConfig(StepScoreConfig):
    metric: ClassVar[str] = "step_crossentropy"
    convention: str = _convention_field("step_crossentropy")
    base: Base = Field("e", description="logarithm base (inseq: e, nats, as F.cross_entropy)")


class StepPerplexityConfig(_ConventionConfig):
    metric: ClassVar[str] = "step_perplexity"
    convention: str = _convention_field("step_perplexity")
    perplexity: Literal["sequence", "inseq"] = Field(
        "sequence", description="'sequence': exp(mean over steps of the cross-entropy in nats) = the usual "
                                "perplexity; 'inseq': 2 ** (cross-entropy in nats) per step, then reduced — "
                                "inseq's perplexity_fn, which is not 1/p")
    reduction: Literal["mean", "sum"] = Field(
        "mean", description="with perplexity=inseq: how the per-step values become one (sequence perplexity is a mean)")

    @model_validator(mode="after")
    def _sequence_is_a_mean(self) -> StepPerplexityConfig:
        if self.perplexity == "sequence" and self.reduction != "mean":
            raise ValueError("perplexity=sequence is exp(mean cross-entropy); reduction=sum applies to perplexity=inseq")
        return self


class HLVDatasetConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)
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

    model_config = ConfigDict(extra="forbid", defer_build=True)
    path: str = Field(..., description="JSONL file, one item per line")
    id_field: str | None = Field("id", description="field holding the item id (None: the line number)")
    input_fields: list[str] = Field(default_factory=lambda: ["text"], description="fields shown to the model")
    options: list[str] | None = Field(None, description="answer options in order; default: the 'options' field of each row")
    counts_field: str = Field("counts", description="annotator counts (or probabilities) in option order")


class ChaosNLIBenchmarkConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)
    data_dir: str | None = Field(None, description="shared data root (see the chaosnli dataset); default $PLURIEVAL_DATA_DIR")
    split: Literal["dev", "test", "varierr", "sample"] | None = Field(
        None, description="default: test with shared data, the packaged sample without"
    )
    baseline: bool = Field(True, description="also score the uniform distribution on the same items")


class OptionLogitsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)
    normalization: Literal["softmax", "linear", "shift_min"] = Field(
        "softmax",
        description=(
            "softmax over the option-letter log-probabilities (temperature T); 'linear': z / sum(z), shifted by "
            "min z first when a value is negative — always the case for log-probabilities, so it equals "
            "(z - min z) / sum(z - min z) here; 'shift_min': that formula unconditionally (CoT-HLV's linear mode)"
        ),
    )
    temperature: float = Field(1.0, gt=0, description="softmax temperature")
    chat: bool = Field(True, description="wrap the prompt in the model's chat template")


class CoTConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)
    max_new_tokens: int = Field(96, ge=1, description="length of the generated chain of thought")
    max_statements: int = Field(12, ge=1, description="judge at most this many statements per chain of thought")
    normalization: Literal["softmax", "linear", "shift_min"] = Field(
        "softmax",
        description=(
            "support scores in [-1, 1] → distribution: softmax(score / T); 'linear': s / sum(s), shifted by min s "
            "only when a score is negative (all-positive scores are not shifted); 'shift_min': "
            "(s - min s) / sum(s - min s) always (CoT-HLV's linear mode)"
        ),
    )
    temperature: float = Field(0.25, gt=0, description="softmax temperature over option scores in [-1, 1]")
    chat: bool = Field(True, description="wrap prompts in the model's chat template")
