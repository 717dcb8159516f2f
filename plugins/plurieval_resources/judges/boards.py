"""The judge agreement file beside a board: how far each judge the board names agrees with people.

``plurieval judge agreement BOARD`` reads ``judges:`` in the board's board.yaml, validates every
named judge on the held-out part of the labelled set (exactly ``plurieval judge validate JUDGE``,
with the board's bootstrap settings; model judges from their shipped verdicts) and writes the
reports, minus the per-row verdicts, to the board's ``judge_agreement`` file. ``plurieval
leaderboard build`` shows them beside the numbers and checks each judge is what the board runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .catalogue import JUDGES, TASKS, get_judge
from .dataset import DATA_DIR, FILES
from .validate import validate

# What a report keeps in the file (the per-row verdicts and the timing are left out: the file
# must be the same wherever and however fast it is recomputed).
_KEPT = ("judge", "task", "description", "split", "metric", "params", "unit", "verdicts_from", "n", "kappa",
         "exact_agreement", "bias", "mean_labels", "mean_judge", "confusion", "classes", "weights", "group_by",
         "per_group")


def json_safe(obj: Any) -> Any:
    import math

    if isinstance(obj, float):  # rounded: the file must not change with the last bits of a float sum
        return round(obj, 6) if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


def _command(board_dir: Path) -> str:
    try:
        shown = board_dir.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        shown = board_dir
    return f"plurieval judge agreement {shown.as_posix()}"


def board_agreement(board_dir: str | Path, host: Any, *, split: str = "heldout") -> dict[str, Any]:
    """The agreement file's content for the board at ``board_dir`` (validated against its schema)."""
    from plurieval.api import JudgeAgreementFile, PluriError, file_hash, load_board

    board_dir = Path(board_dir)
    spec = load_board(board_dir)
    names = list(dict.fromkeys(n for metric in spec.metric_names for n in spec.judges.get(metric, [])))
    if not names:
        raise PluriError(f"{board_dir}/board.yaml names no judges: add `judges: {{METRIC: JUDGE}}` for each judged "
                         f"metric (`plurieval judge list` shows the judges)")
    reports: dict[str, Any] = {}
    files: set[str] = set()
    for name in names:
        judge = get_judge(name)
        if judge.metric is None:
            raise PluriError(f"judge {name!r} is not a metric (it is {judge.description!r}); a board names the "
                             f"metric judges it runs")
        recorded = DATA_DIR / "verdicts" / f"{name}.jsonl"
        use = recorded if judge.needs_model and name in JUDGES and recorded.is_file() else None
        report = validate(judge, host, split=split, resamples=spec.bootstrap.resamples, seed=spec.bootstrap.seed,
                          confidence=spec.bootstrap.confidence, verdicts=use)
        report["verdicts_from"] = f"recorded: verdicts/{recorded.name}" if use else "computed"
        reports[name] = {k: report[k] for k in _KEPT if k in report}
        files.add(TASKS[judge.task]["file"])
    content = json_safe({
        "written_by": _command(board_dir),
        "labelled_set": {f"plurieval_resources/data/judge_validation/{FILES[f].name}": file_hash(FILES[f])
                         for f in sorted(files)},
        "bootstrap": spec.bootstrap.model_dump(),
        "judges": reports,
    })
    JudgeAgreementFile.model_validate(content)  # what the board build will read back
    return content


def render(content: dict[str, Any]) -> str:
    return json.dumps(content, indent=2, ensure_ascii=False) + "\n"


def write_board_agreement(board_dir: str | Path, host: Any) -> Path:
    from plurieval.api import atomic_write, load_board

    board_dir = Path(board_dir)
    path = board_dir / load_board(board_dir).judge_agreement
    atomic_write(path, render(board_agreement(board_dir, host)))
    return path


def stale_judges(board_dir: str | Path, host: Any) -> list[str]:
    """Judges whose recorded agreement differs from what is measured now (empty: up to date)."""
    from plurieval.api import load_board

    board_dir = Path(board_dir)
    path = board_dir / load_board(board_dir).judge_agreement
    now = board_agreement(board_dir, host)
    if not path.is_file():
        return sorted(now["judges"])
    before = json.loads(path.read_text(encoding="utf-8"))
    stale = sorted(n for n in set(now["judges"]) | set(before.get("judges", {}))
                   if now["judges"].get(n) != before.get("judges", {}).get(n))
    if now["labelled_set"] != before.get("labelled_set") or now["bootstrap"] != before.get("bootstrap"):
        stale = stale or ["(labelled set or bootstrap settings)"]
    return stale


__all__ = ["board_agreement", "json_safe", "render", "stale_judges", "write_board_agreement"]
