"""Shared scoring backends looked up by role: a metric asks for ``"language_identifier"`` or
``"embedder"`` (optionally by name, with params) and never hard-codes one. Instances are built
once per process and shared by every metric that asks for the same (name, params).

Roles and the interface each implements (duck-typed):

- ``language_identifier``: ``detect(texts: list[str]) -> list[str]`` (ISO 639-1 codes, "und"
  when undecidable); ``languages`` (codes it can return).
- ``embedder``: ``encode(texts: list[str]) -> numpy.ndarray`` (L2-normalised rows).
- ``judge``: ``judge(prompts: list[str]) -> list[str]`` (raw judge text).
- ``knowledge_base``: ``lookup(query, language, domain) -> list[dict]`` (the entities a name
  may denote: ``id``, ``kind`` entity/category, ``origin``), ``describe()`` (``name``,
  ``content_hash``) and ``topics``; a gazetteer adds ``match_index(language, domain, linker)``
  for scanning text, a phrase-based backend ``link_phrase(phrase, language=, topic=)``
  (``culture-kb`` and ``wikidata`` in plurieval_makieval).
"""

from __future__ import annotations

from typing import Any

from plurieval.errors import PluriError
from plurieval.hashing import content_hash


class Resources:
    _instances: dict[str, Any] = {}

    def __init__(self, host: Any):
        self.host = host

    def spec(self, provides: str, name: str | None = None) -> Any:
        if name:
            spec = self.host.get("resource", name)
            if spec.provides != provides:
                raise PluriError(f"resource {name!r} provides {spec.provides!r}, not {provides!r}")
            return spec
        candidates = self.host.registry.resources(provides)
        if not candidates:
            raise PluriError(f"no resource provides {provides!r}; install a plugin that registers one")
        defaults = [s for s in candidates if s.default]
        return (defaults or candidates)[0]

    def get(self, provides: str, name: str | None = None, params: dict[str, Any] | None = None) -> Any:
        spec = self.spec(provides, name)
        config = spec.make_config(params or {}, where=f"resource {spec.name!r}")
        key = f"{spec.qualified_name}:{content_hash(config)}"
        if key not in Resources._instances:
            Resources._instances[key] = spec.create(config)
        return Resources._instances[key]

    def describe(self, provides: str, name: str | None = None, params: dict[str, Any] | None = None) -> dict[str, Any]:
        spec = self.spec(provides, name)
        return {"name": spec.qualified_name, "version": spec.version,
                "config": spec.make_config(params or {}).model_dump(mode="json")}
