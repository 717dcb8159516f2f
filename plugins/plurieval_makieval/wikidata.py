"""The Wikidata backend (resource ``wikidata``, role ``knowledge_base``): for users online, and
for the topics the offline KB does not cover (clothing, music, books, sports).

A phrase is linked as MAKIEval does it, in three requests, each cached on disk by its URL:

1. ``wbsearchentities`` (MediaWiki Action API) — candidate items for the phrase, in the text's
   language, then in English if nothing fits;
2. SPARQL domain check — is a candidate an *instance* of the topic's classes
   (``wdt:P31/wdt:P279*``, or MAKIEval's ``wdt:P31|wdt:P279*``) — a specific entity — or only a
   *subclass* of one (``wdt:P279*``) — a category? The first candidate in search order that is
   either wins;
3. SPARQL origin — the values of P495 (country of origin), else P17 (country).

Requests carry a User-Agent (Wikimedia policy) and are retried on HTTP 429/5xx after the
``Retry-After`` the server sends. With ``offline: true`` only cached responses are used. A cached
file that does not parse is discarded and fetched again (never trusted as it is).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from plurieval.api import PluriError, cache_root, content_hash

from .config import WikidataConfig

log = logging.getLogger("plurieval.makieval")

_QID = re.compile(r"^Q[1-9][0-9]*$")
_ENTITY_URI = re.compile(r"^https?://www\.wikidata\.org/entity/(Q[1-9][0-9]*)$")


def qid_of(uri: str) -> str | None:
    m = _ENTITY_URI.match(uri or "")
    return m.group(1) if m else None


def classify_query(qids: list[str], classes: list[str], path: str) -> str:
    """SPARQL: for each item, 1/0 whether it is an instance (``instance``) or a subclass
    (``subclass``) of any of ``classes``."""
    instance_path = "wdt:P31/wdt:P279*" if path == "P31/P279*" else "wdt:P31"
    items = " ".join(f"wd:{q}" for q in qids)
    cls = " ".join(f"wd:{c}" for c in classes)
    return ("SELECT ?item (MAX(?i) AS ?instance) (MAX(?s) AS ?subclass) WHERE {\n"
            f"  VALUES ?item {{ {items} }}\n  VALUES ?class {{ {cls} }}\n"
            f"  {{ ?item {instance_path} ?class . BIND(1 AS ?i) BIND(0 AS ?s) }}\n"
            "  UNION\n  { ?item wdt:P279* ?class . BIND(0 AS ?i) BIND(1 AS ?s) }\n"
            "} GROUP BY ?item")


def origin_query(qids: list[str], properties: list[str]) -> str:
    """SPARQL: (item, property, country) for each origin property."""
    items = " ".join(f"wd:{q}" for q in qids)
    unions = "\n  UNION\n".join(f'  {{ ?item wdt:{p} ?country . BIND("{p}" AS ?prop) }}' for p in properties)
    return f"SELECT ?item ?prop ?country WHERE {{\n  VALUES ?item {{ {items} }}\n{unions}\n}}"


class ResponseCache:
    """One JSON file per request URL under ``folder`` (atomic writes)."""

    def __init__(self, folder: Path):
        self.folder = folder

    def _path(self, url: str) -> Path:
        digest = hashlib.sha256(url.encode()).hexdigest()
        return self.folder / digest[:2] / f"{digest}.json"

    def get(self, url: str) -> Any:
        path = self._path(url)
        if not path.is_file():
            return None
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
            if entry.get("url") != url:
                raise ValueError("belongs to another URL")
            return entry["body"]
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as err:
            log.warning("wikidata cache: %s is unreadable (%s); fetching again", path, err)
            path.unlink(missing_ok=True)
            return None

    def put(self, url: str, body: Any) -> None:
        path = self._path(url)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"url": url, "fetched_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "body": body},
                                  ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)


class WikidataKB:
    name = "wikidata"

    def __init__(self, config: WikidataConfig):
        self.config = config
        folder = Path(config.cache_dir).expanduser() if config.cache_dir else cache_root() / "wikidata"
        self.cache = ResponseCache(folder)
        self.requests = 0  # network requests made (cache misses)

    def describe(self) -> dict[str, Any]:
        cfg = self.config
        identity = {"api_url": cfg.api_url, "sparql_url": cfg.sparql_url, "domain_path": cfg.domain_path,
                    "topic_classes": cfg.topic_classes, "origin_properties": cfg.origin_properties}
        # Wikidata changes every minute: the hash identifies the *queries*, not the answers.
        return {"name": self.name, "content_hash": content_hash(identity), **identity}

    def dataset_info(self) -> Any:
        from plurieval.api import DatasetInfo

        return DatasetInfo(id=self.name, revision=None, content_hash=self.describe()["content_hash"], split=None,
                           num_examples=0, source=self.config.api_url, license="CC0")

    @property
    def topics(self) -> tuple[str, ...]:
        return tuple(self.config.topic_classes)

    # --- HTTP ----------------------------------------------------------------------------------

    def _get(self, url: str, accept: str) -> Any:
        cached = self.cache.get(url)
        if cached is not None:
            return cached
        if self.config.offline:
            raise PluriError(f"wikidata: {url[:160]} is not in the cache ({self.cache.folder}) and offline=true; "
                             f"run once online, or copy the cache folder here")
        request = urllib.request.Request(url, headers={"User-Agent": self.config.user_agent, "Accept": accept})
        for attempt in range(self.config.retries + 1):
            try:
                with urllib.request.urlopen(request, timeout=self.config.timeout) as resp:  # noqa: S310 - configured endpoint
                    raw = resp.read()
                break
            except urllib.error.HTTPError as err:
                if err.code in (429, 500, 502, 503, 504) and attempt < self.config.retries:
                    wait = _retry_after(err.headers.get("Retry-After"), attempt)
                    log.warning("wikidata: HTTP %s, retrying in %.1f s", err.code, wait)
                    time.sleep(wait)
                    continue
                raise PluriError(f"wikidata: HTTP {err.code} for {url[:160]}") from None
            except (urllib.error.URLError, OSError) as err:
                reason = getattr(err, "reason", err)
                raise PluriError(f"wikidata: could not reach {urllib.parse.urlparse(url).netloc} ({reason}); without "
                                 f"network use the offline knowledge base (culture-kb) or offline=true with a filled "
                                 f"cache") from None
        self.requests += 1
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise PluriError(f"wikidata: the response to {url[:160]} is not JSON ({err})") from None
        if isinstance(body, dict) and "error" in body:  # the Action API reports errors with HTTP 200
            err = body["error"] if isinstance(body["error"], dict) else {}
            raise PluriError(f"wikidata API error {err.get('code')!r}: {err.get('info')}")
        self.cache.put(url, body)
        return body

    def _sparql(self, query: str) -> list[dict[str, Any]]:
        url = f"{self.config.sparql_url}?{urllib.parse.urlencode({'query': query, 'format': 'json'})}"
        body = self._get(url, "application/sparql-results+json")
        try:
            return list(body["results"]["bindings"])
        except (KeyError, TypeError):
            raise PluriError(f"wikidata: SPARQL response without results.bindings for {query[:80]!r}") from None

    # --- the three steps -------------------------------------------------------------------------

    def search(self, phrase: str, language: str) -> list[dict[str, Any]]:
        params = {"action": "wbsearchentities", "search": phrase, "language": language, "uselang": language,
                  "type": "item", "limit": str(self.config.search_limit), "format": "json"}
        body = self._get(f"{self.config.api_url}?{urllib.parse.urlencode(params)}", "application/json")
        results = body.get("search") if isinstance(body, dict) else None
        if not isinstance(results, list):
            raise PluriError(f"wikidata: wbsearchentities answered without a 'search' list for {phrase!r}")
        return [r for r in results if isinstance(r, dict) and _QID.match(str(r.get("id", "")))]

    def classify(self, qids: list[str], topic: str) -> dict[str, str]:
        """``{qid: "entity" | "category"}`` for the candidates in the topic's domain."""
        classes = self.config.topic_classes.get(topic)
        if not classes:
            raise PluriError(f"wikidata: no classes for topic {topic!r} (topic_classes has {', '.join(self.topics)})")
        out: dict[str, str] = {}
        for row in self._sparql(classify_query(qids, classes, self.config.domain_path)):
            qid = qid_of(row.get("item", {}).get("value", ""))
            if qid is None:
                continue
            if _flag(row.get("instance")):
                out[qid] = "entity"
            elif _flag(row.get("subclass")):
                out[qid] = "category"
        return out

    def origins(self, qids: list[str]) -> dict[str, tuple[list[str], str | None]]:
        """``{qid: (countries, property)}``: the first origin property (in order) that has values."""
        found: dict[str, dict[str, list[str]]] = {q: {} for q in qids}
        for row in self._sparql(origin_query(qids, self.config.origin_properties)):
            qid = qid_of(row.get("item", {}).get("value", ""))
            country = qid_of(row.get("country", {}).get("value", ""))
            prop = row.get("prop", {}).get("value")
            if qid in found and country and prop:
                values = found[qid].setdefault(prop, [])
                if country not in values:
                    values.append(country)
        out = {}
        for qid, by_prop in found.items():
            prop = next((p for p in self.config.origin_properties if by_prop.get(p)), None)
            out[qid] = (sorted(by_prop[prop]) if prop else [], prop)
        return out

    def link_phrase(self, phrase: str, *, language: str, topic: str) -> dict[str, Any] | None:
        """The link of one phrase (see the module docstring), or ``None`` when no candidate is in
        the topic's domain."""
        for lang in dict.fromkeys([language, "en"]):
            candidates = self.search(phrase, lang)
            if not candidates:
                continue
            kinds = self.classify([c["id"] for c in candidates], topic)
            chosen = next((c for c in candidates if c["id"] in kinds), None)
            if chosen is None:
                continue
            qid, kind = chosen["id"], kinds[chosen["id"]]
            match = chosen.get("match") if isinstance(chosen.get("match"), dict) else {}
            link: dict[str, Any] = {"kind": kind, "id": qid, "label": chosen.get("label") or match.get("text") or phrase,
                                    "label_language": match.get("language") or lang, "candidates": len(candidates)}
            if kind == "entity":
                countries, prop = self.origins([qid])[qid]
                link.update(origin=countries, origin_source=prop)
            return link
        return None

    def lookup(self, query: str, language: str = "en", domain: str | None = None) -> list[dict[str, Any]]:
        """The role's generic interface: the link of ``query`` as a one-element list (or empty)."""
        found = self.link_phrase(query, language=language, topic=domain or "food")
        return [found] if found else []


def _flag(binding: Any) -> bool:
    return isinstance(binding, dict) and str(binding.get("value")) in ("1", "true")


def _retry_after(header: str | None, attempt: int) -> float:
    try:
        return min(float(header), 60.0) if header is not None else min(2.0 ** attempt, 30.0)
    except ValueError:
        return min(2.0 ** attempt, 30.0)
