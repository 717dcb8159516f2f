"""Hook implementations of the hlv plugin (kept import-light: no torch at module level)."""

from plurieval.api import BenchmarkSpec, DatasetSpec, MethodSpec, MetricSpec, hookimpl
from plurieval_hlv.config import (
    AccuracyAtKConfig,
    ChaosNLIBenchmarkConfig,
    CoTConfig,
    CrossEntropyConfig,
    ECEConfig,
    EntropyCalibrationConfig,
    ErrorRateConfig,
    HLVDatasetConfig,
    ItemCountsConfig,
    JSConfig,
    JSDivergenceConfig,
    KendallConfig,
    KLConfig,
    ManhattanConfig,
    MeanAbsoluteDistanceConfig,
    OptionLogitsConfig,
    RankConfig,
    RankMatchConfig,
    StepCrossEntropyConfig,
    StepEntropyConfig,
    StepLogitConfig,
    StepLogprobConfig,
    StepPerplexityConfig,
    StepProbabilityConfig,
    TVConfig,
    WassersteinConfig,
)

_CHAOSNLI_LICENSE = "CC-BY-NC-4.0 (ChaosNLI data: non-commercial use only); MJD-Estimator code Apache-2.0"
_CHAOSNLI_CITATION = (
    "Nie, Zhou & Bansal (2020). What Can We Learn from Collective Human Opinions on Natural Language "
    "Inference Data? EMNLP. Files via Chen et al. (2024, 2025), github.com/mainlp/MJD-Estimator."
)
_M = "plurieval_hlv.metrics:"
_P = "plurieval_hlv.perspectivist:"
_S = "plurieval_hlv.step_scores:"

# (name, class, config, higher_is_better, description): the description states the definition,
# log base, direction and smoothing, because the same names mean different things across papers.
# Every config takes `convention=` (plurieval_hlv.conventions); `plurieval show NAME` lists them.
# These ten are the chaosnli benchmark's metrics (its spec lists them: adding one changes the spec).
_METRICS = [
    ("kl_divergence", "KLDivergence", KLConfig, False,
     "KL(human‖model) = Σ h log(h/m) by default (direction=model_human flips it); base e; epsilon=1e-12 added "
     "to both distributions then renormalised; lower is better"),
    ("js_distance", "JSDistance", JSConfig, False,
     "Jensen–Shannon distance sqrt(½KL(h‖a)+½KL(m‖a)), a=(h+m)/2 (= scipy jensenshannon); base 2 → [0,1]; "
     "no smoothing; lower is better"),
    ("js_divergence", "JSDivergence", JSDivergenceConfig, False,
     "Jensen–Shannon divergence ½KL(h‖a)+½KL(m‖a), a=(h+m)/2; base 2 → [0,1]; no smoothing; lower is better"),
    ("total_variation", "TotalVariation", TVConfig, False,
     "total variation distance ½Σ|h−m| in [0,1]; no log, no smoothing; lower is better"),
    ("cross_entropy", "CrossEntropy", CrossEntropyConfig, False,
     "cross-entropy −Σ h log m (soft-label loss); base e; epsilon=1e-12 added to model probabilities; lower is better"),
    ("rank_spearman", "RankSpearman", RankConfig, True,
     "per-item Spearman ρ (average ranks for ties) between model scores and human distribution, mean over items "
     "where both vary; higher is better"),
    ("rank_kendall", "RankKendall", KendallConfig, True,
     "per-item Kendall τ-b between model scores and human distribution, mean over items where both vary; "
     "higher is better"),
    ("rank_exact_match", "RankExactMatch", RankMatchConfig, True,
     "1 if the model's weak order of options (ties kept) equals the human one, else 0; higher is better"),
    ("accuracy_at_k", "AccuracyAtK", AccuracyAtKConfig, True,
     "expected hit of a human top option among the model's top-k (random tie-breaking); k=1 default; higher is better"),
    ("entropy_calibration_error", "EntropyCalibrationError", EntropyCalibrationConfig, False,
     "|H(model) − H(human)|, base e, 0·log0=0, no smoothing; lower is better"),
]
_METRICS = [(n, _M + c, cfg, hib, d) for n, c, cfg, hib, d in _METRICS]

