"""Configs of the MAKIEval plugin (torch-free: ``plugin.py`` imports this module)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from plurieval.api import CommaList

from .text import DEFAULT_FOLD_LANGUAGES, DEFAULT_SUFFIXING_LANGUAGES

TOPICS = ("food", "festivals", "clothing", "music", "books", "sports")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- knowledge bases -----------------------------------------------------------------------------

class CultureKBConfig(_Strict):
    data_dir: str | None = Field(None, description="culture-kb folder or the shared data root holding culture-kb/ "
                                                     "(default: $PLURIEVAL_DATA_DIR, else the plugin's small sample)")


# Wikidata classes an entity of a topic must be (an instance of a subclass of, or a subclass of).
# food/clothing/music/books: the classes of MAKIEval's domain checks (ErenAta16/MAKIEval
# code/analysis_*.py, listed in culture-kb/domain_classes.json); festivals and sports: common
# Wikidata classes (festival, public holiday, holiday; sport, type of sport). Wikidata facts (CC0).
DEFAULT_TOPIC_CLASSES: dict[str, list[str]] = {
    "food": ["Q2095", "Q1778821", "Q746549", "Q10675206"],
    "festivals": ["Q132241", "Q1197685", "Q1445650"],
    "clothing": ["Q11460"],
    "music": ["Q7366", "Q2188189", "Q105543609", "Q188451"],
    "books": ["Q571", "Q7725634", "Q47461344", "Q8261", "Q223393"],
    "sports": ["Q349", "Q31629"],
}


class WikidataConfig(_Strict):
    """The online backend: ``wbsearchentities`` to find candidate items for a phrase, SPARQL for
    the domain check and the origin country. Every response is cached on disk by its URL, so a
    repeated run (or one with ``offline=true``) needs no network."""

    api_url: str = Field("https://www.wikidata.org/w/api.php", description="MediaWiki Action API endpoint")
    sparql_url: str = Field("https://query.wikidata.org/sparql", description="Wikidata Query Service endpoint")
    user_agent: str = Field("plurieval-makieval/0.1 (https://github.com/plurieval/plurieval)",
                            description="sent with every request (Wikimedia's User-Agent policy requires one)")
    cache_dir: str | None = Field(None, description="response cache folder (default: $PLURIEVAL_CACHE_DIR/wikidata)")
    offline: bool = Field(False, description="answer from the cache only; a request that is not cached is an error")
    timeout: float = Field(30.0, gt=0)
    retries: int = Field(3, ge=0, description="retries on HTTP 429/5xx, honouring Retry-After")
    search_limit: int = Field(5, ge=1, le=50, description="candidates per phrase from wbsearchentities")
    domain_path: Literal["P31/P279*", "P31|P279*"] = Field(
        "P31/P279*", description="'P31/P279*': an instance of (a subclass of) a topic class, or a subclass of one; "
                                 "'P31|P279*': MAKIEval's check (one P31 hop, or any P279 chain)")
    topic_classes: dict[str, list[str]] = Field(default_factory=lambda: {k: list(v) for k, v in DEFAULT_TOPIC_CLASSES.items()})
    origin_properties: list[str] = Field(default_factory=lambda: ["P495", "P17"],
                                         description="origin = values of the first property that has any")


# --- linking ---------------------------------------------------------------------------------------

class LinkerConfig(_Strict):
    """How generated text is matched against the knowledge base (see docs/makieval.md)."""

    label_languages: Literal["prompt", "prompt+en", "all"] = Field(
        "prompt+en", description="names searched for: the prompt language's, plus English (small models fall back "
                                 "to English and write dish names in Latin script), or every language")
    fold_case: bool = True
    fold_diacritics: CommaList = Field(default_factory=lambda: list(DEFAULT_FOLD_LANGUAGES),
                                       description="languages whose Latin diacritics are folded (creme = crème)")
    suffixing: CommaList = Field(default_factory=lambda: list(DEFAULT_SUFFIXING_LANGUAGES),
                                 description="languages where a name may carry a suffix (Turkish case endings, Korean "
                                             "particles): only the left word boundary is required")
    min_chars: int = Field(3, ge=1, description="shortest name matched in scripts written with spaces")
    min_chars_unspaced: int = Field(2, ge=1, description="shortest name matched in Han, Kana, Thai, Hangul")
    categories: bool = Field(True, description="recognise category words (noodle soup, flatbread) as categories")
    prefer_target_origin: bool = Field(
        True, description="when one name fits several dishes, prefer one from the prompt's country (then: a name in "
                          "the text's own language, the record's own name over an alias, the lowest id)")
    max_observed: int = Field(20, ge=0, description="holiday links list observing countries only up to this many "
                                                    "(the count is always recorded)")
    exclude_prompt_terms: bool = Field(
        True, description="drop links to what the prompt itself names (\"holidays and festivals\" asked → the answer "
                          "repeating those words is not counted): small models echo the question")


class ExtractionConfig(_Strict):
    """Optional LLM step before linking (MAKIEval's pipeline): a model lists the culture-related
    names in each answer, one per line; the linker then links those phrases. The query and the
    raw reply are recorded per example, so the links are recomputable without the model."""

    mode: Literal["none", "model", "judge"] = Field(
        "none", description="none: link the answer text; model: the model under evaluation extracts (unsteered); "
                            "judge: an HF model from the 'judge' resource extracts")
    judge: str | None = Field(None, description="judge resource name (default: hf-judge)")
    judge_model: str | None = Field(None, description="HF hub id or local folder of the judge model (mode=judge)")
    max_new_tokens: int = Field(64, ge=1)


# --- metrics ---------------------------------------------------------------------------------------

class LinkedMetricConfig(_Strict):
    """Fields every MAKIEval metric shares. ``relink``: recompute the links from the recorded
    answer (or the recorded extraction reply) with the knowledge base instead of trusting the
    recorded ones: leaderboards do, so an edited link cannot change a score."""

    relink: bool = False
    knowledge_base: str | None = Field(None, description="knowledge_base resource for relink (default: culture-kb)")
    knowledge_base_params: dict[str, Any] = Field(default_factory=dict)
    linker: LinkerConfig = Field(default_factory=LinkerConfig)


class GranularityConfig(LinkedMetricConfig):
    count: Literal["mentions", "distinct"] = Field(
        "mentions", description="mentions: every typed mention counts; distinct: each entity/category once per answer")


class DiversityConfig(LinkedMetricConfig):
    include_categories: bool = Field(False, description="count category ids as well as entity ids")


class DiversityNormalizedConfig(DiversityConfig):
    k: int = Field(2, ge=1, description="rarefy every (language, country, topic) group to k answers; groups with "
                                        "fewer answers are excluded")


class SpecificityConfig(LinkedMetricConfig):
    count: Literal["mentions", "distinct"] = "mentions"
    optional_equivalents: bool = Field(False, description="also count optional equivalents (China: Hong Kong, Macau)")
    multi_origin: Literal["any", "exclude"] = Field(
        "any", description="an entity with several origin countries matches if any is the target; 'exclude' leaves it "
                           "out of the denominator")
    holiday_origin: Literal["unique", "observed"] = Field(
        "unique", description="unique: a holiday has an origin only when exactly one country observes it (then that "
                              "country); observed: every observing country counts as an origin")


class ConsensusConfig(LinkedMetricConfig):
    include_categories: bool = False
    empty_pair: Literal["exclude", "zero", "one"] = Field(
        "exclude", description="a language pair where both answer sets have no entity: excluded (default), 0 or 1")


# --- data and benchmark ----------------------------------------------------------------------------

class PromptsConfig(_Strict):
    id: str = "makieval-prompts"
    languages: CommaList = Field(default_factory=lambda: ["en", "de", "ja"], description="prompt languages")
    countries: CommaList = Field(default_factory=lambda: ["JP", "DE", "NG"],
                                 description="ISO 3166-1 alpha-2 codes (GB-SCT etc. for the UK nations)")
    topics: CommaList = Field(default_factory=lambda: ["food"], description=f"any of {', '.join(TOPICS)}")
    templates: str | None = Field(None, description="JSON file {topic: {language: [template, ...]}} (default: the "
                                                    "plugin's own, unverified translations)")
    samples: int = Field(1, ge=1, description="answers per prompt (with sampling; 1 = greedy)")
    data_dir: str | None = Field(None, description="culture-kb folder (countries.jsonl); default as the knowledge base")
    revision: str | None = None


class SteeringConfig(_Strict):
    """How a steering method is fitted for this benchmark: a contrast of target-language vs
    source-language questions from a parallel set (default: the CLaS-Bench sample)."""

    target: str | None = Field(None, description="language to steer towards (default: the method's target_language)")
    sources: CommaList | None = Field(None, description="languages to steer away from (default: en, or the method's "
                                                        "source_languages)")
    dataset: str = Field("clasbench-sample", description="registered parallel-question dataset for the contrast")
    dataset_params: dict[str, Any] = Field(default_factory=dict)
    split: str = Field("train", description="split of the parallel set the contrast is built from")


class MakievalConfig(_Strict):
    """The benchmark's knobs; the defaults are the benchmark as specified (spec 1)."""

    languages: CommaList = Field(default_factory=lambda: ["en", "de", "ja"],
                                 description="prompt languages (templates exist for 17; see docs/makieval.md)")
    countries: CommaList = Field(default_factory=lambda: ["JP", "DE", "NG"],
                                 description="ISO 3166-1 alpha-2 codes from culture-kb/countries.jsonl (GB-SCT for Scotland)")
    topics: CommaList = Field(default_factory=lambda: ["food"],
                              description="food, festivals (offline KB); clothing, music, books, sports (wikidata)")
    templates: str | None = Field(None, description="JSON file of your own templates {topic: {language: [...]}}")
    samples: int = Field(1, ge=1, description="answers per prompt; above 1 the answers are sampled")
    temperature: float = Field(0.7, gt=0, description="sampling temperature when samples > 1")
    max_new_tokens: int = Field(96, ge=1, description="answer length")
    knowledge_base: str | None = Field(None, description="knowledge_base resource (default: culture-kb; 'wikidata' "
                                                         "for clothing, music, books, sports)")
    knowledge_base_params: dict[str, Any] = Field(default_factory=dict,
                                                  description="its config, e.g. data_dir=/path/to/culture-kb")
    linker: LinkerConfig = Field(default_factory=LinkerConfig, description="matching rules (linker.label_languages, ...)")
    extraction: ExtractionConfig = Field(default_factory=ExtractionConfig,
                                         description="optional LLM extraction before linking (extraction.mode=model)")
    steering: SteeringConfig = Field(default_factory=SteeringConfig,
                                     description="with --method: steering.target=de, steering.sources=en, steering.dataset")
    plots: bool = Field(True, description="write the heatmaps and the consensus matrix")
