"""Entity linking: generated text → the knowledge base's entities and categories.

Two ways in, one record out:

- **Scanning** (gazetteer knowledge bases, ``match_index``): every name of the topic's domain in
  the label languages is looked for in the normalised text (``text.py``: case and diacritics
  folding where the language allows, word boundaries for scripts written with spaces,
  substrings for Han, Kana and Thai). All matches are collected, then accepted **longest
  first**, never overlapping an accepted one, so "chicken tikka masala" wins over "tikka
  masala" and "masala".
- **Phrases** (``link_phrase``: the Wikidata backend; or any knowledge base after the optional
  LLM extraction step): each phrase is linked on its own.

A name that is a **category word** ("noodle soup", "flatbread", "festival") links as a category,
unless it is also the own name of a dish in the knowledge base ("pizza", "sushi"), which then
wins. A name that fits several entities is resolved by: an origin in the prompt's country
(``prefer_target_origin``), the record's own name over an alias, a name in the text's own
language over an English one, then the lowest id — and the number of candidates is recorded.

Each link is a plain dict (it goes into ``results.jsonl`` verbatim)::

    {"surface": "Sushi", "start": 12, "end": 17, "kind": "entity", "id": "enwiki:Sushi",
     "label": "Sushi", "label_language": "en", "candidates": 1,
     "origin": ["Q17"], "origin_source": "worldcuisines"}

Holidays carry ``observed`` (the observing countries, when at most ``max_observed``) and
``observed_count`` instead of an origin; categories carry no origin.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from .config import LinkerConfig
from .text import boundary_ok, is_continuous, is_word_char

EXTRACTION_PROMPT = (
    "List every {what} named in the text below, one per line, exactly as the text writes it "
    "(in the text's language). Write nothing else. If the text names none, write NONE.\n\nText: {text}"
)
TOPIC_WHAT = {
    "food": "dish, food or type of dish",
    "festivals": "holiday, festival or celebration",
    "clothing": "garment, clothing item or clothing style",
    "music": "song, music genre, musical instrument or musician",
    "books": "book, literary work, literary genre or author",
    "sports": "sport or type of sport",
}


def extraction_prompt(text: str, topic: str) -> str:
    return EXTRACTION_PROMPT.format(what=TOPIC_WHAT.get(topic, "culture-related name"), text=text)


_BULLET = re.compile(r"^\s*(?:[-*•·]+|\d+\s*[.)．、]|[a-z][.)])\s*", re.IGNORECASE)


def parse_extraction(reply: str, max_chars: int = 80) -> list[str]:
    """Phrases of an extraction reply: one per line, bullets and numbering stripped, quotes and
    trailing punctuation removed, "NONE" and over-long lines dropped, duplicates removed."""
    out: list[str] = []
    for line in reply.splitlines():
        line = _BULLET.sub("", line).strip().strip("\"'“”‘’「」『』*").rstrip(".,;:。、，").strip()
        if not line or line.upper() in ("NONE", "NONE.", "N/A") or len(line) > max_chars:
            continue
        if line not in out:
            out.append(line)
    return out


_SPLIT = re.compile(r"[\n\r;,，、。！？!?:：()（）\[\]「」『』\"“”]+|\s+(?:and|or|und|oder|et|ou|y|e|o|ve|и|или)\s+|\s+-\s+")


def candidate_phrases(text: str, max_words: int = 6, max_chars: int = 40) -> list[str]:
    """Without an extraction step, the phrases a phrase-based backend looks up: list items and
    comma-separated parts of the answer, at most ``max_words`` words. A heuristic: answers of
    the "name some dishes" kind are lists; prose answers yield fewer, noisier phrases."""
    out: list[str] = []
    for part in _SPLIT.split(text):
        part = _BULLET.sub("", part).strip().strip("*'\"").strip()
        if not part or len(part) > max_chars or len(part.split()) > max_words:
            continue
        if part not in out:
            out.append(part)
    return out


def target_qids(reference: dict[str, Any]) -> list[str]:
    """The QIDs that stand for the prompt's country when resolving ambiguous names."""
    return [q for q in [reference.get("country_qid"), *(reference.get("equivalents") or [])] if q]


def _find(text: str, phrase: str, cursor: int) -> int:
    """Where ``phrase`` occurs in ``text`` (after ``cursor`` first, then anywhere; exact case
    first, then ignoring case), or -1."""
    if not phrase:
        return -1
    pattern = re.compile(re.escape(phrase), re.IGNORECASE)
    for hit in (text.find(phrase, cursor), text.find(phrase)):
        if hit >= 0:
            return hit
    for start in (cursor, 0):
        m = pattern.search(text, start)
        if m and len(m.group(0)) == len(phrase):
            return m.start()
    return -1


def _natural(entity_id: str) -> tuple[Any, ...]:
    return tuple(int(x) if x.isdigit() else x for x in re.split(r"(\d+)", entity_id))


