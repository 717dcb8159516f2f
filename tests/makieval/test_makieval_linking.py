"""Entity linking on hand-written multilingual texts against the plugin's self-written sample KB.

Each expectation is read off the sample files (plugins/plurieval_makieval/data/sample) and the
linking rules in plurieval_makieval/linking.py and text.py."""

from __future__ import annotations

import pytest

from plurieval_makieval.config import LinkerConfig
from plurieval_makieval.linking import Linker, candidate_phrases, parse_extraction
from plurieval_makieval.text import Normalizer, boundary_ok


def test_normalisation_keeps_the_original_spans():
    norm = Normalizer("de").normalize("Käse–Spätzle  und\u00a0Crème\u0301")
    assert norm.text == "kase spatzle und creme"  # fold case and Latin diacritics; dash → space; runs of spaces → one
    start, end = norm.span(0, len("kase spatzle"))
    assert "Käse–Spätzle  und\u00a0Crème\u0301"[start:end] == "Käse–Spätzle"
    # "Käse–Spätzle" is 0-11, two spaces 12-13, "und" 14-16, no-break space 17, "Crème" + a
    # combining acute (U+0301) 18-23: the last "e" and its mark are one cluster, folded to "e"
    s = norm.text.index("creme")
    assert norm.span(s, s + 5) == (18, 24)


@pytest.mark.parametrize(("language", "text", "key"), [
    ("tr", "İSTANBUL Işık", "istanbul ışık"),          # Turkish dotted/dotless I
    ("tr", "Crème brûlée", "crème brûlée"),            # no diacritic folding in Turkish (ç ≠ c)
    ("ru", "Йогурт", "йогурт"),                        # й keeps its breve (Cyrillic marks are never stripped)
    ("ja", "ガラ", "ガラ"),                              # dakuten is part of the letter (ガ ≠ カ)
    ("hi", "बिरयानी", "बिरयानी"),                          # Devanagari vowel signs stay
    ("ar", "البَقْلاوة", "البقلاوه"),                     # harakat dropped, taa marbuta → haa
    ("fa", "كيك", "كيك"),                              # Arabic and Persian kaf/yeh variants unified
    ("fa", "کیک", "كيك"),
    ("de", "Weißwurst", "weisswurst"),                 # casefold: ß → ss
])
def test_script_aware_normalisation(language, text, key):
    assert Normalizer(language).key(text) == key


def test_word_boundaries_only_where_the_script_uses_spaces():
    assert boundary_ok("a sushi bar", 2, 7)
    assert not boundary_ok("sushibar", 0, 5)               # inside a Latin word
    assert boundary_ok("お寿司を", 1, 3)                    # Han/Kana: substrings are fine
    assert boundary_ok("日本のsushi", 3, 8)                 # a change of script is a boundary
    assert not boundary_ok("baklavayı", 0, 7)
    assert boundary_ok("baklavayı", 0, 7, suffixing=True)  # Turkish case ending after the name
    assert boundary_ok("والبقلاوة", 3, 9, arabic_prefixes=True)  # proclitics و + ال before the name


def test_english_longest_match_first_and_no_overlaps(found):
    text = "Try chicken tikka masala, chicken tikka or just chicken with rice."
    assert found(text, "en") == [
        ("chicken tikka masala", "entity", "enwiki:Chicken tikka masala"),  # not "chicken tikka" + "chicken"
        ("chicken tikka", "entity", "enwiki:Chicken tikka"),                # not "chicken" + "Tikka"
        ("chicken", "category", "category:chicken"),                        # a category word alone
        ("rice", "category", "category:rice"),
    ]


