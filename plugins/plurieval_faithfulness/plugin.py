"""Hook implementations of the faithfulness plugin (kept import-light: no torch at module level)."""

from plurieval.api import BenchmarkSpec, DatasetSpec, MethodSpec, MetricSpec, hookimpl
from plurieval_faithfulness.config import (
    JSONL_FORM,
    PLAUSIBILITY_FORM,
    AOPCConfig,
    AUPRCConfig,
    ESNLIConfig,
    FaithfulnessBenchmarkConfig,
    GradientConfig,
    InputXGradientConfig,
    IntegratedGradientsConfig,
    PerturbationConfig,
    PlausibilityConfig,
    RandomConfig,
    ShapleyConfig,
    SingleRationaleConfig,
    TauLOOConfig,
)

_A = "plurieval_faithfulness.attribution:"
_M = "plurieval_faithfulness.metrics:"
_ERASER = ("DeYoung, Jain, Rajani, Lehman, Xiong, Socher & Wallace (2020). ERASER: A Benchmark to Evaluate "
           "Rationalized NLP Models. ACL.")
_FERRET = ("Attanasio, Pastor, Di Bonaventura & Nozza (2023). ferret: a Framework for Benchmarking Explainers on "
           "Transformers. EACL (demo).")
_CONV = ("convention=eraser (default): every word ranked by score, ties to the earlier word, deletion; "
         "convention=ferret: only positive scores, ties to the later word, deletion")

_METHODS = [
    ("integrated-gradients", "IntegratedGradients", IntegratedGradientsConfig,
     "Integrated Gradients (captum) on the embeddings of the explained words' tokens, baseline and steps "
     "configurable (default zero baseline, 16 Gauss-Legendre steps); word = sum of its tokens",
     "Sundararajan, Taly & Yan (2017). Axiomatic Attribution for Deep Networks. ICML."),
    ("input-x-gradient", "InputXGradient", InputXGradientConfig,
     "input × gradient (captum InputXGradient) on the token embeddings, summed over dimensions and tokens",
     "Shrikumar, Greenside, Shcherbina & Kundaje (2016). Not Just a Black Box. arXiv:1605.01713."),
    ("gradient", "Gradient", GradientConfig,
     "gradient saliency (captum Saliency, |∂f/∂x| summed over dimensions = L1 norm), per word",
     "Simonyan, Vedaldi & Zisserman (2014). Deep Inside Convolutional Networks. ICLR workshop."),
    ("occlusion", "Occlusion", PerturbationConfig,
     "leave-one-out occlusion: captum FeatureAblation with one feature per word, score = f(x) − f(x with the "
     "word's token embeddings replaced by the baseline)",
     "Zeiler & Fergus (2014); Li, Monroe & Jurafsky (2016). Understanding Neural Networks through Representation "
     "Erasure. arXiv:1612.08220."),
    ("shapley-sampling", "ShapleySampling", ShapleyConfig,
     "Shapley value sampling over words (captum ShapleyValueSampling, `samples` permutations, absent words "
     "replaced by the baseline embedding)",
     "Castro, Gómez & Tejada (2009). Polynomial calculation of the Shapley value based on sampling. "
     "Computers & Operations Research."),
    ("random-attribution", "RandomAttribution", RandomConfig,
     "baseline: one uniform random score per word (seeded by the run seed and the example id)", None),
]

