"""The MAKIEval prompt set: (topic × country × language × template [× sample]) open-ended prompts.

Templates (``data/templates.json``, or ``templates=`` a file of the same shape) are written for
plurieval: only the English ones are originals, **every other language is an unverified
translation**. ``{country}`` becomes the country's name in the prompt language:

- MAKIEval's own prompt names (``countries.jsonl: makieval_prompt_name``, 21 countries in 14
  languages) where they exist, else the CLDR name;
- German: our dative forms for countries that take an article ("aus der Türkei", "in den
  Vereinigten Staaten", "im Vereinigten Königreich"; MAKIEval's German forms are not
  grammatical there), else the CLDR name;
- Italian: MAKIEval's names carry the article, so "di" is contracted ("del Giappone",
  "dell'Italia", "degli Stati Uniti");
- French, Russian and Turkish templates put the name in apposition ("du pays suivant :
  Japon"), which needs no article or case ending.

One example per prompt: ``id = "<topic>.<ISO>.<language>.t<k>[.s<j>]"``, ``input`` the prompt,
``target`` the reference the metrics read (language, country, its QID and equivalents, topic).
Your own templates may also use ``{adjective}``: MAKIEval's adjective for the country
("Japanese", "japanisch", "日本の"; 21 countries in 14 languages).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

from plurieval.api import DataError, Dataset, DatasetInfo, Example, PluriError, content_hash, data_path

from .config import TOPICS, PromptsConfig
from .kb import FILES, PLUGIN_DATA, SAMPLE_DIR, Country, load_countries, public_source

TEMPLATES = PLUGIN_DATA / "templates.json"

DE_DATIVE = {
    "US": "den Vereinigten Staaten", "GB": "dem Vereinigten Königreich", "AE": "den Vereinigten Arabischen Emiraten",
    "TR": "der Türkei", "CH": "der Schweiz", "NL": "den Niederlanden", "PH": "den Philippinen", "UA": "der Ukraine",
    "SK": "der Slowakei", "MN": "der Mongolei", "DO": "der Dominikanischen Republik", "IR": "dem Iran",
    "IQ": "dem Irak", "LB": "dem Libanon", "SD": "dem Sudan", "YE": "dem Jemen", "TD": "dem Tschad",
    "NE": "dem Niger", "KG": "Kirgisistan", "CF": "der Zentralafrikanischen Republik", "VA": "dem Vatikan",
    "MV": "den Malediven", "BS": "den Bahamas", "SC": "den Seychellen", "CD": "der Demokratischen Republik Kongo",
    "CG": "der Republik Kongo", "CZ": "Tschechien", "GB-ENG": "England", "GB-SCT": "Schottland", "GB-WLS": "Wales",
    "GB-NIR": "Nordirland",
}
_IT_ARTICLES = (("gli ", "degli "), ("il ", "del "), ("lo ", "dello "), ("la ", "della "), ("l'", "dell'"),
                ("i ", "dei "), ("le ", "delle "))


def country_form(country: Country, language: str) -> str:
    """The country's name as the templates of ``language`` expect it (see the module docstring)."""
    if language == "de":
        return DE_DATIVE.get(country.iso2) or (country.names.get("de") or [country.name_en])[0]
    if language in ("fr", "ru", "tr", "es"):  # apposition frames / "de X": the plain CLDR name
        names = country.names.get(language)
        if names:
            return names[0]
    return country.name(language)


def contract_italian(text: str) -> str:
    """"di il Giappone" → "del Giappone", "di l'Italia" → "dell'Italia" (articulated prepositions)."""
    def repl(m: re.Match[str]) -> str:
        rest = m.group(2)
        for article, merged in _IT_ARTICLES:
            if rest.startswith(article):
                return m.group(1) + merged + rest[len(article):]
        return m.group(0)

    return re.sub(r"(\b)di ((?:gli|il|lo|la|i|le) \S|l'\S)", repl, text)


def load_templates(path: str | Path | None) -> dict[str, dict[str, list[str]]]:
    file = Path(path) if path else TEMPLATES
    if not file.is_file():
        raise PluriError(f"templates file {str(file)!r} does not exist")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DataError(f"{file}:{err.lineno}: not valid JSON ({err.msg})") from None
    out: dict[str, dict[str, list[str]]] = {}
    for topic, by_lang in data.items():
        if topic.startswith("_"):
            continue
        if not isinstance(by_lang, dict):
            raise DataError(f"{file}: {topic!r} must map languages to lists of templates")
        for lang, templates in by_lang.items():
            if not isinstance(templates, list) or not templates or not all(isinstance(t, str) for t in templates):
                raise DataError(f"{file}: {topic}.{lang} must be a non-empty list of strings")
            for i, t in enumerate(templates):
                if "{country}" not in t and "{adjective}" not in t:
                    raise DataError(f"{file}: {topic}.{lang}[{i}] has no {{country}} (or {{adjective}}) placeholder: {t!r}")
        out[topic] = by_lang
    return out


