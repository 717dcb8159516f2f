"""Hook implementations of the hlv plugin (kept import-light: no torch at module level)."""

from plurieval.api import BenchmarkSpec, DatasetSpec, MethodSpec, MetricSpec, hookimpl
from plurieval_hlv.config import (
    AccuracyAtKConfig,
    ChaosNLIBenchmarkConfig,
    CoTConfig,
    CrossEntropyConfig,
    EntropyCalibrationConfig,
    HLVDatasetConfig,
    ItemCountsConfig,
    JSConfig,
    KLConfig,
    OptionLogitsConfig,
    RankConfig,
    TVConfig,
)

_CHAOSNLI_LICENSE = "CC-BY-NC-4.0 (ChaosNLI data: non-commercial use only); MJD-Estimator code Apache-2.0"
_CHAOSNLI_CITATION = (
    "Nie, Zhou & Bansal (2020). What Can We Learn from Collective Human Opinions on Natural Language "
    "Inference Data? EMNLP. Files via Chen et al. (2024, 2025), github.com/mainlp/MJD-Estimator."
)
_M = "plurieval_hlv.metrics:"

# (name, class, config, higher_is_better, description): the description states the definition,
# log base, direction and smoothing, because the same names mean different things across papers.
_METRICS = [
    ("kl_divergence", "KLDivergence", KLConfig, False,
     "KL(human‖model) = Σ h log(h/m) by default (direction=model_human flips it); base e; epsilon=1e-12 added "
     "to both distributions then renormalised; lower is better"),
    ("js_distance", "JSDistance", JSConfig, False,
     "Jensen–Shannon distance sqrt(½KL(h‖a)+½KL(m‖a)), a=(h+m)/2 (= scipy jensenshannon); base 2 → [0,1]; "
     "no smoothing; lower is better"),
    ("js_divergence", "JSDivergence", JSConfig, False,
     "Jensen–Shannon divergence ½KL(h‖a)+½KL(m‖a), a=(h+m)/2; base 2 → [0,1]; no smoothing; lower is better"),
    ("total_variation", "TotalVariation", TVConfig, False,
     "total variation distance ½Σ|h−m| in [0,1]; no log, no smoothing; lower is better"),
    ("cross_entropy", "CrossEntropy", CrossEntropyConfig, False,
     "cross-entropy −Σ h log m (soft-label loss); base e; epsilon=1e-12 added to model probabilities; lower is better"),
    ("rank_spearman", "RankSpearman", RankConfig, True,
     "per-item Spearman ρ (average ranks for ties) between model scores and human distribution, mean over items "
     "where both vary; higher is better"),
    ("rank_kendall", "RankKendall", RankConfig, True,
     "per-item Kendall τ-b between model scores and human distribution, mean over items where both vary; "
     "higher is better"),
    ("rank_exact_match", "RankExactMatch", RankConfig, True,
     "1 if the model's weak order of options (ties kept) equals the human one, else 0; higher is better"),
    ("accuracy_at_k", "AccuracyAtK", AccuracyAtKConfig, True,
     "expected hit of a human top option among the model's top-k (random tie-breaking); k=1 default; higher is better"),
    ("entropy_calibration_error", "EntropyCalibrationError", EntropyCalibrationConfig, False,
     "|H(model) − H(human)|, base e, 0·log0=0, no smoothing; lower is better"),
]


@hookimpl
def register_datasets(register):
    register(DatasetSpec(
        name="chaosnli", factory="plurieval_hlv.data:ChaosNLIDataset", config=HLVDatasetConfig, version="1.0.0",
        description="ChaosNLI-MNLI human label distributions (~100 annotators/item; dev/test 629 each, 341 with "
                    "VariErr labels+explanations). NON-COMMERCIAL (CC BY-NC 4.0).",
        license=_CHAOSNLI_LICENSE, citation=_CHAOSNLI_CITATION, languages=("en",),
    ))
    register(DatasetSpec(
        name="item-counts", factory="plurieval_hlv.data:ItemCountsDataset", config=ItemCountsConfig,
        description="generic JSONL loader: item text fields + answer options + annotator counts → human distribution",
    ))


@hookimpl
def register_metrics(register):
    for name, cls, config, higher, description in _METRICS:
        register(MetricSpec(name=name, factory=_M + cls, config=config, higher_is_better=higher,
                            description=description, version="1.0.0"))


@hookimpl
def register_methods(register):
    register(MethodSpec(
        name="option-logits", factory="plurieval_hlv.methods:OptionLogits", config=OptionLogitsConfig,
        method_kind="explanation",
        description="label distribution from the model's next-token logits of the option letters (A/B/C), "
                    "softmax or linear normalisation",
    ))
    register(MethodSpec(
        name="cot-support", factory="plurieval_hlv.methods:CoTSupport", config=CoTConfig, method_kind="explanation",
        description="generate a chain of thought, split it into statements (sentences + connectives), judge each "
                    "statement as supporting/opposing each option → option scores, ranking, distribution",
    ))


@hookimpl
def register_benchmarks(register):
    register(BenchmarkSpec(
        name="chaosnli", factory="plurieval_hlv.benchmark:ChaosNLIBenchmark", config=ChaosNLIBenchmarkConfig,
        spec_version="1", method_kinds=("explanation",), default_method="option-logits",
        metrics=tuple(m[0] for m in _METRICS), version="1.0.0",
        description="how well a model reproduces the spread and ranking of ChaosNLI human NLI judgements "
                    "(distributional + rank-based HLV metrics, uniform baseline). NON-COMMERCIAL data.",
        license=_CHAOSNLI_LICENSE, citation=_CHAOSNLI_CITATION, languages=("en",),
    ))
