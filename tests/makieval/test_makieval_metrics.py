"""The four MAKIEval metrics on worked examples derived by hand from their definitions
(plurieval_makieval/metrics.py docstring; Zhao et al. 2025, §4), plus the edge cases."""

from __future__ import annotations

import json
import math

import pytest

from plurieval_makieval.config import (
    ConsensusConfig,
    DiversityConfig,
    DiversityNormalizedConfig,
    GranularityConfig,
    SpecificityConfig,
)
from plurieval_makieval.kb import SAMPLE_DIR
from plurieval_makieval.metrics import (
    CrossLingualConsensus,
    CulturalSpecificity,
    EntityDiversity,
    EntityDiversityNormalized,
    Granularity,
    consensus_aggregate,
    consensus_matrix,
    consensus_with,
    rarefied_richness,
)


def E(eid: str, *origin: str) -> dict:
    return {"kind": "entity", "id": eid, "origin": list(origin), "origin_source": "worldcuisines"}


def C(eid: str) -> dict:
    return {"kind": "category", "id": eid}


def H(eid: str, *observed: str) -> dict:
    return {"kind": "entity", "id": eid, "origin": [], "origin_source": "holidays:observed_in",
            "observed": list(observed), "observed_count": len(observed)}


def ref(language="en", country="JP", qid="Q17", topic="food", equivalents=None, optional=()):
    return {"language": language, "country": country, "country_qid": qid, "topic": topic,
            "equivalents": list(equivalents or [qid]), "optional_equivalents": list(optional)}


def pred(*links: dict) -> dict:
    return {"text": "", "links": list(links)}


UK = {"country": "GB", "qid": "Q145", "equivalents": ["Q145", "Q21", "Q22", "Q25", "Q26"]}


def score(metric, preds, refs):
    values = metric.score_examples(preds, refs)
    return values, metric.aggregate(values)


# --- granularity -----------------------------------------------------------------------------

def test_granularity_worked_example():
    # a1: two entities + one category → specific 2, category 1; a2: the category "rice" twice →
    # 0, 2; a3: nothing → 0, 0. Pooled: 2 / (2 + 1 + 2) = 0.4.
    preds = [pred(E("sushi"), E("ramen"), C("category:noodle soup")), pred(C("category:rice"), C("category:rice")), pred()]
    refs = [ref()] * 3
    values, value = score(Granularity(GranularityConfig()), preds, refs)
    assert values == [{"specific": 2, "category": 1}, {"specific": 0, "category": 2}, {"specific": 0, "category": 0}]
    assert value == pytest.approx(0.4)
    # count=distinct: a2 counts "rice" once → 2 / (3 + 1) = 0.5
    assert score(Granularity(GranularityConfig(count="distinct")), preds, refs)[1] == pytest.approx(0.5)


def test_granularity_without_typed_mentions_is_undefined():
    values, value = score(Granularity(GranularityConfig()), [pred(), pred()], [ref(), ref()])
    assert math.isnan(value)


# --- cultural specificity -------------------------------------------------------------------

def _uk_answers():
    a1 = pred(E("fish and chips", "Q21"), E("haggis", "Q22"), E("sushi", "Q17"), C("category:bread"))
    a2 = pred(E("global dish"), E("chicken tikka masala", "Q145", "Q668"),
              H("holidays:*:Christmas Day", "Q1033", "Q145", "Q183", "Q30"), H("holidays:*:Boxing Day", "Q145"))
    return [a1, a2], [ref(country="GB", qid="Q145", equivalents=UK["equivalents"])] * 2


def test_specificity_worked_example_with_uk_nations():
    # a1: fish and chips (England ∈ UK equivalents) ✓, haggis (Scotland) ✓, sushi (Japan) ✗,
    #     bread is a category (never eligible) → match 2 / eligible 3.
    # a2: the "global" dish has no origin → excluded; chicken tikka masala [UK, India] matches
    #     (any origin) ✓; Christmas Day is observed in 4 countries → no single origin → excluded;
    #     Boxing Day observed only in the UK → ✓. → 2 / 2. Pooled: 4 / 5 = 0.8.
    preds, refs = _uk_answers()
    values, value = score(CulturalSpecificity(SpecificityConfig()), preds, refs)
    assert values == [{"match": 2, "eligible": 3}, {"match": 2, "eligible": 2}]
    assert value == pytest.approx(0.8)


@pytest.mark.parametrize(("params", "expected"), [
    ({"multi_origin": "exclude"}, 3 / 4),        # chicken tikka masala leaves the denominator: (2+1)/(3+1)
    ({"holiday_origin": "observed"}, 5 / 6),     # Christmas Day counts, observed in the UK: (2+3)/(3+3)
    ({"count": "distinct"}, 0.8),                # no repeated ids here: same as mentions
])
def test_specificity_rules_are_configurable(params, expected):
    preds, refs = _uk_answers()
    assert score(CulturalSpecificity(SpecificityConfig(**params)), preds, refs)[1] == pytest.approx(expected)