def test_category_words_versus_dish_names(found, sample_kb):
    # "noodle soup" is only a category; "pizza" is a category word *and* the own name of a dish
    # (sample record "Pizza"), so the dish wins; "Pizza Margherita" is longer than "pizza".
    text = "Creme brulee, PIZZA MARGHERITA, then pizza and a noodle soup."
    assert found(text, "en") == [
        ("Creme brulee", "entity", "enwiki:Crème brûlée"),  # English folds diacritics
        ("PIZZA MARGHERITA", "entity", "enwiki:Pizza Margherita"),
        ("pizza", "entity", "enwiki:Pizza"),
        ("noodle soup", "category", "category:noodle soup"),
    ]
    no_categories = Linker(sample_kb, LinkerConfig(categories=False))
    kinds = [x["kind"] for x in no_categories.link(text, language="en", topic="food")]
    assert kinds == ["entity", "entity", "entity"]


def test_cjk_and_thai_are_matched_as_substrings(found):
    assert found("お寿司と天ぷらとラーメンが好き。味噌汁も。", "ja") == [
        ("寿司", "entity", "enwiki:Sushi"), ("天ぷら", "entity", "enwiki:Tempura"),
        ("ラーメン", "entity", "enwiki:Ramen"), ("味噌汁", "entity", "enwiki:Miso soup")]
    assert found("我喜欢吃饺子和披萨。", "zh") == [("饺子", "entity", "enwiki:Jiaozi"), ("披萨", "entity", "enwiki:Pizza")]
    assert found("ฉันชอบผัดไทยมาก", "th") == [("ผัดไทย", "entity", "enwiki:Pad thai")]


def test_overlapping_cjk_names_take_the_longest(found):
    # 水餃子 (ja label of Jiaozi) contains 餃子, which is not a label here; 水餃子 wins as one link
    assert found("水餃子を食べた", "ja") == [("水餃子", "entity", "enwiki:Jiaozi")]


def test_suffixes_proclitics_and_boundaries_in_other_scripts(found):
    assert found("Baklavayı çok severim.", "tr") == [("Baklava", "entity", "enwiki:Baklava")]
    assert found("Crème brulée ve baklava.", "tr") == [("baklava", "entity", "enwiki:Baklava")]  # brulée ≠ brûlée in Turkish
    assert found("저는 김치를 좋아해요.", "ko") == [("김치", "entity", "enwiki:Kimchi")]          # particle 를 after the name
    assert found("أحب البقلاوة", "ar") == [("بقلاوة", "entity", "enwiki:Baklava")]               # after the article ال
    assert found("मुझे बिरयानी पसंद है, बिरयानीवाला नहीं।", "hi") == [("बिरयानी", "entity", "enwiki:Biryani")]
    assert found("sushibar, Sushis", "en") == []  # inside words: no match


def test_german_text_uses_german_then_english_names(found):
    text = "Typisch sind Brezel, Schwarzwälder Kirschtorte, Fish and Chips und Brot."
    assert found(text, "de") == [
        ("Brezel", "entity", "enwiki:Pretzel"), ("Schwarzwälder Kirschtorte", "entity", "enwiki:Black Forest gateau"),
        ("Fish and Chips", "entity", "enwiki:Fish and chips"), ("Brot", "category", "category:bread")]


def test_ambiguous_names_prefer_the_prompt_country(found, linker):
    # "Jollof" names two sample dishes: Jollof rice (NG, SN) and Ghanaian jollof (GH).
    assert found("People eat Jollof.", "en", target=["Q117"]) == [("Jollof", "entity", "sample-food:11")]
    assert found("People eat Jollof.", "en", target=["Q1033"]) == [("Jollof", "entity", "enwiki:Jollof rice")]
    link = linker.link("People eat Jollof.", language="en", topic="food")[0]
    assert link["candidates"] == 2 and link["id"] == "enwiki:Jollof rice"  # no target: lowest id (sample-food:10)


def test_holidays_are_one_entity_across_countries_and_languages(found, linker):
    text = "Christmas Day, Erster Weihnachtstag, New Year's Day and the festival."
    assert found(text, "de", topic="festivals") == [
        ("Christmas Day", "entity", "holidays:*:Christmas Day"),
        ("Erster Weihnachtstag", "entity", "holidays:*:Christmas Day"),
        ("New Year's Day", "entity", "holidays:*:New Year's Day"),
        ("festival", "category", "category:festival")]
    links = linker.link("Children's Day and Christmas Day", language="en", topic="festivals")
    assert links[0]["observed"] == ["Q17"] and links[0]["observed_count"] == 1
    assert links[1]["observed_count"] == 4 and sorted(links[1]["observed"]) == ["Q1033", "Q145", "Q183", "Q30"]
    # a food answer never links holidays (domain check) and vice versa
    assert found("Christmas Day with sushi", "en") == [("sushi", "entity", "enwiki:Sushi")]