_SOFT = '{"prediction": [0.2, 0.5, 0.3], "reference": [2, 5, 3]}  (distributions, or annotator counts as reference)'
_SOFT_ML = ('{"prediction": [[0.4, 0.6], [0.9, 0.1]], "reference": [[0.5, 0.5], [1, 0]]}  (with multilabel=true: one '
            '[p(0), p(1)] per label; or {label: {"0": p0, "1": p1}} mappings)')
_PERSP = '{"prediction": [1, 0, 1], "reference": [1, 1, 1]}  (one label or rating per annotator, in annotator order)'
_STEPS = ('{"prediction": [[logit of each vocabulary token], ...one list per step], "reference": [target id per step]}'
          '  (step_entropy ignores the reference)')

# Registered but not part of the chaosnli benchmark: scored on request (run config `metrics:`,
# `plurieval score`), because they need other inputs (labels per annotator, step logits) or are
# data-set level (ECE). (name, factory, config, higher_is_better, description, JSONL form)
_MORE_METRICS = [
    ("ece", _M + "ECE", ECEConfig, False,
     "expected calibration error of max-probability confidence against the human majority label, equal-width "
     "bins (a,b] (bins=10), empty bins skipped (Baan et al. 2022); lower is better", _SOFT),
    ("manhattan_distance", _P + "ManhattanDistance", ManhattanConfig, False,
     "L1 distance Σ|m−h| between predicted and human distributions (LeWiDi 2025 average_MD; multilabel=true "
     "for per-label distributions); lower is better", _SOFT_ML),
    ("wasserstein_distance", _P + "WassersteinDistance", WassersteinConfig, False,
     "earth mover's distance between distributions over ordinal labels at `positions` (default 0..K-1; "
     "LeWiDi 2025 average_WS); lower is better", _SOFT),
    ("error_rate", _P + "ErrorRate", ErrorRateConfig, False,
     "share of annotators whose (0/1) label a per-annotator prediction gets wrong (LeWiDi 2025 perspectivist; "
     "multilabel=true for per-label vectors); lower is better", _PERSP),
    ("mean_absolute_distance", _P + "MeanAbsoluteDistance", MeanAbsoluteDistanceConfig, False,
     "mean |rating − predicted rating| over annotators divided by `scale` (LeWiDi 2025 perspectivist, Par/CSC); "
     "lower is better", _PERSP),
    ("step_logit", _S + "StepLogit", StepLogitConfig, True,
     "target-token logit per generation step from the step logits, mean over steps (inseq `logit`)", _STEPS),
    ("step_probability", _S + "StepProbability", StepProbabilityConfig, True,
     "target-token probability per step, mean over steps (inseq `probability`)", _STEPS),
    ("step_logprob", _S + "StepLogprob", StepLogprobConfig, True,
     "target-token log-probability (nats) per step, mean over steps (inseq `probability`, logprob=True)", _STEPS),
    ("step_entropy", _S + "StepEntropy", StepEntropyConfig, False,
     "entropy (nats) of the next-token distribution per step, mean over steps (inseq `entropy`)", _STEPS),
    ("step_crossentropy", _S + "StepCrossEntropy", StepCrossEntropyConfig, False,
     "cross-entropy −ln p(target) per step, mean over steps (inseq `crossentropy`)", _STEPS),
    ("step_perplexity", _S + "StepPerplexity", StepPerplexityConfig, False,
     "exp(mean −ln p(target)) over the steps; convention=inseq gives inseq's 2**(nats) per step (not 1/p)", _STEPS),
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
    for name, factory, config, higher, description in _METRICS:
        register(MetricSpec(name=name, factory=factory, config=config, higher_is_better=higher,
                            description=description, version="1.1.0"))
    for name, factory, config, higher, description, form in _MORE_METRICS:
        register(MetricSpec(name=name, factory=factory, config=config, higher_is_better=higher,
                            description=description, jsonl_form=form, version="1.0.0"))


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
