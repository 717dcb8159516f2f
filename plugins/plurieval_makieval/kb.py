"""The offline knowledge base (resource role ``knowledge_base``): a gazetteer built from
``culture-kb`` (``$PLURIEVAL_DATA_DIR/culture-kb``, or ``data_dir``; a small self-written
sample ships with the plugin).

What the files are (read ``culture-kb/SOURCE.md``): WorldCuisines dishes and the public holidays
of the ``holidays`` package, **not Wikidata statements**; almost every record has ``qid: null``.
So entities are keyed by the KB's own stable ids, never by invented QIDs:

- a dish is ``enwiki:<English Wikipedia title>`` (the WorldCuisines record points to that
  article; the 15 records that share an article are one entity, as SOURCE.md suggests), or
  ``worldcuisines:<food_id>`` when the record has no English article. Its origin is the
  WorldCuisines ``origin_countries`` (annotated by the dataset authors from Wikipedia; not
  P495); "Global" dishes have none.
- a holiday is ``holidays:*:<English name>``: every ``holidays`` record with that English name
  (one per observing country, ids ``holidays:<CC>:<name>``) is one entity, so "Christmas Day",
  "Erster Weihnachtstag" and "Noël" meet in one id. ``observed_in`` is where it is a public
  holiday, which is not where it comes from: metrics decide what counts as an origin
  (``cultural_specificity.holiday_origin``).
- a category is ``category:<English category name>`` (WorldCuisines' coarse and fine dish
  categories, plus festival words; names in other languages come from the plugin's
  self-written ``data/categories.json``).

Countries (``countries.jsonl``) carry Wikidata QIDs (CC0), CLDR names, MAKIEval's prompt names
and adjectives, and the equivalences cultural specificity uses (UK = UK + its four nations).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from plurieval.api import DataError, data_path, file_hash

from .config import CultureKBConfig, LinkerConfig
from .text import DEFAULT_FOLD_LANGUAGES, Normalizer, script_min_length

PLUGIN_DATA = Path(__file__).resolve().parent / "data"
SAMPLE_DIR = PLUGIN_DATA / "sample"
FILES = {"countries": "countries.jsonl", "food": "food_worldcuisines.jsonl", "festivals": "festivals_holidays.jsonl"}
OFFLINE_TOPICS = ("food", "festivals")

# Label languages that stand for a prompt language (Wikipedia and CLDR codes differ).
LABEL_FALLBACKS: dict[str, tuple[str, ...]] = {
    "en": ("en", "simple", "en-gb", "en-us", "en-in", "en-au"),
    "zh": ("zh", "zh-hans", "zh-cn", "zh-sg"),
    "zh-tw": ("zh-tw", "zh-hant", "zh-hk", "zh-mo", "zh"),
    "ar": ("ar", "arz", "ary"),
    "pt": ("pt", "pt-br"),
    "no": ("no", "nb"),
}


# Label languages not written in Latin script: an all-ASCII name among their labels is noise
# (WorldCuisines lists "language" as a Japanese alias of donburi).
NON_LATIN_LANGUAGES = frozenset({"ja", "zh", "ko", "ar", "arz", "ary", "fa", "hi", "th", "ru", "uk", "bg", "be", "el",
                                 "he", "ur", "bn", "ta", "te", "ml", "kn", "mr", "gu", "pa", "ka", "hy", "my", "km",
                                 "lo", "si", "ne", "am", "wuu", "yue", "gan", "mzn", "ckb", "ps", "sr", "mk", "kk",
                                 "ky", "tg", "mn"})


# Words that WorldCuisines' alias columns carry as names of dishes (field names and notes left
# by the parsing: "section" is a "name" of 35 dishes): never matched.
JUNK_NAMES = frozenset({"section", "language", "alias", "age", "group", "not_stated", "english"})


def label_languages(language: str) -> tuple[str, ...]:
    return LABEL_FALLBACKS.get(language, (language,))


@dataclass(frozen=True)
class Country:
    qid: str
    iso2: str
    name_en: str
    kind: str
    names: dict[str, list[str]]
    prompt_names: dict[str, str]
    adjectives: dict[str, str]
    equivalents: tuple[str, ...]
    optional_equivalents: tuple[str, ...]
    part_of: str | None

    def name(self, language: str) -> str:
        """MAKIEval's prompt name where it has one, else the CLDR name, else English."""
        if language in self.prompt_names:
            return self.prompt_names[language]
        for lang in label_languages(language):
            if self.names.get(lang):
                return self.names[lang][0]
        return self.name_en

    def reference(self) -> dict[str, Any]:
        return {"country": self.iso2, "country_qid": self.qid, "equivalents": list(self.equivalents),
                "optional_equivalents": list(self.optional_equivalents)}


