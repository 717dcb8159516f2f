"""Shared fixtures: the self-written sample knowledge base shipped with the plugin (stable, small)
and a linker over it."""

from __future__ import annotations

import pytest

from plurieval_makieval.config import CultureKBConfig, LinkerConfig
from plurieval_makieval.kb import SAMPLE_DIR, CultureKB
from plurieval_makieval.linking import Linker


@pytest.fixture(scope="session")
def sample_kb() -> CultureKB:
    return CultureKB(CultureKBConfig(data_dir=str(SAMPLE_DIR)))


@pytest.fixture(scope="session")
def linker(sample_kb: CultureKB) -> Linker:
    return Linker(sample_kb, LinkerConfig())


@pytest.fixture(scope="session")
def found(linker: Linker):
    """``found(text, language, topic="food", target=())`` → (surface, kind, id) of every link, in
    text order; checks on the way that each recorded span is exactly the surface."""

    def run(text: str, language: str, topic: str = "food", target=()) -> list[tuple[str, str, str]]:
        links = linker.link(text, language=language, topic=topic, target=list(target))
        for link in links:
            assert text[link["start"]:link["end"]] == link["surface"], link
        return [(x["surface"], x["kind"], x["id"]) for x in links]

    return run
