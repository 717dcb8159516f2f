"""Hook implementations of the MAKIEval plugin (kept import-light: no torch at module level)."""

from plurieval.api import BenchmarkSpec, DatasetSpec, MetricSpec, ResourceSpec, hookimpl

from .config import (
    ConsensusConfig,
    CultureKBConfig,
    DiversityConfig,
    DiversityNormalizedConfig,
    GranularityConfig,
    MakievalConfig,
    PromptsConfig,
    SpecificityConfig,
    WikidataConfig,
)

CITATION = ("Zhao, Chen, Plank & Hedderich (2025), MAKIEval: A Multilingual Automatic WiKidata-based Framework for "
            "Cultural Awareness Evaluation for LLMs, Findings of EMNLP 2025")
KB_LICENSE = "WorldCuisines Apache-2.0; holidays MIT; CLDR names Unicode-3.0; Wikidata QIDs CC0; MAKIEval names MIT"
LANGUAGES = ("en", "de", "fr", "es", "it", "ru", "ja", "zh", "zh-tw", "ko", "ar", "fa", "tr", "hi", "th", "yo", "ha")
_M = "plurieval_makieval.metrics:"


@hookimpl
def register_datasets(register):
    register(DatasetSpec(
        name="makieval-prompts", factory="plurieval_makieval.data:MakievalPrompts", config=PromptsConfig,
        version="0.1.0", license="Apache-2.0 (templates); countries.jsonl: CC0 / Unicode-3.0 / MIT",
        description="Open-ended (topic x country x language) prompts from templates in 17 languages (English "
                    "originals; the others unverified translations) with MAKIEval's country names",
        citation=CITATION, languages=LANGUAGES,
    ))


@hookimpl
def register_resources(register):
    register(ResourceSpec(
        name="culture-kb", provides="knowledge_base", default=True, factory="plurieval_makieval.kb:CultureKB",
        config=CultureKBConfig, version="0.1.0", license=KB_LICENSE,
        description="Offline gazetteer from culture-kb (WorldCuisines dishes, `holidays` public holidays, "
                    "countries.jsonl) keyed by the KB's own stable ids; a self-written sample ships with the plugin",
    ))
    register(ResourceSpec(
        name="wikidata", provides="knowledge_base", factory="plurieval_makieval.wikidata:WikidataKB",
        config=WikidataConfig, version="0.1.0", license="Wikidata CC0",
        description="Online Wikidata backend: wbsearchentities + SPARQL domain check (P31/P279*) + origin (P495, "
                    "else P17), every response cached on disk",
    ))


@hookimpl
def register_metrics(register):
    common = {"version": "0.1.0", "citation": CITATION}
    register(MetricSpec(
        name="granularity", factory=_M + "Granularity", config=GranularityConfig, **common,
        description="Share of typed mentions that are specific entities (1) rather than categories (0); per answer "
                    "{'specific', 'category'} counts, pooled",
    ))
    register(MetricSpec(
        name="entity_diversity", factory=_M + "EntityDiversity", config=DiversityConfig, **common,
        description="Distinct entity ids per (language, country, topic) group, mean over groups (grows with the "
                    "number of answers)",
    ))
    register(MetricSpec(
        name="entity_diversity_normalized", factory=_M + "EntityDiversityNormalized",
        config=DiversityNormalizedConfig, **common,
        description="Expected distinct entity ids in k answers of a group (rarefaction, k=2), mean over groups",
    ))
    register(MetricSpec(
        name="cultural_specificity", factory=_M + "CulturalSpecificity", config=SpecificityConfig, **common,
        description="Share of entity mentions with a known origin whose origin is the target country or an "
                    "equivalent (UK nations); unknown origins excluded",
    ))
    register(MetricSpec(
        name="cross_lingual_consensus", factory=_M + "CrossLingualConsensus", config=ConsensusConfig, **common,
        description="Mean pairwise Jaccard of the prompt languages' entity-id sets for the same country and topic",
    ))


@hookimpl
def register_benchmarks(register):
    register(BenchmarkSpec(
        name="makieval", factory="plurieval_makieval.benchmark:Makieval", config=MakievalConfig, version="0.1.0",
        spec_version="1", method_kinds=("steering",), citation=CITATION, license=KB_LICENSE, languages=LANGUAGES,
        metrics=("granularity", "entity_diversity", "entity_diversity_normalized", "cultural_specificity",
                 "cross_lingual_consensus"),
        description="MAKIEval-style cultural awareness of open-ended answers (spec 1): generate per (language, "
                    "country, topic), optionally under a steering method, link entities to a knowledge base, score "
                    "granularity, diversity, cultural specificity and cross-lingual consensus with bootstrap CIs",
    ))


@hookimpl
def register_commands(cli):
    from .commands import register

    register(cli)