def test_specificity_equivalences_come_from_the_reference():
    preds, _ = _uk_answers()
    strict = [ref(country="GB", qid="Q145", equivalents=["Q145"])] * 2
    # without the nations, fish and chips and haggis no longer match: a1 0/3, a2 2/2 → 2/5
    assert score(CulturalSpecificity(SpecificityConfig()), preds, strict)[1] == pytest.approx(0.4)
    china = [ref(country="CN", qid="Q148", optional=["Q8646", "Q14773"])]
    dim_sum = [pred(E("dim sum", "Q8646"))]  # from Hong Kong
    assert score(CulturalSpecificity(SpecificityConfig()), dim_sum, china)[1] == 0.0
    assert score(CulturalSpecificity(SpecificityConfig(optional_equivalents=True)), dim_sum, china)[1] == 1.0


def test_specificity_without_origins_is_undefined():
    values, value = score(CulturalSpecificity(SpecificityConfig()), [pred(E("global dish"), C("category:rice")), pred()],
                          [ref(), ref()])
    assert values == [{"match": 0, "eligible": 0}, {"match": 0, "eligible": 0}] and math.isnan(value)


# --- diversity ---------------------------------------------------------------------------------

def _diversity_answers():
    preds = [pred(E("A"), E("B"), C("category:noodle")), pred(E("B"), E("C")), pred(),  # en: ids {A,B}, {B,C}, {}
             pred(E("A")), pred(E("A"))]                                                  # de: {A}, {A}
    refs = [ref("en")] * 3 + [ref("de")] * 2
    return preds, refs


def test_diversity_worked_example():
    # en group: |{A,B} ∪ {B,C} ∪ {}| = 3; de group: |{A}| = 1 → mean over groups 2.0
    preds, refs = _diversity_answers()
    values, value = score(EntityDiversity(DiversityConfig()), preds, refs)
    assert values[0] == {"group": "en|JP|food", "ids": ["A", "B"]}
    assert value == pytest.approx(2.0)
    # with categories the en group also has category:noodle → (4 + 1) / 2
    assert score(EntityDiversity(DiversityConfig(include_categories=True)), preds, refs)[1] == pytest.approx(2.5)


def test_diversity_normalized_worked_example():
    # Rarefaction to k answers: E[S_k] = Σ_e 1 − C(N − N_e, k) / C(N, k).
    # en: N = 3, incidences A 1, B 2, C 1, C(3,2) = 3 → (1 − 1/3) + (1 − 0/3) + (1 − 1/3) = 7/3;
    # de: N = 2, A in both → 1 − C(0,2)/C(2,2) = 1. Mean (7/3 + 1) / 2 = 5/3.
    preds, refs = _diversity_answers()
    assert score(EntityDiversityNormalized(DiversityNormalizedConfig()), preds, refs)[1] == pytest.approx(5 / 3)
    # k = 3: en → 3 (every answer drawn: the raw count); de has only 2 answers → excluded → 3
    assert score(EntityDiversityNormalized(DiversityNormalizedConfig(k=3)), preds, refs)[1] == pytest.approx(3.0)
    # k = 1 is the mean number of distinct ids per answer: en (2 + 2 + 0)/3 = 4/3, de 1 → 7/6
    assert score(EntityDiversityNormalized(DiversityNormalizedConfig(k=1)), preds, refs)[1] == pytest.approx(7 / 6)
    assert rarefied_richness([["A"]], 2) != rarefied_richness([["A"]], 2)  # NaN: fewer answers than k


def test_normalized_diversity_does_not_grow_with_repeated_answers():
    # The raw count of a group that repeats the same two answers stays 2, and so does the
    # rarefied count: more answers that add nothing new do not raise either, but four distinct
    # answers raise the raw count to 4 while k=2 rarefaction stays at 2 (each answer has 1 id).
    same = [pred(E("A")), pred(E("B"))] * 4
    distinct = [pred(E(x)) for x in "ABCD"]
    refs = [ref()] * 8
    raw = EntityDiversity(DiversityConfig())
    rare = EntityDiversityNormalized(DiversityNormalizedConfig())
    assert score(raw, same, refs)[1] == 2 and score(raw, distinct, refs[:4])[1] == 4
    # same: N = 8, A and B in 4 each: 2 · (1 − C(4,2)/C(8,2)) = 2 · (1 − 6/28) = 11/7
    assert score(rare, same, refs)[1] == pytest.approx(11 / 7)
    assert score(rare, distinct, refs[:4])[1] == pytest.approx(2.0)  # 4 · (1 − C(3,2)/C(4,2)) = 4 · 1/2


# --- consensus -----------------------------------------------------------------------------------