class MakievalPrompts(Dataset):
    def __init__(self, config: PromptsConfig):
        super().__init__(config)
        self.templates = load_templates(config.templates)
        self.root, self.is_sample = data_path(config.data_dir, "culture-kb", marker=FILES["countries"],
                                              sample=SAMPLE_DIR, what="culture-kb countries")
        self.countries = load_countries(self.root / FILES["countries"])
        self._check()

    def _check(self) -> None:
        import difflib

        cfg = self.config
        for topic in cfg.topics:
            if topic not in TOPICS:
                close = difflib.get_close_matches(topic, TOPICS, n=1)
                raise PluriError(f"unknown topic {topic!r}" + (f"; did you mean {close[0]!r}?" if close else "")
                                 + f" (topics: {', '.join(TOPICS)})")
            if topic not in self.templates:
                raise PluriError(f"the templates have no topic {topic!r} (they have {', '.join(self.templates)})")
            missing = [lang for lang in cfg.languages if lang not in self.templates[topic]]
            if missing:
                have = sorted(self.templates[topic])
                raise PluriError(f"no {topic} templates for language(s) {', '.join(missing)}; templates exist for "
                                 f"{', '.join(have)} (add yours with templates=FILE)")
        for code in cfg.countries:
            self.country(code)

    def country(self, code: str) -> Country:
        import difflib

        iso = code.strip().upper()
        if iso in self.countries:
            return self.countries[iso]
        by_name = {c.name_en.lower(): c.iso2 for c in self.countries.values()}
        hint = by_name.get(code.strip().lower())
        close = [hint] if hint else difflib.get_close_matches(iso, list(self.countries), n=3)
        where = " (the shipped sample has only a few; set PLURIEVAL_DATA_DIR)" if self.is_sample else ""
        raise PluriError(f"country {code!r} is not in {self.root / FILES['countries']}{where}; give ISO 3166-1 "
                         f"alpha-2 codes such as JP, DE, NG (GB-SCT for Scotland)"
                         + (f"; did you mean {', '.join(close)}?" if close else ""))

    @staticmethod
    def _adjective(country: Country, language: str, template: str) -> str:
        """MAKIEval's adjective ("Japanese", "日本の"), for templates that use ``{adjective}``."""
        if "{adjective}" not in template:
            return ""
        if language not in country.adjectives:
            raise PluriError(f"template {template!r} needs the {language} adjective of {country.name_en}, which "
                             f"countries.jsonl has only for the 21 MAKIEval countries (makieval_adjective)")
        return country.adjectives[language]

    def load(self, split: str | None = None) -> list[Example]:
        cfg = self.config
        out = []
        for topic in cfg.topics:
            for code in cfg.countries:
                country = self.country(code)
                for lang in cfg.languages:
                    form = country_form(country, lang)
                    for s in range(cfg.samples):  # every template once before any second sample (--limit)
                        for k, template in enumerate(self.templates[topic][lang]):
                            prompt = template.format(country=form, adjective=self._adjective(country, lang, template))
                            if lang == "it":
                                prompt = contract_italian(prompt)
                            elif lang == "de":
                                prompt = re.sub(r"\b(in|von|zu) dem ", lambda m: {"in": "im ", "von": "vom ", "zu": "zum "}[m.group(1)], prompt)
                            suffix = f".s{s}" if cfg.samples > 1 else ""
                            out.append(Example(
                                id=f"{topic}.{country.iso2}.{lang}.t{k}{suffix}", input=prompt,
                                target={"language": lang, "topic": topic, **country.reference()},
                                metadata={"language": lang, "country": country.iso2, "topic": topic, "template": k,
                                          "sample": s, "country_name": country.name_en}))
        return out

    def info(self, examples: Sequence[Example], split: str | None) -> DatasetInfo:
        templates = "plurieval_makieval:data/templates.json" if not self.config.templates else self.config.templates
        return DatasetInfo(
            id=self.config.id, revision=self.config.revision,
            content_hash=content_hash([e.to_dict() for e in examples]), split=split, num_examples=len(examples),
            license="templates: Apache-2.0 (plurieval, unverified translations); countries.jsonl: QIDs CC0, CLDR "
                    "names Unicode-3.0, MAKIEval prompt names MIT",
            source=f"{templates} + {public_source(self.root, self.is_sample)}/{FILES['countries']}")


def cells(examples: Sequence[Example]) -> dict[tuple[str, str, str], list[Example]]:
    """Examples grouped by (language, country, topic), in order."""
    out: dict[tuple[str, str, str], list[Example]] = {}
    for ex in examples:
        m = ex.metadata
        out.setdefault((m["language"], m["country"], m["topic"]), []).append(ex)
    return out


def limit_per_cell(examples: Sequence[Example], limit: int | None) -> list[Example]:
    if not limit:
        return list(examples)
    return [ex for group in cells(examples).values() for ex in group[:limit]]