def test_no_entities_at_all(found):
    assert found("", "en") == []
    assert found("I do not know.", "en") == []


def test_extraction_replies_and_phrases(linker):
    reply = "1. Sushi\n- Ramen and tempura\n* \"Miso soup\"\nNONE\n" + "x" * 100
    assert parse_extraction(reply) == ["Sushi", "Ramen and tempura", "Miso soup"]
    text = "Sushi, ramen and tempura; also miso soup."
    links = linker.link_phrases(parse_extraction(reply), text, language="en", topic="food")
    # phrases are located in the answer ignoring case: "ramen" at 7, "tempura" at 17, "miso soup" at 31
    assert [(x["id"], x["start"]) for x in links] == [
        ("enwiki:Sushi", 0), ("enwiki:Ramen", 7), ("enwiki:Tempura", 17), ("enwiki:Miso soup", 31)]
    elsewhere = linker.link_phrases(["Tempura"], "An answer that never names it.", language="en", topic="food")
    assert elsewhere[0]["id"] == "enwiki:Tempura" and elsewhere[0]["start"] is None
    assert candidate_phrases("1. Sushi\n2. Ramen, tempura and miso soup\nThese are all delicious dishes from the "
                             "country of Japan that everyone loves") == ["Sushi", "Ramen", "tempura", "miso soup"]


def test_the_prompts_own_words_are_not_counted(linker):
    prompt = "Name some important holidays and festivals in Japan."
    answer = "Japan has many festivals and holidays, such as Children's Day."
    every = linker.link(answer, language="en", topic="festivals")
    assert [x["id"] for x in every] == ["category:festival", "category:holiday", "holidays:*:Children's Day"]
    assert [x["id"] for x in linker.link(answer, language="en", topic="festivals", prompt=prompt)] == [
        "holidays:*:Children's Day"]  # the question's "holidays and festivals" repeated back is not the model's
    keep = Linker(linker.kb, LinkerConfig(exclude_prompt_terms=False))
    assert len(keep.link(answer, language="en", topic="festivals", prompt=prompt)) == 3


def test_noisy_names_in_the_kb_are_skipped(tmp_path):
    import json

    from plurieval_makieval.config import CultureKBConfig
    from plurieval_makieval.kb import SAMPLE_DIR, CultureKB

    for name in ("countries.jsonl", "festivals_holidays.jsonl"):
        (tmp_path / name).write_text((SAMPLE_DIR / name).read_text(encoding="utf-8"), encoding="utf-8")
    record = {"id": "x:1", "enwiki": "Donburi#Tendon", "labels": {"en": ["Tendon", "Donburi#Tendon", "section"],
                                                                   "ja": ["丼物", "language"]}, "origin_countries": ["Q17"]}
    (tmp_path / "food_worldcuisines.jsonl").write_text(json.dumps(record) + "\n", encoding="utf-8")
    kb_linker = Linker(CultureKB(CultureKBConfig(data_dir=str(tmp_path))))
    # "language" is an English word listed among the Japanese names; "Donburi#Tendon" a section anchor
    assert kb_linker.link("この言語はlanguageです。丼物が好き。", language="ja", topic="food")[0]["surface"] == "丼物"
    assert len(kb_linker.link("この言語はlanguageです。丼物が好き。", language="ja", topic="food")) == 1
    assert [x["surface"] for x in kb_linker.link("Tendon, or Donburi#Tendon", language="en", topic="food")] == [
        "Tendon", "Tendon"]  # never the anchor "Donburi#Tendon" as one name
    assert kb_linker.link("In this section: Tendon", language="en", topic="food")[0]["surface"] == "Tendon"
