"""MAKIEval's four metrics, as pure functions of the recorded links.

A prediction is what the benchmark records per answer: ``{"text", "links", ...}``; a reference
is ``{"language", "country", "topic", "country_qid", "equivalents", "optional_equivalents"}``.
Every per-example value is a small dict computed from those two alone, and every aggregate is a
function of the per-example values alone, so ``plurieval score`` and the leaderboard recompute
each number from ``results.jsonl`` (with ``relink: true`` they re-link the recorded text first).

Definitions (Zhao et al. 2025, MAKIEval, §4; the exclusion rules are ours and configurable):

- **granularity** = Σ specific / Σ (specific + category) over the typed mentions of all answers
  in the group: a mention linked to an entity counts 1, one linked to a category 0. Mentions
  that are neither are never recorded. No typed mention → undefined (NaN).
- **entity_diversity** = the number of distinct entity ids in the answers of a (language,
  country, topic) group; the mean over groups when several are pooled. Categories excluded
  (``include_categories``). It grows with the number of answers, hence:
- **entity_diversity_normalized** = the expected number of distinct entity ids in k answers
  drawn without replacement from the group (rarefaction; k = 2 by default):
  E[S_k] = Σ_e [1 − C(N − N_e, k) / C(N, k)], N answers, N_e of them mention entity e.
  Groups with fewer than k answers are excluded; mean over groups.
- **cultural_specificity** = Σ matching / Σ eligible mentions, where eligible = linked to an
  entity whose origin is known, and matching = an origin is the target country or one of its
  equivalents from countries.jsonl (the UK counts England, Scotland, Wales and Northern
  Ireland). Unknown origin (a "Global" dish, a holiday observed in several countries) is
  excluded, never counted as a miss. No eligible mention → NaN.
- **cross_lingual_consensus** = the mean pairwise Jaccard |A ∩ B| / |A ∪ B| of the entity-id
  sets of two prompt languages for the same country and topic (A = ids in all language-a
  answers), over all language pairs of all (country, topic) groups. A pair whose two sets are
  both empty is excluded (``empty_pair``); one language alone → NaN.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from itertools import combinations
from typing import Any

from plurieval.api import Metric, PluriError

from .config import (
    ConsensusConfig,
    DiversityConfig,
    DiversityNormalizedConfig,
    GranularityConfig,
    LinkedMetricConfig,
    SpecificityConfig,
)

NAN = float("nan")


# --- pure functions on links ----------------------------------------------------------------------

def entity_links(links: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [x for x in links if x.get("kind") == "entity" and x.get("id")]


def granularity_counts(links: Sequence[dict[str, Any]], count: str = "mentions") -> dict[str, int]:
    typed = [x for x in links if x.get("kind") in ("entity", "category") and x.get("id")]
    if count == "distinct":
        typed = list({x["id"]: x for x in typed}.values())
    specific = sum(1 for x in typed if x["kind"] == "entity")
    return {"specific": specific, "category": len(typed) - specific}


def granularity_aggregate(values: Sequence[dict[str, int] | None]) -> float:
    vals = [v for v in values if v]
    total = sum(v["specific"] + v["category"] for v in vals)
    return sum(v["specific"] for v in vals) / total if total else NAN


def link_origin(link: dict[str, Any], holiday_origin: str = "unique") -> list[str] | None:
    """The origin countries a metric may use for one entity link, or ``None`` when unknown."""
    if link.get("origin_source") == "holidays:observed_in":
        observed = link.get("observed")
        if observed is None:  # more observing countries than the link lists: no single origin
            return None
        if holiday_origin == "unique":
            return list(observed) if len(observed) == 1 else None
        return list(observed) or None
    origin = link.get("origin") or []
    return list(origin) or None


def specificity_counts(links: Sequence[dict[str, Any]], reference: dict[str, Any], cfg: SpecificityConfig) -> dict[str, int]:
    target = set(reference.get("equivalents") or [reference.get("country_qid")])
    if cfg.optional_equivalents:
        target |= set(reference.get("optional_equivalents") or [])
    ents = entity_links(links)
    if cfg.count == "distinct":
        ents = list({x["id"]: x for x in ents}.values())
    match = eligible = 0
    for link in ents:
        origin = link_origin(link, cfg.holiday_origin)
        if origin is None or (cfg.multi_origin == "exclude" and len(origin) > 1):
            continue
        eligible += 1
        match += bool(target & set(origin))
    return {"match": match, "eligible": eligible}


def specificity_aggregate(values: Sequence[dict[str, int] | None]) -> float:
    vals = [v for v in values if v]
    eligible = sum(v["eligible"] for v in vals)
    return sum(v["match"] for v in vals) / eligible if eligible else NAN


def answer_ids(links: Sequence[dict[str, Any]], include_categories: bool = False) -> list[str]:
    kinds = ("entity", "category") if include_categories else ("entity",)
    return sorted({x["id"] for x in links if x.get("kind") in kinds and x.get("id")})


def group_key(reference: dict[str, Any]) -> str:
    return f"{reference.get('language')}|{reference.get('country')}|{reference.get('topic')}"


def _groups(values: Sequence[dict[str, Any] | None]) -> dict[str, list[list[str]]]:
    groups: dict[str, list[list[str]]] = {}
    for v in values:
        if v:
            groups.setdefault(v["group"], []).append(list(v["ids"]))
    return groups


def diversity_aggregate(values: Sequence[dict[str, Any] | None]) -> float:
    groups = _groups(values)
    if not groups:
        return NAN
    return sum(len(set().union(*answers)) for answers in groups.values()) / len(groups)


def rarefied_richness(answers: Sequence[Sequence[str]], k: int) -> float:
    """Expected number of distinct ids among ``k`` of the answers drawn without replacement
    (NaN when there are fewer than ``k`` answers)."""
    n = len(answers)
    if n < k:
        return NAN
    incidence: dict[str, int] = {}
    for ids in answers:
        for e in set(ids):
            incidence[e] = incidence.get(e, 0) + 1
    total = math.comb(n, k)
    return sum(1 - math.comb(n - n_e, k) / total for n_e in incidence.values())


def diversity_normalized_aggregate(values: Sequence[dict[str, Any] | None], k: int) -> float:
    per_group = [rarefied_richness(answers, k) for answers in _groups(values).values()]
    finite = [v for v in per_group if not math.isnan(v)]
    return sum(finite) / len(finite) if finite else NAN


def jaccard(a: set[str], b: set[str], empty_pair: str = "exclude") -> float:
    union = a | b
    if not union:
        return {"exclude": NAN, "zero": 0.0, "one": 1.0}[empty_pair]
    return len(a & b) / len(union)


def consensus_pairs(values: Sequence[dict[str, Any] | None], empty_pair: str = "exclude"
                    ) -> dict[tuple[str, str], dict[tuple[str, str], float]]:
    """``{(country, topic): {(language_a, language_b): jaccard}}`` (a < b; NaN = excluded)."""
    sets: dict[tuple[str, str], dict[str, set[str]]] = {}
    for v in values:
        if v:
            by_lang = sets.setdefault((v["country"], v["topic"]), {})
            by_lang.setdefault(v["language"], set()).update(v["ids"])
    return {ct: {(a, b): jaccard(langs[a], langs[b], empty_pair) for a, b in combinations(sorted(langs), 2)}
            for ct, langs in sets.items()}


def consensus_aggregate(values: Sequence[dict[str, Any] | None], empty_pair: str = "exclude") -> float:
    scores = [s for pairs in consensus_pairs(values, empty_pair).values() for s in pairs.values() if not math.isnan(s)]
    return sum(scores) / len(scores) if scores else NAN


def consensus_with(values: Sequence[dict[str, Any] | None], language: str, empty_pair: str = "exclude") -> float:
    """Mean Jaccard of ``language`` with every other prompt language (the per-language cell of
    the heatmap): the pairs of ``consensus_pairs`` that involve ``language``."""
    scores = [s for pairs in consensus_pairs(values, empty_pair).values() for (a, b), s in pairs.items()
              if language in (a, b) and not math.isnan(s)]
    return sum(scores) / len(scores) if scores else NAN


def consensus_matrix(values: Sequence[dict[str, Any] | None], languages: Sequence[str] | None = None,
                     empty_pair: str = "exclude") -> dict[str, Any]:
    """Language × language mean Jaccard over the (country, topic) groups (diagonal 1, NaN where
    no pair was defined): the matrix the benchmark draws."""
    pairs = consensus_pairs(values, empty_pair)
    langs = list(languages or sorted({v["language"] for v in values if v}))
    sums: dict[tuple[str, str], list[float]] = {}
    for by_pair in pairs.values():
        for (a, b), s in by_pair.items():
            if not math.isnan(s):
                sums.setdefault((a, b), []).append(s)
                sums.setdefault((b, a), []).append(s)
    matrix = [[1.0 if a == b else (sum(sums[(a, b)]) / len(sums[(a, b)]) if (a, b) in sums else NAN)
               for b in langs] for a in langs]
    return {"languages": langs, "matrix": matrix}


# --- metric components -------------------------------------------------------------------------

class LinkedMetric(Metric):
    """Base: reads (or, with ``relink``, recomputes) the links of each prediction."""

    config: LinkedMetricConfig

    def links(self, predictions: Sequence[Any], references: Sequence[Any], context: Any) -> list[list[dict[str, Any]]]:
        if not self.config.relink:
            return [_recorded_links(p) for p in predictions]
        return relink(predictions, references, self.config, context)


def _recorded_links(prediction: Any) -> list[dict[str, Any]]:
    if not isinstance(prediction, dict) or not isinstance(prediction.get("links"), list):
        raise PluriError("a MAKIEval prediction must be an object with a 'links' list (as `plurieval run makieval` "
                         f"records it); got {type(prediction).__name__}")
    return prediction["links"]


def relink(predictions: Sequence[Any], references: Sequence[Any], cfg: LinkedMetricConfig, context: Any
           ) -> list[list[dict[str, Any]]]:
    """Links recomputed from each prediction's recorded text (or recorded extraction reply)
    with the configured knowledge base; refuses a prediction linked against another knowledge
    base version or other linker settings, naming both."""
    from .linking import Linker, parse_extraction, target_qids

    resources = getattr(context, "resources", None)
    if resources is None:
        raise PluriError("relink needs the knowledge_base resource (run inside plurieval)")
    kb = resources.get("knowledge_base", cfg.knowledge_base, cfg.knowledge_base_params)
    linker = Linker(kb, cfg.linker)
    want_kb = kb.describe().get("content_hash")
    want_linker = cfg.linker.model_dump(mode="json")
    out = []
    for pred, ref in zip(predictions, references, strict=True):
        if not isinstance(pred, dict) or not isinstance(pred.get("text"), str):
            raise PluriError("relink needs each prediction's recorded 'text'")
        linking = pred.get("linking") or {}
        if linking.get("kb_hash") not in (None, want_kb):
            raise PluriError(f"the answers were linked against knowledge base {linking.get('kb_hash')}, but this "
                             f"machine's is {want_kb} ({kb.describe().get('name')}); point PLURIEVAL_DATA_DIR at the "
                             f"culture-kb the run used")
        if linking.get("linker") not in (None, want_linker):
            raise PluriError("the answers were linked with other linker settings than this metric's "
                             f"(recorded {linking.get('linker')}, metric {want_linker})")
        target = target_qids(ref)
        extraction = pred.get("extraction")
        reply = extraction.get("reply") if isinstance(extraction, dict) else None
        prompt = pred.get("prompt") if isinstance(pred.get("prompt"), str) else None
        key = json.dumps([want_kb, want_linker, pred["text"], reply, prompt, ref["language"], ref["topic"], target],
                         ensure_ascii=False, sort_keys=True)
        if key not in _RELINKED:
            if isinstance(reply, str):
                links = linker.link_phrases(parse_extraction(reply), pred["text"], language=ref["language"],
                                            topic=ref["topic"], target=target, prompt=prompt)
            else:
                links = linker.link(pred["text"], language=ref["language"], topic=ref["topic"], target=target,
                                    prompt=prompt)
            if len(_RELINKED) > 100_000:
                _RELINKED.clear()
            _RELINKED[key] = json.dumps(links, ensure_ascii=False)
        out.append(json.loads(_RELINKED[key]))
    return out


# Relinked answers by (knowledge base, linker settings, text, ...): the five metrics of a board
# re-link the same rows, and linking is the expensive part. Stored as JSON so no caller can
# change another's copy.
_RELINKED: dict[str, str] = {}


class Granularity(LinkedMetric):
    config: GranularityConfig

    def score_examples(self, predictions, references, context=None):
        return [granularity_counts(links, self.config.count) for links in self.links(predictions, references, context)]

    def aggregate(self, per_example):
        return granularity_aggregate(per_example)


class CulturalSpecificity(LinkedMetric):
    config: SpecificityConfig

    def score_examples(self, predictions, references, context=None):
        return [specificity_counts(links, ref, self.config)
                for links, ref in zip(self.links(predictions, references, context), references, strict=True)]

    def aggregate(self, per_example):
        return specificity_aggregate(per_example)


class EntityDiversity(LinkedMetric):
    config: DiversityConfig

    def score_examples(self, predictions, references, context=None):
        return [{"group": group_key(ref), "ids": answer_ids(links, self.config.include_categories)}
                for links, ref in zip(self.links(predictions, references, context), references, strict=True)]

    def aggregate(self, per_example):
        return diversity_aggregate(per_example)


class EntityDiversityNormalized(EntityDiversity):
    config: DiversityNormalizedConfig

    def aggregate(self, per_example):
        return diversity_normalized_aggregate(per_example, self.config.k)


class CrossLingualConsensus(LinkedMetric):
    config: ConsensusConfig

    def score_examples(self, predictions, references, context=None):
        return [{"language": ref["language"], "country": ref["country"], "topic": ref["topic"],
                 "ids": answer_ids(links, self.config.include_categories)}
                for links, ref in zip(self.links(predictions, references, context), references, strict=True)]

    def aggregate(self, per_example):
        return consensus_aggregate(per_example, self.config.empty_pair)


METRICS = {"granularity": Granularity, "entity_diversity": EntityDiversity,
           "entity_diversity_normalized": EntityDiversityNormalized, "cultural_specificity": CulturalSpecificity,
           "cross_lingual_consensus": CrossLingualConsensus}
