"""Hook implementations of the clasbench plugin (kept import-light: no torch at module level)."""

from plurieval.api import BenchmarkSpec, DatasetSpec, MetricSpec, ResourceSpec, hookimpl

from .config import (
    ClasBenchConfig,
    ClasDatasetConfig,
    HFJudgeConfig,
    HFParallelConfig,
    LanguageControlConfig,
    ParallelCorpusConfig,
    RelevanceConfig,
    SteeringScoreConfig,
)

CITATION = ("CLaS-Bench: a cross-lingual alignment and steering benchmark (2025): parallel questions in 32 languages; "
            "language control by fastText NLLB LID, relevance by an LLM judge, steering score = harmonic mean")

BENCHMARK_DESCRIPTION = (
    "CLaS-Bench (spec 1), language forcing by steering. Parallel questions (line i = same question in every "
    "language), split by question into train/dev/test. Prompts: test questions in the source language(s) (default "
    "en). For every target language: fit on train activations (target vs source), sweep the method's grid "
    "(layer x alpha) on dev, keep the best dev steering score, generate greedily on test. F = 100 * share of outputs "
    "whose detected language is the target (pluggable LID; default py3langid, paper: fastText NLLB lid218e.bin). "
    "J = 100 * mean(0 irrelevant / 1 partly / 2 relevant & coherent)/2, ignoring language (LLM judge with any HF "
    "model; offline default: cross-lingual embedding-similarity proxy, labelled relevance_proxy). Steering score "
    "S = 2FJ/(F+J), per target language and overall; the unsteered model is the baseline."
)


@hookimpl
def register_datasets(register):
    register(DatasetSpec(
        name="clasbench-sample", factory="plurieval_clasbench.data:ClasDataset", config=ClasDatasetConfig,
        version="0.1.0", license="Apache-2.0",
        description="CLaS-Bench layout (one file per language, line i parallel) from a folder or URL; default: the "
                    "shipped sample of 32 simple questions in 10 languages written for plurieval",
        languages=("ar", "de", "en", "es", "fr", "hi", "it", "ja", "ru", "zh"),
    ))
    register(DatasetSpec(
        name="clasbench-hf", factory="plurieval_clasbench.data:HFParallelDataset", config=HFParallelConfig,
        version="0.1.0", description="Parallel questions from any datasets-loadable source (wide or long layout)",
    ))
    register(DatasetSpec(
        name="clasbench-parallel", factory="plurieval_clasbench.data:ParallelCorpusDataset",
        config=ParallelCorpusConfig, version="0.1.0",
        description="CLaS-style set from a parallel corpus under PLURIEVAL_DATA_DIR: polyrefuse-harmless (500 x 13 "
                    "languages; Alpaca, CC BY-NC 4.0: non-commercial only) or mgsm (250 x 11, CC BY 4.0)",
        license="CC BY-NC 4.0 (polyrefuse-harmless) / CC BY 4.0 (mgsm)",
    ))


@hookimpl
def register_metrics(register):
    register(MetricSpec(
        name="language_control", factory="plurieval_clasbench.metrics:LanguageControl", config=LanguageControlConfig,
        version="0.2.0", description="F = 100 * share of outputs whose detected language (language_identifier "
        "resource) equals the reference language and that are not degenerate text; per example 1/0",
    ))
    register(MetricSpec(
        name="relevance", factory="plurieval_clasbench.metrics:Relevance", config=RelevanceConfig, version="0.2.0",
        description="J = 100 * mean(0/1/2)/2 judged ignoring language; degenerate text -> 0; mode=judge: LLM judge "
                    "(any HF model); mode=embedding (default): cosine(output without an echo of the question, "
                    "question) proxy, <low -> 0, <high -> 1, else 2 (validated: docs/judges.md)",
    ))
    register(MetricSpec(
        name="steering_score", factory="plurieval_clasbench.metrics:SteeringScore", config=SteeringScoreConfig,
        version="0.1.0", description="Harmonic mean 2FJ/(F+J) of language control and relevance; per example "
                                     "{'f': 0|1, 'j': 0|1|2} so it is recomputable",
        citation=CITATION,
    ))


@hookimpl
def register_resources(register):
    register(ResourceSpec(
        name="hf-judge", provides="judge", factory="plurieval_clasbench.metrics:HFJudge", config=HFJudgeConfig,
        version="0.1.0", description="Any HF chat model as judge (greedy short replies), for CLaS-Bench relevance",
    ))


@hookimpl
def register_benchmarks(register):
    register(BenchmarkSpec(
        name="clasbench", factory="plurieval_clasbench.benchmark:ClasBench", config=ClasBenchConfig,
        version="0.1.0", spec_version="1", method_kinds=("steering",), default_method="diffmean",
        metrics=("language_control", "relevance", "steering_score", "degenerate_rate"),
        description=BENCHMARK_DESCRIPTION, citation=CITATION, license="Apache-2.0 (sample data)",
        languages=("ar", "de", "en", "es", "fr", "hi", "it", "ja", "ru", "zh"),
    ))


@hookimpl
def register_commands(cli):
    from .commands import register

    register(cli)
