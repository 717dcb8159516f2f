"""Helpers shared by the leaderboard tests (a module of its own: ``conftest`` is not importable by
name reliably when several test folders each have one)."""

from __future__ import annotations

from pathlib import Path

import yaml

from plurieval.config import build_run_config
from plurieval.host import PluginHost
from plurieval.runner import execute


def make_run(host: PluginHost, out: Path, skill: float, *, benchmark: str = "toybench", salt: str = "",
             limit: int | None = None, params: dict | None = None) -> Path:
    cfg = build_run_config({"benchmark": {"name": benchmark, "params": params or {}}, "model": "toy-model",
                            "limit": limit,
                            "method": {"name": "toy-skill", "params": {"skill": skill, "salt": salt}},
                            "output_dir": str(out), "tracking": {"enabled": False}})
    return execute(cfg, host).run_dir


def toy_data_pin() -> dict:
    """The ``data:`` section of a board over the toy benchmark's words (sizes as the default run)."""
    import toybench

    from plurieval.hashing import content_hash

    items = toybench.examples(40)
    return {"dataset": "toy-words", "params": {}, "split": "test", "id": "toy-words", "revision": "1",
            "content_hash": content_hash([e.to_dict() for e in items]), "num_examples": len(items),
            "min_examples": 4, "obtain": "run the toybench benchmark with its default size",
            "rows": {"example_id": "{example.id}", "reference": "{example.target}",
                     "metadata": {"language": "{example.metadata.language}"}}}


BOARD = {
    "benchmark": "toybench",
    "spec_version": "2",
    "title": "Toy benchmark (tests)",
    "description": "Test-only board.",
    "metrics": ["toy-balanced", "toy-accuracy"],
    "ranking_metric": "toy-balanced",
    "bootstrap": {"seed": 0, "resamples": 300},
    "data": toy_data_pin(),
}


def make_board(root: Path, **changes) -> Path:
    spec = {**BOARD, **changes}
    board = root / "leaderboards" / spec["benchmark"]
    (board / "entries").mkdir(parents=True, exist_ok=True)
    (board / "board.yaml").write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return board
