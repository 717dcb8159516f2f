"""registry.yaml must agree with what the installed first-party plugins register."""

from pathlib import Path

import yaml

from plurieval.catalogue import catalogue_diff, render_catalogue
from plurieval.host import PluginHost

REGISTRY = Path(__file__).resolve().parents[2] / "registry.yaml"


def test_registry_yaml_matches_installed_plugins():
    host = PluginHost()
    assert not host.errors, [str(e) for e in host.errors]
    problems = catalogue_diff(REGISTRY.read_text(encoding="utf-8"), render_catalogue(host))
    assert problems == [], "registry.yaml drifted; run `plurieval registry --write`:\n" + "\n".join(problems)


def test_catalogue_entries_carry_required_fields():
    catalogue = yaml.safe_load(REGISTRY.read_text(encoding="utf-8"))
    assert catalogue, "registry.yaml is empty"
    for section, entries in catalogue.items():
        for entry in entries:
            for key in ("name", "kind", "version", "description", "license", "citation", "languages"):
                assert key in entry, f"{section}/{entry.get('name')} lacks {key}"
            assert entry["description"], f"{section}/{entry['name']} needs a one-line description"


def test_drift_is_detected():
    text = "benchmarks:\n- name: ghost\n  kind: benchmark\n  version: '1'\n"
    problems = catalogue_diff(text, "benchmarks:\n- name: real\n  kind: benchmark\n  version: '1'\n")
    assert any("ghost is in the catalogue" in p for p in problems)
    assert any("real is registered but missing" in p for p in problems)
