"""The Wikidata backend against a local HTTP server (127.0.0.1) that answers with responses
written by hand in the real formats (tests/makieval/data/wikidata_recorded.json): the
MediaWiki Action API's wbsearchentities and the Query Service's SPARQL JSON results."""

from __future__ import annotations

import json
import re
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from plurieval.errors import PluriError
from plurieval_makieval.config import WikidataConfig
from plurieval_makieval.linking import Linker
from plurieval_makieval.wikidata import WikidataKB, classify_query, origin_query

RECORDED = json.loads((Path(__file__).parent / "data" / "wikidata_recorded.json").read_text(encoding="utf-8"))


class RecordedWikidata(BaseHTTPRequestHandler):
    """Serves the recorded responses; remembers every request (path, params, headers)."""

    log: list[dict] = []
    busy_once: set[str] = set()

    def log_message(self, *args):  # quiet
        pass

    def _send(self, status: int, body: dict, headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802 - http.server's name
        url = urllib.parse.urlparse(self.path)
        params = {k: v[0] for k, v in urllib.parse.parse_qs(url.query).items()}
        type(self).log.append({"path": url.path, "params": params, "user_agent": self.headers.get("User-Agent"),
                               "accept": self.headers.get("Accept")})
        if url.path == "/w/api.php":
            assert params["action"] == "wbsearchentities" and params["format"] == "json" and params["type"] == "item"
            if params["search"] == "busy" and "busy" not in type(self).busy_once:
                type(self).busy_once.add("busy")
                return self._send(429, {"error": "too many requests"}, {"Retry-After": "0"})
            for entry in RECORDED["wbsearchentities"] + RECORDED["wbsearchentities_errors"]:
                # the real search ignores case
                if entry["search"].casefold() == params["search"].casefold() and entry["language"] == params["language"]:
                    return self._send(200, entry["response"])
            return self._send(200, {"searchinfo": {"search": params["search"]}, "search": [], "success": 1})
        if url.path == "/sparql":
            query = params["query"]
            block = re.search(r"VALUES \?item \{([^}]*)\}", query)
            items = re.findall(r"wd:(Q\d+)", block.group(1)) if block else []
            kind = "origin" if "?prop" in query else "classify"
            for entry in RECORDED["sparql"]:
                if entry["query"] == kind and entry["items"] == items:
                    return self._send(200, entry["response"])
            # items with no recorded statements: an empty but well-formed result
            head = ["item", "prop", "country"] if kind == "origin" else ["item", "instance", "subclass"]
            return self._send(200, {"head": {"vars": head}, "results": {"bindings": []}})
        return self._send(404, {"error": "not found"})


@pytest.fixture
def wikidata_server():
    RecordedWikidata.log = []
    RecordedWikidata.busy_once = set()
    server = ThreadingHTTPServer(("127.0.0.1", 0), RecordedWikidata)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    yield base, server
    server.shutdown()
    server.server_close()


def kb_for(base: str, cache: Path, **kw) -> WikidataKB:
    return WikidataKB(WikidataConfig(api_url=f"{base}/w/api.php", sparql_url=f"{base}/sparql", cache_dir=str(cache), **kw))


def test_queries_have_the_documented_shape():
    q = classify_query(["Q46383", "Q7652"], ["Q2095", "Q746549"], "P31/P279*")
    assert "VALUES ?item { wd:Q46383 wd:Q7652 }" in q and "VALUES ?class { wd:Q2095 wd:Q746549 }" in q
    assert "?item wdt:P31/wdt:P279* ?class" in q and "?item wdt:P279* ?class" in q and "GROUP BY ?item" in q
    assert "?item wdt:P31 ?class" in classify_query(["Q1"], ["Q2"], "P31|P279*")  # MAKIEval's one-hop form
    o = origin_query(["Q1"], ["P495", "P17"])
    assert '{ ?item wdt:P495 ?country . BIND("P495" AS ?prop) }' in o and "UNION" in o


def test_entity_with_p495_origin(wikidata_server, tmp_path):
    base, _ = wikidata_server
    kb = kb_for(base, tmp_path / "cache")
    link = kb.link_phrase("sushi", language="en", topic="food")
    # search → [Q46383 dish, Q7652 band]; domain check: only Q46383 is an instance of a food
    # class; origin: P495 (Japan) is used, P17 is only the fallback
    assert link == {"kind": "entity", "id": "Q46383", "label": "sushi", "label_language": "en", "candidates": 2,
                    "origin": ["Q17"], "origin_source": "P495"}
    requests = RecordedWikidata.log
    assert [r["path"] for r in requests] == ["/w/api.php", "/sparql", "/sparql"]
    assert all(r["user_agent"].startswith("plurieval-makieval/") for r in requests)
    assert requests[1]["accept"] == "application/sparql-results+json" and requests[1]["params"]["format"] == "json"
    assert "wd:Q2095" in requests[1]["params"]["query"]  # the food classes of MAKIEval's check


def test_category_p17_fallback_and_out_of_domain(wikidata_server, tmp_path):
    base, _ = wikidata_server
    kb = kb_for(base, tmp_path / "cache")
    assert kb.link_phrase("dish", language="en", topic="food") == {
        "kind": "category", "id": "Q746549", "label": "dish", "label_language": "en", "candidates": 1}
    kimono = kb.link_phrase("kimono", language="en", topic="clothing")
    assert kimono["origin"] == ["Q17"] and kimono["origin_source"] == "P17"  # no P495: the country (P17)
    assert kb.link_phrase("Tokyo", language="en", topic="food") is None      # a city is not a food
    assert kb.link_phrase("Sauerkraut", language="de", topic="food")["origin"] == ["Q142", "Q183"]


def test_search_falls_back_to_english(wikidata_server, tmp_path):
    base, _ = wikidata_server
    link = kb_for(base, tmp_path / "cache").link_phrase("寿司", language="ja", topic="food")
    assert link["id"] == "Q46383" and link["label_language"] == "en"
    assert [r["params"].get("language") for r in RecordedWikidata.log if r["path"] == "/w/api.php"] == ["ja", "en"]


def test_cache_serves_offline_and_refuses_what_it_lacks(wikidata_server, tmp_path):
    base, server = wikidata_server
    first = kb_for(base, tmp_path / "cache")
    link = first.link_phrase("sushi", language="en", topic="food")
    assert first.requests == 3
    server.shutdown()  # nothing can be fetched any more
    server.server_close()
    offline = kb_for(base, tmp_path / "cache", offline=True)
    assert offline.link_phrase("sushi", language="en", topic="food") == link and offline.requests == 0
    with pytest.raises(PluriError, match="not in the cache .* offline=true"):
        offline.link_phrase("kimono", language="en", topic="clothing")
    unreachable = kb_for(base, tmp_path / "other-cache")
    with pytest.raises(PluriError, match="could not reach 127.0.0.1"):
        unreachable.link_phrase("sushi", language="en", topic="food")


def test_corrupt_cache_entry_is_fetched_again(wikidata_server, tmp_path, caplog):
    base, _ = wikidata_server
    kb = kb_for(base, tmp_path / "cache")
    kb.link_phrase("sushi", language="en", topic="food")
    for path in (tmp_path / "cache").rglob("*.json"):
        path.write_text("{not json")
    again = kb_for(base, tmp_path / "cache")
    assert again.link_phrase("sushi", language="en", topic="food")["id"] == "Q46383"
    assert again.requests == 3 and "unreadable" in caplog.text


def test_rate_limit_is_retried_and_api_errors_are_named(wikidata_server, tmp_path):
    base, _ = wikidata_server
    kb = kb_for(base, tmp_path / "cache")
    assert kb.search("busy", "en")[0]["id"] == "Q46383"  # HTTP 429 with Retry-After: 0, then 200
    assert sum(r["params"].get("search") == "busy" for r in RecordedWikidata.log) == 2
    with pytest.raises(PluriError, match="wikidata API error 'badvalue'"):
        kb.search("BADREQUEST", "en")


def test_linker_uses_phrases_with_a_phrase_based_backend(wikidata_server, tmp_path):
    base, _ = wikidata_server
    kb = kb_for(base, tmp_path / "cache")
    text = "1. Sushi\n2. Tokyo street dishes\n3. dish"
    links = Linker(kb).link(text, language="en", topic="food", target=["Q17"])
    assert [(x["surface"], x["kind"], x["id"], x["start"]) for x in links] == [
        ("Sushi", "entity", "Q46383", 3), ("dish", "category", "Q746549", 35)]
    assert kb.describe()["content_hash"].startswith("sha256:")


def test_benchmark_runs_an_online_topic_through_the_backend(host, wikidata_server, tmp_path, monkeypatch):
    from plurieval.config import build_run_config
    from plurieval.runner import execute

    base, _ = wikidata_server
    monkeypatch.setenv("PLURIEVAL_CACHE_DIR", str(tmp_path / "cache"))
    params = {"languages": ["en"], "countries": ["JP"], "topics": ["clothing"], "max_new_tokens": 4,
              "knowledge_base": "wikidata",
              "knowledge_base_params": {"api_url": f"{base}/w/api.php", "sparql_url": f"{base}/sparql",
                                        "cache_dir": str(tmp_path / "wd")}}
    out = execute(build_run_config({"benchmark": {"name": "makieval", "params": params}, "model": "tiny", "limit": 1,
                                    "output_dir": str(tmp_path / "runs"), "tracking": {"enabled": False}}), host)
    assert out.summary["knowledge_base"]["name"] == "wikidata" and out.summary["protocol"]["topics"] == ["clothing"]
    manifest = json.loads((out.run_dir / "manifest.json").read_text())
    assert "wikidata" in {d["id"] for d in manifest["datasets"]}
