"""Hook implementations of the litex plugin (kept import-light: no torch at module level)."""

from plurieval.api import BenchmarkSpec, DatasetSpec, MethodSpec, MetricSpec, hookimpl
from plurieval_litex.config import (
    BERTScoreConfig,
    BLEUConfig,
    ChrFConfig,
    ClassifyConfig,
    EmbeddingCosineConfig,
    ExplainCategoryConfig,
    ExplainConfig,
    ExplainHighlightsConfig,
    LabelMetricConfig,
    LitexBenchmarkConfig,
    LitexDatasetConfig,
)

_LICENSE = "Apache-2.0 (LiTEx annotations); texts from e-SNLI (MIT), LiveNLI, VariErr NLI (MNLI)"
_CITATION = (
    "Hong, Chen, Peng, de Marneffe & Plank (2025). LiTEx: A Linguistic Taxonomy of Explanations for "
    "Understanding Within-Label Variation in Natural Language Inference. EMNLP. arXiv:2505.22848"
)
_M = "plurieval_litex.metrics:"
_T = "plurieval_litex.methods:"


@hookimpl
def register_datasets(register):
    register(DatasetSpec(
        name="litex", factory="plurieval_litex.data:LitexDataset", config=LitexDatasetConfig, version="1.0.0",
        description="LiTEx-annotated NLI explanations (e-SNLI, LiveNLI, VariErr), categories normalised to the "
                    "8-category taxonomy",
        license=_LICENSE, citation=_CITATION, languages=("en",),
    ))


@hookimpl
def register_methods(register):
    for name, config, what in (
        ("explain-label", ExplainConfig, "the gold label"),
        ("explain-highlights", ExplainHighlightsConfig, "the gold label and the human-highlighted words"),
        ("explain-category", ExplainCategoryConfig, "the gold label and the LiTEx category (with definition)"),
    ):
        register(MethodSpec(name=name, factory=_T + "Explain", config=config, method_kind="explanation",
                            description=f"generate a one-sentence NLI explanation given {what}"))
    register(MethodSpec(name="litex-classify", factory=_T + "Classify", config=ClassifyConfig,
                        method_kind="explanation",
                        description="assign one of the 8 LiTEx categories to a free-text explanation "
                                    "(next-token logits of the category letters)"))


@hookimpl
def register_metrics(register):
    for name, cls, config, description in (
        ("chrf", "ChrF", ChrFConfig, "corpus chrF (sacrebleu; char 6-grams, beta 2), multi-reference; 0-100"),
        ("bleu", "BLEU", BLEUConfig, "corpus BLEU (sacrebleu; 13a, exp smoothing), multi-reference; 0-100"),
        ("embedding_cosine", "EmbeddingCosine", EmbeddingCosineConfig,
         "cosine of sentence embeddings (embedder resource, default multilingual-e5-small), max over references"),
        ("bertscore", "BERTScore", BERTScoreConfig,
         "BERTScore F1 (bert-score package, local model; default all-MiniLM-L6-v2 layer 6, no rescaling)"),
        ("cohen_kappa", "CohenKappa", LabelMetricConfig, "Cohen's kappa between predicted and reference labels"),
        ("macro_f1", "MacroF1", LabelMetricConfig, "macro-averaged F1 over the labels present"),
    ):
        register(MetricSpec(name=name, factory=_M + cls, config=config, higher_is_better=True,
                            description=description, version="1.0.0"))


@hookimpl
def register_benchmarks(register):
    register(BenchmarkSpec(
        name="litex", factory="plurieval_litex.benchmark:LitexBenchmark", config=LitexBenchmarkConfig,
        spec_version="1", method_kinds=("explanation",), default_method="explain-label",
        metrics=("chrf", "bleu", "embedding_cosine", "cohen_kappa", "macro_f1", "degenerate_rate"), version="1.0.0",
        description="NLI explanations vs LiTEx human explanations (chrF, BLEU, embedding cosine) and LiTEx "
                    "category classification (Cohen's kappa, macro-F1), per source",
        license=_LICENSE, citation=_CITATION, languages=("en",),
    ))