class Linker:
    """Links texts against one knowledge base with one ``LinkerConfig``."""

    def __init__(self, kb: Any, config: LinkerConfig | None = None):
        self.kb = kb
        self.config = config or LinkerConfig()

    @property
    def scans(self) -> bool:
        return hasattr(self.kb, "match_index")

    # --- scanning ---------------------------------------------------------------------------------

    def link(self, text: str, *, language: str, topic: str, target: Sequence[str] = (),
             prompt: str | None = None) -> list[dict[str, Any]]:
        """Links found in ``text`` (a prompt-language answer about ``topic``), in text order.
        ``target``: QIDs of the prompt's country (used only to resolve ambiguous names);
        ``prompt``: the question, whose own entities and categories are not counted in the
        answer (``exclude_prompt_terms``)."""
        if not self.scans:
            links = self.link_phrases(candidate_phrases(text), text, language=language, topic=topic, target=target)
        else:
            links = self._scan(text, language=language, topic=topic, target=target)
        return self._without_prompt_terms(links, prompt, language, topic)

    def _without_prompt_terms(self, links: list[dict[str, Any]], prompt: str | None, language: str,
                              topic: str) -> list[dict[str, Any]]:
        if not prompt or not self.config.exclude_prompt_terms or not links or not self.scans:
            return links
        asked = {x["id"] for x in self._scan(prompt, language=language, topic=topic, target=())}
        return [x for x in links if x["id"] not in asked]

    def _scan(self, text: str, *, language: str, topic: str, target: Sequence[str]) -> list[dict[str, Any]]:
        index = self.kb.match_index(language, topic, self.config)
        norm = index.normalizer.normalize(text)
        s = norm.text
        base = language.split("-")[0]
        suffixing = base in {x.split("-")[0] for x in self.config.suffixing}
        arabic = base in ("ar", "fa", "ur")
        found: list[tuple[int, int]] = []
        for i, ch in enumerate(s):
            lengths = index.lengths.get(ch)
            if not lengths or (i and not arabic and is_word_char(s[i - 1]) and is_word_char(ch)
                               and not is_continuous(ch) and not is_continuous(s[i - 1])):
                continue  # not where a name can start (inside a word of a spaced script)
            for length in lengths:
                j = i + length
                if j <= len(s) and s[i:j] in index.surfaces and boundary_ok(s, i, j, suffixing=suffixing,
                                                                           arabic_prefixes=arabic):
                    found.append((i, j))
        taken = [False] * len(s)
        accepted: list[tuple[int, int]] = []
        for i, j in sorted(found, key=lambda m: (-(m[1] - m[0]), m[0])):  # longest first, then leftmost
            if not any(taken[i:j]):
                accepted.append((i, j))
                for k in range(i, j):
                    taken[k] = True
        links = []
        for i, j in sorted(accepted):
            start, end = norm.span(i, j)
            link = self._resolve(index.surfaces[s[i:j]], target)
            links.append({"surface": text[start:end], "start": start, "end": end, **link})
        return links

    def _resolve(self, entries: Sequence[Any], target: Sequence[str]) -> dict[str, Any]:
        cats = [e for e in entries if e.kind == "category"]
        ents = [e for e in entries if e.kind != "category"]
        if cats and not any(e.primary for e in ents):
            chosen = min(cats, key=lambda e: (e.rank, _natural(e.entity)))
        else:
            wanted = set(target) if self.config.prefer_target_origin else set()

            def order(e: Any) -> tuple[Any, ...]:
                ent = self.kb.entities[e.entity]
                at_home = bool(wanted & (set(ent.origin) | set(ent.observed)))
                return (not at_home, not e.primary, e.rank, _natural(e.entity))

            chosen = min(ents, key=order)
        out: dict[str, Any] = {"kind": chosen.kind, "id": chosen.entity, "label": chosen.label,
                               "label_language": chosen.language, "candidates": len(entries)}
        return out | self._facts(chosen.entity)

    def _facts(self, entity_id: str) -> dict[str, Any]:
        ent = self.kb.entities[entity_id]
        if ent.kind == "category":
            return {}
        out: dict[str, Any] = {"origin": list(ent.origin), "origin_source": ent.origin_source}
        if ent.origin_source == "holidays:observed_in":
            out["observed_count"] = len(ent.observed)
            if len(ent.observed) <= self.config.max_observed:
                out["observed"] = list(ent.observed)
        return out

    # --- phrases ----------------------------------------------------------------------------------

    def link_phrases(self, phrases: Sequence[str], text: str, *, language: str, topic: str,
                     target: Sequence[str] = (), prompt: str | None = None) -> list[dict[str, Any]]:
        """Links of extracted phrases. A gazetteer scans each phrase (so "sushi and ramen" gives
        two links); a phrase-based backend links the phrase as a whole. ``start``/``end`` locate
        the phrase in ``text`` when it occurs there verbatim, else they are ``None``."""
        links: list[dict[str, Any]] = []
        cursor = 0
        for phrase in phrases:
            pos = _find(text, phrase, cursor)
            if pos >= 0:
                cursor = pos + len(phrase)
            if self.scans:
                for link in self._scan(phrase, language=language, topic=topic, target=target):
                    if pos >= 0:
                        link["start"], link["end"] = link["start"] + pos, link["end"] + pos
                    else:
                        link["start"] = link["end"] = None
                    link["phrase"] = phrase
                    links.append(link)
                continue
            found = self.kb.link_phrase(phrase, language=language, topic=topic)
            if found is None:
                continue
            links.append({"surface": phrase, "start": pos if pos >= 0 else None,
                          "end": pos + len(phrase) if pos >= 0 else None, "phrase": phrase, **found})
        return self._without_prompt_terms(links, prompt, language, topic)
