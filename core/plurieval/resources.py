"""Shared scoring backends looked up by role: a metric asks for ``"language_identifier"`` or
``"embedder"`` (optionally by name, with params) and never hard-codes one. Instances are built
once per process and shared by every metric that asks for the same (name, params).

Each role is a typed protocol below (``ROLES`` maps role name → protocol); a
``ResourceSpec(provides=ROLE)`` factory returns an object implementing it.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from plurieval.errors import PluriError
from plurieval.hashing import content_hash


@runtime_checkable
class LanguageIdentifier(Protocol):
    """Role ``language_identifier``: ISO 639-1 codes per text ("und" when undecidable, e.g.
    empty text); ``languages``: the codes it can return."""

    languages: Any

    def detect(self, texts: list[str]) -> list[str]: ...


@runtime_checkable
class Embedder(Protocol):
    """Role ``embedder``: one L2-normalised row per text (``numpy.ndarray [n, dim]``), so a dot
    product is a cosine similarity."""

    def encode(self, texts: list[str]) -> Any: ...


@runtime_checkable
class Judge(Protocol):
    """Role ``judge``: the judge model's raw reply to each prompt (metrics parse it and keep the
    reply in their per-example details, so a score is recomputable without the judge)."""

    def judge(self, prompts: list[str]) -> list[str]: ...


@runtime_checkable
class KnowledgeBase(Protocol):
    """Role ``knowledge_base``: ``lookup(query, language, domain)`` gives the entities a name may
    denote (dicts with ``id``, ``kind`` entity/category, ``origin``); ``describe()`` names the
    source (``name``, ``content_hash``); ``topics`` the domains it covers. A gazetteer adds
    ``match_index(language, domain, linker)`` for scanning text, a phrase-based backend
    ``link_phrase(phrase, language=, topic=)`` (``culture-kb`` and ``wikidata`` in
    plurieval_makieval)."""

    topics: Any

    def lookup(self, query: str, language: str, domain: str) -> list[dict[str, Any]]: ...

    def describe(self) -> dict[str, Any]: ...


ROLES: dict[str, type] = {
    "language_identifier": LanguageIdentifier,
    "embedder": Embedder,
    "judge": Judge,
    "knowledge_base": KnowledgeBase,
}


class Resources:
    _instances: dict[str, Any] = {}

    def __init__(self, host: Any):
        self.host = host

    @classmethod
    def default(cls) -> Resources:
        """Resources of the process-wide plugin host (for a metric scored outside a run)."""
        from plurieval.host import get_host

        return cls(get_host())

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
