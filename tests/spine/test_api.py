"""``plurieval.api`` is all a plugin may import: first-party plugins use exactly that contract."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLUGIN_DIRS = sorted(p for p in (ROOT / "plugins").iterdir() if p.is_dir() and p.name.startswith("plurieval_"))
EXAMPLE = ROOT / "tests" / "third_party_plugin" / "plurieval_example"


def _core_imports(path: Path) -> list[str]:
    """``plurieval.X`` modules (other than ``plurieval.api``) a file imports, with line numbers."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for name in names:
            if (name == "plurieval" or name.startswith("plurieval.")) and name != "plurieval.api":
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {name}")
    return found


@pytest.mark.parametrize("folder", [*PLUGIN_DIRS, EXAMPLE], ids=lambda p: p.name)
def test_plugins_import_only_the_public_api(folder: Path) -> None:
    bad = [hit for f in sorted(folder.rglob("*.py")) for hit in _core_imports(f)]
    assert not bad, "import these through plurieval.api instead:\n" + "\n".join(bad)


def test_every_exported_name_resolves() -> None:
    import plurieval.api as api

    for name in api.__all__:
        assert getattr(api, name) is not None, name
    with pytest.raises(AttributeError, match="plurieval.api has no 'nope'"):
        api.nope  # noqa: B018


def test_contract_names_do_not_import_torch() -> None:
    code = ("import sys\nfrom plurieval.api import hookimpl, MethodSpec, Metric, Example, CommaList, PluriError\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