@dataclass
class Entity:
    """One link target: a dish, a holiday or a category."""

    id: str
    kind: str  # "entity" | "category"
    domain: str
    labels: dict[str, list[str]]
    primary: set[str] = field(default_factory=set)  # the record's own names (not aliases)
    origin: tuple[str, ...] = ()
    origin_source: str | None = None
    observed: tuple[str, ...] = ()
    members: tuple[str, ...] = ()


@dataclass(frozen=True)
class Surface:
    entity: str
    kind: str
    primary: bool
    rank: int  # position of the label's language in the label-language list (0 = the text's own)
    label: str
    language: str


@dataclass
class SurfaceIndex:
    """Normalised name → the entities and categories it may denote, for one text language and
    one domain. ``lengths[c]``: the lengths of names starting with character ``c``, longest
    first (the matcher tries only those)."""

    normalizer: Normalizer
    surfaces: dict[str, list[Surface]]
    lengths: dict[str, list[int]]


def _read_rows(path: Path) -> list[dict[str, Any]]:
    """JSONL objects, each with its row number in ``_line`` (for error messages)."""
    from plurieval.api import read_jsonl

    try:
        rows = read_jsonl(path)
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not valid UTF-8 ({err.reason})") from None
    for i, row in enumerate(rows, 1):
        if not isinstance(row, dict):
            raise DataError(f"{path}: row {i}: each line must be a JSON object")
        row["_line"] = i
    return rows


def _need(row: dict[str, Any], path: Path, key: str, kind: type | tuple[type, ...]) -> Any:
    value = row.get(key)
    if not isinstance(value, kind):
        raise DataError(f"{path}: row {row.get('_line')}: field {key!r} missing or not {getattr(kind, '__name__', kind)} "
                        f"(got {value!r})")
    return value


def _labels(row: dict[str, Any], path: Path) -> dict[str, list[str]]:
    labels = _need(row, path, "labels", dict)
    out: dict[str, list[str]] = {}
    for lang, names in labels.items():
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise DataError(f"{path}: row {row.get('_line')}: labels.{lang} must be a list of strings")
        out[lang] = [n for n in names if n.strip()]
    return out


def load_countries(path: Path) -> dict[str, Country]:
    """``countries.jsonl`` by ISO code (upper case; GB-SCT etc. for the UK nations)."""
    out: dict[str, Country] = {}
    for row in _read_rows(path):
        qid, iso2 = _need(row, path, "qid", str), _need(row, path, "iso2", str)
        out[iso2.upper()] = Country(
            qid=qid, iso2=iso2.upper(), name_en=_need(row, path, "name_en", str), kind=str(row.get("kind") or "country"),
            names={k: list(v) for k, v in (row.get("names") or {}).items()},
            prompt_names=dict(row.get("makieval_prompt_name") or {}), adjectives=dict(row.get("makieval_adjective") or {}),
            equivalents=tuple(row.get("specificity_equivalents") or [qid]),
            optional_equivalents=tuple(row.get("specificity_optional_equivalents") or []),
            part_of=row.get("part_of"))
    return out


