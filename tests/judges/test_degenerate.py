"""The degenerate-text detector (plurieval.text.degenerate) on the outputs quoted in issue 19
(taken verbatim from the committed CLaS-Bench entries) and on text it must leave alone."""

import zlib

import pytest

from plurieval.api import DegenerateConfig, check_degenerate, is_degenerate, text_features
from plurieval.text.degenerate import script_of, scripts_for

LOOP_FR = ("Cette fois, cette fois, cette fois, cette fois, cette fois, cette fois, cette fois, cette fois, "
           "cette fois, cette fo")
LOOP_IT = ("La morte è la stiere di lumen, una stiere di lumen è la stiere di lumen, una stiere di lumen è la "
           "stiere di lumen, una stiere di lumen")
FFFD_RUN = "\ufffd\ufffd\n\ufffd\ufffd,\ufffd\ufffd,\ufffd\ufffd\ufffd,\ufffd\ufffd,\ufffd\ufffd,\ufffd\ufffd）））））））））））））\ufffd"
FULLWIDTH_BANGS = "！" * 24
FULLWIDTH_H = "\ufffd\ufffd，" + "Ｈ" * 22
HEBREW_RUN = "Aleph-עקק, עקקקקקקקקקקקקקקקקק\ufffd"


@pytest.mark.parametrize("text, language, reason", [
    (LOOP_FR, "fr", "repetition"),
    (LOOP_IT, "it", "repetition"),
    (FFFD_RUN, "zh", "replacement_chars"),
    (FFFD_RUN, None, "symbols"),
    (FULLWIDTH_BANGS, "zh", "symbols"),
    (FULLWIDTH_BANGS, None, "symbols"),
    (FULLWIDTH_H, None, "replacement_chars"),
    (HEBREW_RUN, None, "repetition"),
    (HEBREW_RUN, "ar", "script_mismatch"),
    ("", None, "no_content"),
    ("   \n ", "de", "no_content"),
    ("........................", None, "symbols"),
])
def test_flags_the_degenerate_outputs_quoted_in_the_issue(text, language, reason):
    verdict = check_degenerate(text, language)
    assert verdict.degenerate
    assert reason in verdict.reasons, verdict


@pytest.mark.parametrize("text, language", [
    ("The capital of France is Paris. It is known for the Eiffel Tower, the Louvre and its cafés.", "en"),
    ("Die Hauptstadt von Frankreich ist Paris. Sie liegt an der Seine und hat etwa zwei Millionen Einwohner.", "de"),
    ("Une araignée a huit pattes.", "fr"),
    ("法国的首都是巴黎。巴黎位于塞纳河畔，是法国最大的城市。", "zh"),
    ("フランスの首都はパリです。パリはセーヌ川のほとりにあります。", "ja"),
    ("Столица Франции — Париж. Он расположен на реке Сене.", "ru"),
    ("عاصمة فرنسا هي باريس، وهي أكبر مدينة في البلاد.", "ar"),
    ("फ्रांस की राजधानी पेरिस है। यह सीन नदी के किनारे बसा है।", "hi"),
    ("8", "en"),                       # a one-number answer is an answer
    ("100 °C (212 °F).", "en"),
    ("Plants make food from light: photosynthesis turns CO2 and water into sugar.\ufffd", "en"),  # cut mid-character
])
def test_leaves_ordinary_answers_alone(text, language):
    verdict = check_degenerate(text, language)
    assert not verdict.degenerate, verdict


def test_script_rule_needs_a_language_and_knows_which_scripts():
    english = "The capital of France is Paris."
    assert not is_degenerate(english)              # no language: no script rule
    assert not is_degenerate(english, "de")        # Latin script is right for German (LID decides the language)
    assert check_degenerate(english, "ru").reasons == ("script_mismatch",)
    assert not is_degenerate(english, "xx")        # unknown language: the rule is skipped, never guessed
    assert scripts_for("ja") == {"HIRAGANA", "KATAKANA", "HAN"}
    assert scripts_for("pt-BR") == {"LATIN"} and scripts_for(None) is None
    assert [script_of(c) for c in "aЖ中ひカ한Ｈ"] == ["LATIN", "CYRILLIC", "HAN", "HIRAGANA", "KATAKANA", "HANGUL", "LATIN"]


def test_features_follow_their_definitions():
    text = "abab" * 30
    f = text_features(text)
    raw = text.encode()
    assert f["compression_ratio"] == len(zlib.compress(raw, 9)) / len(raw)
    assert f["char_entropy"] == pytest.approx(1.0)             # two equally frequent characters: 1 bit
    assert f["longest_char_run"] == 1
    # words a b c a b c a b c: trigrams abc bca cab abc bca cab abc → 4 of 7 seen before
    g = text_features("a b c a b c a b c", config=DegenerateConfig(ngram_min_units=1))
    assert g["repeated_ngram_share"] == pytest.approx(4 / 7)
    # unspaced scripts count characters as units: 日本日本日本 → trigrams 日本日 本日本 日本日 本日本 → 2/4
    h = text_features("日本日本日本", config=DegenerateConfig(ngram_min_units=1))
    assert h["repeated_ngram_share"] == pytest.approx(2 / 4)
    assert text_features("ab\ufffd")["replacement_chars"] == 0          # one trailing U+FFFD: a cut character
    assert text_features("a\ufffdb\ufffd")["replacement_chars"] == 1


def test_rules_switch_off_and_thresholds_move():
    off = DegenerateConfig(min_compression_ratio=None, max_repeated_ngram_share=None, max_char_run=None)
    assert not is_degenerate(LOOP_FR, "fr", off)
    assert is_degenerate("ab" * 10, None, DegenerateConfig(min_char_entropy=1.5))
    assert not is_degenerate("ab" * 10, None, DegenerateConfig(min_char_entropy=0.5))
    with pytest.raises(ValueError):
        DegenerateConfig(min_content_share=2.0)
