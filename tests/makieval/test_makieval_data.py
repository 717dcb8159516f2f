"""The prompt set and the knowledge-base loader: country names per language, errors that name
the bad input, and the KB's own stable ids."""

from __future__ import annotations

import json

import pytest

from plurieval.errors import DataError, PluriError
from plurieval_makieval.config import CultureKBConfig, PromptsConfig
from plurieval_makieval.data import MakievalPrompts, contract_italian, limit_per_cell
from plurieval_makieval.kb import SAMPLE_DIR, CultureKB, english_plurals

SAMPLE = str(SAMPLE_DIR)


def prompts(**kw):
    return MakievalPrompts(PromptsConfig(data_dir=SAMPLE, **kw))


def test_prompts_per_language_country_topic_and_template():
    ds = prompts(languages=["en", "de", "it", "fr"], countries=["GB", "TR", "JP"], topics=["food", "festivals"])
    examples = ds.load()
    assert len(examples) == 4 * 3 * 2 * 3  # languages × countries × topics × 3 templates each
    by_id = {e.id: e for e in examples}
    assert by_id["food.GB.en.t0"].input == "Name some typical dishes from the United Kingdom."
    assert by_id["food.TR.de.t0"].input == "Nenne einige typische Gerichte aus der Türkei."  # our dative forms
    assert by_id["food.GB.de.t1"].input.startswith("Ich bin zu Besuch im Vereinigten Königreich.")
    assert by_id["food.JP.it.t0"].input == "Elenca alcuni piatti tipici del Giappone."        # di + il → del
    assert by_id["food.JP.fr.t0"].input == "Cite quelques plats typiques du pays suivant : Japon."
    ref = by_id["festivals.GB.en.t2"].target
    assert ref == {"language": "en", "topic": "festivals", "country": "GB", "country_qid": "Q145",
                   "equivalents": ["Q145", "Q21", "Q22", "Q25", "Q26"], "optional_equivalents": []}
    assert by_id["food.JP.en.t1"].metadata == {"language": "en", "country": "JP", "topic": "food", "template": 1,
                                                "sample": 0, "country_name": "Japan"}


def test_italian_contractions():
    assert contract_italian("piatti di il Giappone, di l'Italia, di gli Stati Uniti, di la Cina, di Taiwan") == \
        "piatti del Giappone, dell'Italia, degli Stati Uniti, della Cina, di Taiwan"


def test_limit_keeps_n_prompts_per_cell_every_template_before_a_second_sample():
    ds = prompts(languages=["en", "ja"], countries=["JP"], topics=["food"], samples=2)
    examples = limit_per_cell(ds.load(), 4)
    assert [e.id for e in examples] == ["food.JP.en.t0.s0", "food.JP.en.t1.s0", "food.JP.en.t2.s0", "food.JP.en.t0.s1",
                                        "food.JP.ja.t0.s0", "food.JP.ja.t1.s0", "food.JP.ja.t2.s0", "food.JP.ja.t0.s1"]


@pytest.mark.parametrize(("kw", "message"), [
    ({"countries": ["Japan"]}, r"country 'Japan' is not in .*did you mean JP\?"),
    ({"countries": ["XX"]}, r"give ISO 3166-1 alpha-2 codes"),
    ({"topics": ["fod"]}, r"unknown topic 'fod'; did you mean 'food'\?"),
    ({"languages": ["sw"]}, r"no food templates for language\(s\) sw; templates exist for ar, de, en"),
])
def test_bad_prompt_settings_are_one_clear_error(kw, message):
    with pytest.raises(PluriError, match=message):
        prompts(**{"languages": ["en"], "countries": ["JP"], "topics": ["food"], **kw})


def test_bad_template_file(tmp_path):
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"food": {"en": ["Dishes of somewhere."]}}))
    with pytest.raises(DataError, match=r"food.en\[0\] has no \{country\} \(or \{adjective\}\) placeholder"):
        prompts(languages=["en"], countries=["JP"], topics=["food"], templates=str(path))


