"""Language-identifier resources on real sentences (the shipped CLaS sample, written for it)."""

from pathlib import Path

import pytest

from plurieval.errors import PluriError
from plurieval.host import get_host
from plurieval.resources import Resources
from plurieval_resources.config import FastTextLIDConfig, LinguaLIDConfig
from plurieval_resources.langid import FastTextIdentifier, LinguaIdentifier, fasttext_label_to_iso, to_iso639_1

SAMPLE = Path(__file__).resolve().parents[2] / "plugins" / "plurieval_clasbench" / "data" / "sample"
LANGS = ["ar", "de", "en", "es", "fr", "hi", "it", "ja", "ru", "zh"]


def _sentences():
    return {lang: (SAMPLE / f"{lang}.txt").read_text(encoding="utf-8").splitlines() for lang in LANGS}


def test_default_identifier_is_py3langid_and_accurate_on_short_questions():
    ident = Resources(get_host()).get("language_identifier")
    assert type(ident).__name__ == "Py3LangidIdentifier"
    total = correct = 0
    for lang, qs in _sentences().items():
        pred = ident.detect(qs)
        assert sum(p == lang for p in pred) >= len(qs) - 2, (lang, pred)
        total += len(qs)
        correct += sum(p == lang for p in pred)
    assert correct / total >= 0.97
    assert ident.detect(["", "  \n"]) == ["und", "und"]


def test_py3langid_restricted_languages():
    ident = Resources(get_host()).get("language_identifier", "py3langid", {"languages": "en,de"})
    assert ident.detect(["Was ist die Hauptstadt von Frankreich?", "What is the capital of France?"]) == ["de", "en"]
    with pytest.raises(PluriError, match="does not know"):
        Resources(get_host()).get("language_identifier", "py3langid", {"languages": ["xx"]})


def test_lingua_restricted_to_requested_languages():
    pytest.importorskip("lingua", reason="optional dependency lingua-language-detector not installed")
    ident = LinguaIdentifier(LinguaLIDConfig(languages=LANGS))
    for lang, qs in _sentences().items():
        assert ident.detect(qs) == [lang] * len(qs)
    # Restricted to en/de, a French sentence must come out as one of those two, never "fr".
    assert LinguaIdentifier(LinguaLIDConfig(languages=["en", "de"])).detect(["Bonjour"])[0] in {"en", "de"}


def test_iso_mapping_of_nllb_labels():
    assert fasttext_label_to_iso("__label__eng_Latn") == "en"
    assert fasttext_label_to_iso("__label__zho_Hans") == "zh"
    assert fasttext_label_to_iso("__label__arb_Arab") == "ar"
    assert fasttext_label_to_iso("__label__pes_Arab") == "fa"
    assert fasttext_label_to_iso("__label__ace_Arab") == "ace"  # no ISO 639-1 code: stays 639-3
    assert fasttext_label_to_iso("__label__de") == "de"          # lid.176-style labels
    assert to_iso639_1("wuu") == "zh" and to_iso639_1("arz") == "ar" and to_iso639_1("en") == "en"


def test_fasttext_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(PluriError, match="lid218e.bin"):
        FastTextIdentifier(FastTextLIDConfig(model_path=str(tmp_path / "lid218e.bin")))
