"""Acceptance: a real ChaosNLI run of the embedded default model (SmolLM2-135M-Instruct) becomes
an entry that passes validation and appears on the built board (repository's board.yaml)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from plurieval.config import build_run_config
from plurieval.errors import PluriError
from plurieval.host import PluginHost
from plurieval.leaderboard.build import build_board
from plurieval.leaderboard.schema import load_board
from plurieval.leaderboard.submit import build_entry
from plurieval.leaderboard.validate import validate_entry
from plurieval.runner import execute

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO.parent / "shared" / "data"  # beside the repository, in CI too; never copied into it


def _copy_board(name: str, tmp_path: Path) -> Path:
    board = tmp_path / "leaderboards" / name
    board.mkdir(parents=True)
    for item in (REPO / "leaderboards" / name).iterdir():
        if item.is_file() and item.suffix in (".yaml", ".json"):
            shutil.copy(item, board / item.name)
    return board


@pytest.fixture
def shared_data(monkeypatch):
    if not (SHARED_DATA / "hlv" / "mjd-chaosnli" / "test.json").is_file():
        pytest.skip(f"the shared data is not at {SHARED_DATA}")
    monkeypatch.setenv("PLURIEVAL_DATA_DIR", str(SHARED_DATA))


@pytest.mark.integration
def test_default_model_chaosnli_run_goes_on_the_board(tmp_path, shared_data, monkeypatch):
    host = PluginHost()
    board = _copy_board("chaosnli", tmp_path)
    config = build_run_config({"benchmark": "chaosnli", "model": "default", "limit": 20,
                               "output_dir": str(tmp_path / "runs"), "tracking": {"enabled": False}})
    run_dir = execute(config, host).run_dir

    entry_path = build_entry(run_dir, host, submitter="integration test", board_dir=board)
    report = validate_entry(entry_path, host)
    assert report.ok, report.problems
    entry = json.loads(entry_path.read_text())
    assert entry["model"]["id"] == "smollm2-135m-instruct" and entry["model"]["weights_hash"].startswith("sha256:")
    assert entry["method"]["name"] == "option-logits" and entry["results"]["num_rows"] == 20
    # Where the data cannot be read (it is CC BY-NC and not shipped), the board's published
    # per-row digests check the same entry.
    monkeypatch.delenv("PLURIEVAL_DATA_DIR")
    report = validate_entry(entry_path, host)
    assert report.ok, report.problems
    summary = json.loads((run_dir / "summary.json").read_text())
    assert entry["metrics"]["js_distance"]["value"] == pytest.approx(summary["metrics"]["js_distance"], abs=1e-12)

    built = build_board(board, host)
    assert [r.path for r in built.ranked] == [entry_path] and built.ranked[0].rank == 1
    assert "| option-logits | smollm2-135m-instruct | integration test |" in (board / "README.md").read_text()
    assert "smollm2-135m-instruct" in (board / "index.html").read_text()

    # The same run, one number edited: refused with the reason.
    entry["metrics"]["js_distance"]["value"] = 0.01
    entry_path.write_text(json.dumps(entry))
    assert any(p.startswith("metrics.js_distance.value") for p in validate_entry(entry_path, host).problems)


@pytest.mark.integration
def test_a_chaosnli_sample_run_is_refused_naming_the_data_to_use(tmp_path, monkeypatch):
    """The probe: without the shared data the benchmark falls back to its 4-item sample, and its
    manifest still says split `test`; that run used to validate on the ChaosNLI board."""
    monkeypatch.delenv("PLURIEVAL_DATA_DIR", raising=False)
    host = PluginHost()
    board = _copy_board("chaosnli", tmp_path)
    config = build_run_config({"benchmark": "chaosnli", "model": "default", "limit": 4,
                               "output_dir": str(tmp_path / "runs"), "tracking": {"enabled": False}})
    run_dir = execute(config, host).run_dir
    assert json.loads((run_dir / "manifest.json").read_text())["datasets"][0]["split"] == "test"
    with pytest.raises(PluriError) as exc:
        build_entry(run_dir, host, submitter="sample user", board_dir=board)
    data = str(exc.value)
    assert "data: the run read 'chaosnli-sample' split 'test'" in data, data
    assert "chaosnli_sample.jsonl" in data and "not the board's data: chaosnli-mnli split 'test'" in data
    assert "629 examples" in data and "PLURIEVAL_DATA_DIR" in data and "hlv/mjd-chaosnli/test.json" in data
    assert not list(board.glob("entries/*.json"))  # refused before anything was written


@pytest.mark.integration
def test_default_model_litex_run_goes_on_the_board(tmp_path, shared_data):
    """The LiTEx board (repository's board.yaml): a real run of the default model's label-conditioned
    explanations validates, with every row's chrF, BLEU and embedding cosine re-scored from its
    explanation, and a row whose explanation was swapped after scoring is refused by name."""
    host = PluginHost()
    board = _copy_board("litex", tmp_path)
    config = build_run_config({"benchmark": "litex", "model": "default", "limit": 4,
                               "output_dir": str(tmp_path / "runs"), "tracking": {"enabled": False}})
    run_dir = execute(config, host).run_dir
    entry_path = build_entry(run_dir, host, submitter="integration test", board_dir=board)
    report = validate_entry(entry_path, host)
    assert report.ok, report.problems
    entry = json.loads(entry_path.read_text())
    assert entry["method"]["name"] == "explain-label" and set(entry["metrics"]) == {"chrf", "bleu", "embedding_cosine"}
    built = build_board(board, host)
    assert [r.path for r in built.ranked] == [entry_path]

    # Swap one explanation for another text, keep its stored scores, re-hash: caught by re-scoring.
    from plurieval.hashing import content_hash, file_hash

    results = entry_path.parent / entry["results"]["file"] if entry["results"].get("file") else None
    if results is not None:
        rows = [json.loads(line) for line in results.read_text().splitlines()]
        rows[0]["prediction"] = "An unrelated sentence about the weather in spring."
        results.write_text("".join(json.dumps(r) + "\n" for r in rows))
        entry["results"]["sha256"] = file_hash(results)
    else:
        entry["results"]["rows"][0]["prediction"] = "An unrelated sentence about the weather in spring."
        entry["results"]["sha256"] = content_hash(entry["results"]["rows"])
    entry_path.write_text(json.dumps(entry))
    found = validate_entry(entry_path, host).problems
    assert any("but its prediction scores" in p for p in found), found


def test_every_committed_entry_still_validates():
    """The public boards' entries are re-checked with the code as it is now: every number
    recomputed and every row re-scored from its answer (a change to a metric that silently
    changes published scores fails here)."""
    from plurieval.leaderboard.validate import collect_entries

    host = PluginHost()
    boards = sorted((REPO / "leaderboards").glob("*/board.yaml"))
    entries = [p for board in boards for p in collect_entries(board.parent)]
    assert entries, "the clasbench board ships entries"
    for path in entries:
        report = validate_entry(path, host)
        assert report.ok, (path.name, report.problems)
    for board in boards:  # and every board pins its data, so references are never the entry's word
        assert load_board(board.parent).data is not None, f"{board} has no data: section"
