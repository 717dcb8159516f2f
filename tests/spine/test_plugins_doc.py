"""docs/plugins.md is the reference of the plugin contract: every hook, spec field, component and
steering-protocol type, run-context collaborator, resource role and ``plurieval.api`` name has
its place there, and this test fails when one is added without documentation (the way
datasette's documentation test checks its plugin hooks)."""

from __future__ import annotations

import dataclasses
import inspect
import re
from pathlib import Path

import pytest

from plurieval import components, hookspecs
from plurieval.resources import ROLES
from plurieval.specs import SPEC_TYPES, ComponentSpec

DOC = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"


def sections() -> dict[str, str]:
    """``### `name` `` headings → the text up to the next heading."""
    out: dict[str, str] = {}
    name = None
    for line in DOC.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"^#{2,3} ", line)
        if heading:
            m = re.match(r"^### `([^`]+)`", line)
            name = m.group(1) if m else None
            if name:
                out[name] = ""
            continue
        if name:
            out[name] += line + "\n"
    return out


SECTIONS = sections()
HOOKS = sorted(n for n, f in inspect.getmembers(hookspecs, inspect.isfunction) if hasattr(f, "plurieval_spec"))


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_section(hook: str) -> None:
    assert hook in SECTIONS, f"docs/plugins.md needs a '### `{hook}`' section"
    assert len(SECTIONS[hook].strip()) > 40, f"say when {hook} is called and what it returns"


@pytest.mark.parametrize("spec", [ComponentSpec, *SPEC_TYPES.values()], ids=lambda s: s.__name__)
def test_every_spec_field_is_documented_in_its_section(spec: type) -> None:
    body = SECTIONS.get(spec.__name__)
    assert body is not None, f"docs/plugins.md needs a '### `{spec.__name__}`' section"
    missing = [f.name for f in dataclasses.fields(spec) if f"`{f.name}`" not in body]
    assert not missing, f"{spec.__name__} fields not documented in its section: {missing}"


@pytest.mark.parametrize("name", components.__all__)
def test_every_component_and_protocol_type_has_a_section(name: str) -> None:
    assert name in SECTIONS, f"docs/plugins.md needs a '### `{name}`' section (plurieval.components.{name})"


@pytest.mark.parametrize("name", ["Components", "Inference", "Records", "Provenance", "RunView", "ModelWork",
                                  "DirectionMethod", "DirectionConfig"])
def test_run_context_collaborators_and_steering_bases_have_sections(name: str) -> None:
    assert name in SECTIONS


@pytest.mark.parametrize("role", sorted(ROLES))
def test_every_resource_role_has_a_section(role: str) -> None:
    assert role in SECTIONS, f"docs/plugins.md needs a '### `{role}`' section (resource role)"


def test_every_api_name_is_documented() -> None:
    import plurieval.api as api

    text = DOC.read_text(encoding="utf-8")
    missing = [n for n in api.__all__ if f"`{n}`" not in text]
    assert not missing, f"plurieval.api names missing from docs/plugins.md: {missing}"


def test_the_checks_can_fail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A section that loses a field is caught (the parser is not vacuous)."""
    broken = DOC.read_text(encoding="utf-8").replace("| `higher_is_better` |", "| higher is better |")
    monkeypatch.setattr(f"{__name__}.DOC", tmp_path / "plugins.md")
    (tmp_path / "plugins.md").write_text(broken, encoding="utf-8")
    body = sections()["MetricSpec"]
    assert "`needs`" in body and "`higher_is_better`" not in body