def _consensus_values(metric, with_empty_group=True):
    rows = [  # (language, country, ids of one answer)
        ("en", "JP", ["A", "B"]), ("en", "JP", ["C"]), ("de", "JP", ["A"]), ("ja", "JP", []),
        ("en", "DE", ["X"]), ("de", "DE", ["X", "Y"]), ("ja", "DE", []),
    ]
    if with_empty_group:
        rows += [("en", "NG", []), ("de", "NG", [])]
    preds = [pred(*[E(i) for i in ids]) for _, _, ids in rows]
    refs = [ref(lang, country, "Q0") for lang, country, _ in rows]
    return metric.score_examples(preds, refs)


def test_consensus_worked_example():
    # JP: en {A,B,C}, de {A}, ja {} → J(de,en) = 1/3, J(de,ja) = 0/1 = 0, J(en,ja) = 0/3 = 0
    # DE: en {X}, de {X,Y}, ja {} → J(de,en) = 1/2, J(de,ja) = 0, J(en,ja) = 0
    # NG: en {}, de {} → both empty: excluded. Mean over the 6 defined pairs: (1/3 + 1/2) / 6 = 5/36.
    metric = CrossLingualConsensus(ConsensusConfig())
    values = _consensus_values(metric)
    assert values[0] == {"language": "en", "country": "JP", "topic": "food", "ids": ["A", "B"]}
    assert metric.aggregate(values) == pytest.approx(5 / 36)
    # matrix (mean over countries where the pair is defined): de-en (1/3 + 1/2)/2 = 5/12
    m = consensus_matrix(values)
    assert m["languages"] == ["de", "en", "ja"]
    assert m["matrix"][0] == pytest.approx([1.0, 5 / 12, 0.0]) and m["matrix"][1][0] == pytest.approx(5 / 12)
    # English against the others: JP 1/3, 0; DE 1/2, 0 → 5/24
    assert consensus_with(values, "en") == pytest.approx(5 / 24)


@pytest.mark.parametrize(("empty_pair", "expected"), [("exclude", 5 / 36), ("zero", 5 / 42), ("one", 11 / 42)])
def test_consensus_empty_sets_in_both_languages(empty_pair, expected):
    # NG's pair (de, en) has two empty sets: excluded, or counted as 0 or 1 → 7 pairs
    metric = CrossLingualConsensus(ConsensusConfig(empty_pair=empty_pair))
    assert metric.aggregate(_consensus_values(metric)) == pytest.approx(expected)


def test_consensus_needs_two_languages():
    metric = CrossLingualConsensus(ConsensusConfig())
    values = metric.score_examples([pred(E("A"))], [ref("en")])
    assert math.isnan(metric.aggregate(values))
    both_empty = metric.score_examples([pred(), pred()], [ref("en"), ref("de")])
    assert math.isnan(consensus_aggregate(both_empty)) and consensus_aggregate(both_empty, "one") == 1.0


# --- recomputable from a results file; relinking -----------------------------------------------

def test_score_recomputes_from_recorded_links(host, tmp_path):
    from plurieval.scoring import score_file

    preds, refs = _uk_answers()
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps({"prediction": p, "reference": r}) + "\n" for p, r in zip(preds, refs, strict=True)))
    out = score_file(host, "cultural_specificity", path, [])
    assert out["score"] == pytest.approx(0.8) and out["per_example"][1] == {"match": 2, "eligible": 2}
    assert score_file(host, "cultural_specificity", path, ["multi_origin=exclude"])["score"] == pytest.approx(0.75)


def test_relink_ignores_edited_links(host):
    from plurieval.scoring import compute

    # The recorded links claim three Japanese dishes; the text names one dish and one category.
    forged = {"text": "We ate sushi and rice.", "links": [E("x", "Q17"), E("y", "Q17"), E("z", "Q17")]}
    params = {"knowledge_base_params": {"data_dir": str(SAMPLE_DIR)}}
    assert compute(host, "granularity", [forged], [ref()])["score"] == 1.0
    again = compute(host, "granularity", [forged], [ref()], relink=True, **params)
    assert again["per_example"] == [{"specific": 1, "category": 1}] and again["score"] == 0.5


def test_relink_refuses_another_knowledge_base(host):
    from plurieval.errors import PluriError
    from plurieval.scoring import compute

    row = {"text": "sushi", "links": [], "linking": {"kb_hash": "sha256:" + "0" * 64}}
    with pytest.raises(PluriError, match="linked against knowledge base sha256:0000"):
        compute(host, "granularity", [row], [ref()], relink=True, knowledge_base_params={"data_dir": str(SAMPLE_DIR)})


def test_a_prediction_without_links_is_one_clear_error(host):
    from plurieval.errors import PluriError
    from plurieval.scoring import compute

    with pytest.raises(PluriError, match="must be an object with a 'links' list"):
        compute(host, "entity_diversity", ["just a string"], [ref()])