def test_sample_kb_uses_the_kbs_own_ids(sample_kb):
    assert sample_kb.record_counts == {"countries": 21, "food": 32, "festivals": 22}
    assert "enwiki:Sushi" in sample_kb.entities and "sample-food:11" in sample_kb.entities  # no article → record id
    christmas = sample_kb.entities["holidays:*:Christmas Day"]
    assert set(christmas.members) == {"holidays:DE:Erster Weihnachtstag", "holidays:NG:Christmas Day",
                                      "holidays:GB:Christmas Day", "holidays:US:Christmas Day"}
    assert not any(e.id.startswith("Q") for e in sample_kb.entities.values())  # never an invented QID
    assert sample_kb.topics == ("food", "festivals")
    assert english_plurals("curry") == ["curry", "curries"] and english_plurals("dish") == ["dish", "dishes"]


def test_broken_kb_files_name_file_and_line(tmp_path):
    for name in ("countries.jsonl", "food_worldcuisines.jsonl", "festivals_holidays.jsonl"):
        (tmp_path / name).write_text((SAMPLE_DIR / name).read_text(encoding="utf-8"), encoding="utf-8")
    food = tmp_path / "food_worldcuisines.jsonl"
    food.write_text(food.read_text(encoding="utf-8") + '{"id": "x", "labels": {"de": ["Nur Deutsch"]}}\n')
    with pytest.raises(DataError, match=r"food_worldcuisines.jsonl: row 33: record 'x' has no English name"):
        CultureKB(CultureKBConfig(data_dir=str(tmp_path)))
    food.write_text("{broken\n")
    with pytest.raises(DataError, match=r"food_worldcuisines.jsonl:1: not valid JSON"):
        CultureKB(CultureKBConfig(data_dir=str(tmp_path)))


def test_a_given_data_dir_without_the_kb_is_an_error_not_the_sample(tmp_path):
    with pytest.raises(DataError, match="countries.jsonl not found"):
        CultureKB(CultureKBConfig(data_dir=str(tmp_path)))


def test_full_culture_kb_when_present(shared_data):
    kb = CultureKB(CultureKBConfig(data_dir=str(shared_data)))
    assert kb.record_counts == {"countries": 190, "food": 2414, "festivals": 3779}
    # 2,414 WorldCuisines rows → 2,399 dishes (records sharing an English article are one);
    # the holidays of 162 countries → one entity per English name
    assert sum(e.domain == "food" and e.kind == "entity" for e in kb.entities.values()) == 2399
    uk = next(c for c in kb_countries(shared_data) if c["iso2"] == "GB")
    assert uk["specificity_equivalents"] == ["Q145", "Q21", "Q22", "Q25", "Q26"]


def kb_countries(root):
    return [json.loads(line) for line in (root / "culture-kb" / "countries.jsonl").read_text(encoding="utf-8").splitlines()]


def test_own_templates_may_use_makievals_adjectives(tmp_path):
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"food": {"en": ["List some {adjective} dishes."]}}))
    countries = tmp_path / "kb"
    countries.mkdir()
    row = {"qid": "Q17", "iso2": "JP", "name_en": "Japan", "makieval_adjective": {"en": "Japanese"}}
    (countries / "countries.jsonl").write_text(json.dumps(row) + "\n" + json.dumps({"qid": "Q1033", "iso2": "NG",
                                                                                       "name_en": "Nigeria"}) + "\n")
    ds = MakievalPrompts(PromptsConfig(languages=["en"], countries=["JP"], topics=["food"], templates=str(path),
                                       data_dir=str(countries)))
    assert ds.load()[0].input == "List some Japanese dishes."
    with pytest.raises(PluriError, match="needs the en adjective of Nigeria"):
        MakievalPrompts(PromptsConfig(languages=["en"], countries=["NG"], topics=["food"], templates=str(path),
                                      data_dir=str(countries))).load()