_METRICS = [
    ("comprehensiveness", "Comprehensiveness", SingleRationaleConfig, True,
     "p(y|x) − p(y|x∖r): the predicted option's probability lost when the rationale r (top-k words; eraser: k = "
     "the item's human rationale length, ferret: k = 5 positive) is removed; higher is better. " + _CONV),
    ("sufficiency", "Sufficiency", SingleRationaleConfig, False,
     "p(y|x) − p(y|r): the predicted option's probability lost when only the rationale r is kept (negative values "
     "kept); lower is better. " + _CONV),
    ("aopc_comprehensiveness", "AOPCComprehensiveness", AOPCConfig, True,
     "mean of p(y|x) − p(y|x∖r_t) over thresholds t (eraser: 1/5/10/20/50 % of the words, 0 words counted; ferret: "
     "10..100 %, 0 words and repeated rationales skipped, 100 % counted); higher is better. " + _CONV),
    ("aopc_sufficiency", "AOPCSufficiency", AOPCConfig, False,
     "mean of p(y|x) − p(y|r_t) over the same thresholds; lower is better. " + _CONV),
    ("tau_loo", "TauLOO", TauLOOConfig, True,
     "Kendall τ-b between the attribution and the leave-one-out effects p(y|x) − p(y|x∖{w}) of every word "
     "(deletion); None where either is constant; higher is better. Both conventions give the same value "
     "(ERASER has no such metric; ferret's taucorr_loo)"),
]

_PLAUSIBILITY = [
    ("token_f1", "TokenF1", PlausibilityConfig,
     "F1 of the hard rationale (default: top 5 words with a positive score, ferret) against the human rationale, "
     "per item, mean over items with a rationale (instance macro F1); higher is better"),
    ("token_iou", "TokenIOU", PlausibilityConfig,
     "|pred ∩ human| / |pred ∪ human| of the hard rationale and the human one, per item; higher is better"),
    ("auprc", "AUPRC", AUPRCConfig,
     "area under the precision-recall curve of the scores against the human rationale (sklearn "
     "precision_recall_curve + trapezoidal auc, as ERASER and ferret; negative scores as 0); higher is better"),
]


@hookimpl
def register_datasets(register):
    register(DatasetSpec(
        name="esnli-highlights", factory="plurieval_faithfulness.data:ESNLIHighlights", config=ESNLIConfig,
        version="1.0.0",
        description="e-SNLI pairs with their annotators' highlights combined into one rationale per pair (read "
                    "from LiTEx through the litex dataset; a self-written sample without shared data)",
        license="Apache-2.0 (LiTEx annotations); e-SNLI MIT", citation=_ERASER, languages=("en",),
    ))


@hookimpl
def register_methods(register):
    for name, cls, config, description, citation in _METHODS:
        register(MethodSpec(name=name, factory=_A + cls, config=config, method_kind="explanation",
                            description=description, citation=citation, version="1.0.0"))


@hookimpl
def register_metrics(register):
    for name, cls, config, higher, description in _METRICS:
        register(MetricSpec(name=name, factory=_M + cls, config=config, higher_is_better=higher, needs={"model"},
                            recorded=True, jsonl_form=JSONL_FORM, description=description, version="1.0.0",
                            citation=_ERASER + " " + _FERRET))
    for name, cls, config, description in _PLAUSIBILITY:
        register(MetricSpec(name=name, factory=_M + cls, config=config, higher_is_better=True,
                            jsonl_form=PLAUSIBILITY_FORM, description=description, version="1.0.0",
                            citation=_ERASER + " " + _FERRET))


@hookimpl
def register_benchmarks(register):
    register(BenchmarkSpec(
        name="faithfulness", factory="plurieval_faithfulness.benchmark:FaithfulnessBenchmark",
        config=FaithfulnessBenchmarkConfig, spec_version="1", method_kinds=("explanation",),
        default_method="integrated-gradients", version="1.0.0",
        metrics=tuple(m[0] for m in _METRICS) + tuple(m[0] for m in _PLAUSIBILITY),
        description="do a method's explanations of the model's own NLI predictions reflect what the model does "
                    "(comprehensiveness, sufficiency, AOPC, τ-LOO; every query recorded) and what humans "
                    "highlight (token F1/IOU, AUPRC)? e-SNLI items with highlights by default",
        license="Apache-2.0 (LiTEx); e-SNLI MIT; ChaosNLI items CC BY-NC 4.0", citation=_ERASER + " " + _FERRET,
        languages=("en",),
    ))