def public_source(root: Path, is_sample: bool) -> str:
    """Where the KB was read from, without this machine's paths: ``$PLURIEVAL_DATA_DIR/...`` or
    the plugin's sample by package name."""
    import os

    if is_sample:
        return "plurieval_makieval:data/sample"
    base = os.environ.get("PLURIEVAL_DATA_DIR")
    if base:
        try:
            return "$PLURIEVAL_DATA_DIR/" + root.resolve().relative_to(Path(base).expanduser().resolve()).as_posix()
        except ValueError:
            pass
    return str(root)


def english_plurals(word: str) -> list[str]:
    """Regular English plurals of a category word ("noodle" → "noodles", "curry" → "curries")."""
    last = word.split(" ")[-1]
    if last.endswith(("s", "x", "z", "ch", "sh")):
        plural = word + "es"
    elif last.endswith("y") and len(last) > 1 and last[-2] not in "aeiou":
        plural = word[:-1] + "ies"
    else:
        plural = word + "s"
    return [word, plural] if plural != word else [word]


class CultureKB:
    """The gazetteer. ``match_index(language, domain)`` is what the linker scans texts with;
    ``lookup(query, language, domain)`` links one phrase (the role's generic interface)."""

    name = "culture-kb"

    def __init__(self, config: CultureKBConfig):
        self.config = config
        self.root, self.is_sample = data_path(config.data_dir, "culture-kb", marker=FILES["countries"],
                                              sample=SAMPLE_DIR, what="culture-kb knowledge base")
        self.countries: dict[str, Country] = {}
        self.countries_by_qid: dict[str, Country] = {}
        self.entities: dict[str, Entity] = {}
        self.record_counts: dict[str, int] = {}
        self._indexes: dict[tuple[Any, ...], SurfaceIndex] = {}
        self._load_countries()
        self._load_food()
        self._load_holidays()
        self._load_categories()
        self.content_hash = self._hash()

    # --- loading ----------------------------------------------------------------------------------

    def _path(self, key: str, required: bool = True) -> Path | None:
        path = self.root / FILES[key]
        if not path.is_file():
            if required:
                raise DataError(f"culture-kb: {path} not found (the folder must hold {', '.join(FILES.values())})")
            return None
        return path

    def _load_countries(self) -> None:
        path = self._path("countries")
        assert path is not None
        self.countries = load_countries(path)
        self.countries_by_qid = {c.qid: c for c in self.countries.values()}
        self.record_counts["countries"] = len(self.countries)

    def _add(self, entity: Entity) -> None:
        have = self.entities.get(entity.id)
        if have is None:
            self.entities[entity.id] = entity
            return
        for lang, names in entity.labels.items():  # records that share an article: one entity
            merged = have.labels.setdefault(lang, [])
            merged.extend(n for n in names if n not in merged)
        have.primary |= entity.primary
        have.origin = tuple(dict.fromkeys(have.origin + entity.origin))
        have.observed = tuple(sorted(set(have.observed) | set(entity.observed)))
        have.members = have.members + entity.members

    def _records(self, key: str) -> list[tuple[Path, dict[str, Any], str, dict[str, list[str]]]]:
        """(file, row, record id, labels) of one optional KB file; every record needs an English name."""
        path = self._path(key, required=False)
        rows = _read_rows(path) if path is not None else []
        self.record_counts[key] = len(rows)
        out = []
        for row in rows:
            rid = _need(row, path, "id", str)
            labels = _labels(row, path)
            if not labels.get("en"):
                raise DataError(f"{path}: row {row['_line']}: record {rid!r} has no English name (labels.en)")
            out.append((path, row, rid, labels))
        return out

    def _load_food(self) -> None:
        self._food_categories: dict[str, str] = {}  # English category → "coarse" | "fine"
        for path, row, rid, labels in self._records("food"):
            enwiki = row.get("enwiki")
            origin = row.get("origin_countries") or []
            if not isinstance(origin, list) or not all(isinstance(q, str) for q in origin):
                raise DataError(f"{path}: row {row['_line']}: origin_countries must be a list of QIDs")
            self._add(Entity(id=f"enwiki:{enwiki}" if isinstance(enwiki, str) and enwiki else rid, kind="entity",
                             domain="food", labels=labels, primary={labels["en"][0]}, origin=tuple(origin),
                             origin_source="worldcuisines", members=(rid,)))
            cats = row.get("categories") or {}
            for level in ("coarse", "fine"):
                for cat in cats.get(level) or []:
                    if isinstance(cat, str) and cat.strip():
                        self._food_categories.setdefault(cat.strip().lower(), level)

    def _load_holidays(self) -> None:
        for _path, row, rid, labels in self._records("festivals"):
            self._add(Entity(id=f"holidays:*:{labels['en'][0]}", kind="entity", domain="festivals", labels=labels,
                             primary={labels["en"][0]}, observed=tuple(row.get("observed_in") or []),
                             origin_source="holidays:observed_in", members=(rid,)))

    def _load_categories(self) -> None:
        """Category words: WorldCuisines' English category names (+ regular plurals) and the
        plugin's self-written translations and festival words (``data/categories.json``)."""
        lexicon = json.loads((PLUGIN_DATA / "categories.json").read_text(encoding="utf-8"))
        by_domain: dict[str, dict[str, dict[str, list[str]]]] = {"food": {}, "festivals": {}}
        if self._food_categories:
            for cat in self._food_categories:
                by_domain["food"][cat] = {"en": english_plurals(cat)}
        for domain in ("food", "festivals"):
            for key, names in (lexicon.get(domain) or {}).items():
                if domain == "food" and self._food_categories and key not in self._food_categories:
                    continue  # a translation of a category this KB does not have
                entry = by_domain[domain].setdefault(key, {"en": english_plurals(key)})
                for lang, words in names.items():
                    entry.setdefault(lang, [])
                    entry[lang].extend(w for w in words if w not in entry[lang])
        for domain, cats in by_domain.items():
            for key, labels in cats.items():
                self.entities[f"category:{key}"] = Entity(id=f"category:{key}", kind="category", domain=domain,
                                                          labels=labels, primary=set())

    def _hash(self) -> str:
        from plurieval.api import content_hash

        parts = {name: file_hash(self.root / fname) for name, fname in FILES.items() if (self.root / fname).is_file()}
        parts["categories.json"] = file_hash(PLUGIN_DATA / "categories.json")
        return content_hash(parts)

    # --- facts ------------------------------------------------------------------------------------

    @property
    def topics(self) -> tuple[str, ...]:
        return tuple(t for t in OFFLINE_TOPICS if self.record_counts.get(t))

    def dataset_info(self) -> Any:
        """The knowledge base as a dataset entry of the run manifest (what was read, its hash)."""
        from plurieval.api import DatasetInfo

        return DatasetInfo(id=self.name, revision=None, content_hash=self.content_hash, split=None,
                           num_examples=sum(self.record_counts.values()), source=public_source(self.root, self.is_sample),
                           license="WorldCuisines Apache-2.0; holidays MIT; CLDR Unicode-3.0; QIDs CC0; MAKIEval MIT"
                           if not self.is_sample else "Apache-2.0 (plurieval sample)")

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "content_hash": self.content_hash, "sample": self.is_sample,
                "records": dict(self.record_counts), "entities": sum(e.kind == "entity" for e in self.entities.values()),
                "categories": sum(e.kind == "category" for e in self.entities.values())}

    # --- the index the linker scans with ----------------------------------------------------------

    def match_index(self, language: str, domain: str, linker: LinkerConfig | None = None) -> SurfaceIndex:
        linker = linker or LinkerConfig()
        langs = self._label_languages(language, linker)
        key = (language, domain, langs, linker.fold_case, tuple(linker.fold_diacritics), linker.min_chars,
               linker.min_chars_unspaced, linker.categories)
        if key not in self._indexes:
            self._indexes[key] = self._build_index(language, domain, langs, linker)
        return self._indexes[key]

    def _label_languages(self, language: str, linker: LinkerConfig) -> tuple[str, ...]:
        if linker.label_languages == "all":
            every = sorted({lang for e in self.entities.values() for lang in e.labels})
            own = label_languages(language)
            return own + tuple(x for x in every if x not in own)
        own = label_languages(language)
        if linker.label_languages == "prompt+en":
            return own + tuple(x for x in label_languages("en") if x not in own)
        return own

    def _build_index(self, language: str, domain: str, langs: Sequence[str], linker: LinkerConfig) -> SurfaceIndex:
        norm = Normalizer(language, fold_case=linker.fold_case,
                          fold_languages=tuple(linker.fold_diacritics or DEFAULT_FOLD_LANGUAGES))
        rank = {lang: i for i, lang in enumerate(langs)}
        surfaces: dict[str, list[Surface]] = {}
        for entity in self.entities.values():
            if entity.domain != domain or (entity.kind == "category" and not linker.categories):
                continue
            for lang, names in entity.labels.items():
                if lang not in rank:
                    continue
                unlatin = lang.split("-")[0] in NON_LATIN_LANGUAGES
                for name in names:
                    if "#" in name or (unlatin and name.isascii()) or name.lower() in JUNK_NAMES:
                        continue  # a section anchor, an English word among another script's names, a field name
                    k = norm.key(name)
                    if not script_min_length(k, continuous=linker.min_chars_unspaced, other=linker.min_chars):
                        continue
                    if _JUNK.match(k) or k.replace(" ", "").isdigit():
                        continue
                    entries = surfaces.setdefault(k, [])
                    if not any(s.entity == entity.id for s in entries):
                        entries.append(Surface(entity.id, entity.kind, name in entity.primary, rank[lang], name, lang))
                    else:  # keep the best (lowest-rank, primary) reading of a name per entity
                        i = next(i for i, s in enumerate(entries) if s.entity == entity.id)
                        old = entries[i]
                        if (rank[lang], name not in entity.primary) < (old.rank, not old.primary):
                            entries[i] = Surface(entity.id, entity.kind, name in entity.primary, rank[lang], name, lang)
        lengths: dict[str, set[int]] = {}
        for k in surfaces:
            lengths.setdefault(k[0], set()).add(len(k))
        return SurfaceIndex(norm, surfaces, {c: sorted(v, reverse=True) for c, v in lengths.items()})

    # --- the role's generic interface -------------------------------------------------------------

    def lookup(self, query: str, language: str = "en", domain: str | None = None) -> list[dict[str, Any]]:
        """Entities and categories whose name (in ``language`` or English) equals ``query``
        after normalisation; one dict per candidate (``id``, ``kind``, ``label``, ``origin``, ...)."""
        out = []
        for dom in [domain] if domain else list(OFFLINE_TOPICS):
            index = self.match_index(language, dom)
            for s in index.surfaces.get(index.normalizer.key(query), []):
                out.append(self.describe_entity(s.entity) | {"label": s.label, "label_language": s.language})
        return out

    def describe_entity(self, entity_id: str) -> dict[str, Any]:
        e = self.entities[entity_id]
        out: dict[str, Any] = {"id": e.id, "kind": e.kind, "domain": e.domain}
        if e.kind == "entity":
            out.update(origin=list(e.origin), origin_source=e.origin_source)
            if e.observed:
                out["observed"] = list(e.observed)
        return out

    def entities_in(self, domain: str) -> Iterable[Entity]:
        return (e for e in self.entities.values() if e.domain == domain)


_JUNK = re.compile(r"^(list of|liste (de|der|des)|lista de) ")
