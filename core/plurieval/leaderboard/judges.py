"""Which judge produced each of a board's judged numbers, and how far that judge agrees with people.

A board names, per judged metric, the judge(s) behind its numbers (``judges:`` in board.yaml;
``plurieval judge list``). How far each agrees with outputs people labelled by reading them —
Cohen's κ, exact agreement and the bias of the mean on the held-out labels, with bootstrap
intervals — is read from a file beside board.yaml (``judge_agreement``, default
``judges.json``) that the measuring command writes (``plurieval judge agreement BOARD``); it is
never typed by hand, and a test recomputes the committed ones.

The build checks that each named judge *is* what the board runs: the judge's metric config,
resolved with its defaults, must equal the board metric's (for a composite metric such as
``steering_score``, the board's sub-config named after the judge's metric). A board that
changes its metric params without naming the matching judge fails to build, so a κ is never
shown beside numbers another judge produced.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from plurieval.errors import PluriError
from plurieval.leaderboard.schema import BoardSpec, JudgeAgreement, JudgeAgreementFile, strict_json
from plurieval.specs import format_validation_error


@dataclass(frozen=True)
class BoardJudge:
    """A judge behind one of a board's metrics, with its measured agreement."""

    metric: str
    name: str
    agreement: JudgeAgreement


def _resolved(host: Any, metric: str, params: dict[str, Any], where: str) -> dict[str, Any]:
    try:
        spec = host.get("metric", metric)
    except PluriError as err:
        raise PluriError(f"{where}: {err}") from None
    return spec.make_config(params, where=where).model_dump(mode="json")


def load_agreement(spec: BoardSpec, board_dir: str | Path) -> JudgeAgreementFile | None:
    """The board's judge agreement file, validated; None when the board names no judge."""
    if not spec.judges:
        return None
    path = Path(board_dir) / spec.judge_agreement
    fix = f"run `plurieval judge agreement {board_dir}` to measure the judges board.yaml names"
    if not path.is_file():
        raise PluriError(f"{path} not found: board.yaml names judges ({', '.join(sorted(spec.judges))}) but their "
                         f"agreement was never measured; {fix}")
    try:
        return JudgeAgreementFile.model_validate(strict_json(path.read_text(encoding="utf-8")))
    except (ValueError, UnicodeDecodeError) as err:
        if isinstance(err, ValidationError):
            problems = "; ".join(f"{field}: {msg}" for field, msg in format_validation_error(err))
            raise PluriError(f"{path} is not a judge agreement file ({problems}); {fix}") from None
        raise PluriError(f"{path} is not valid JSON ({err}); {fix}") from None


def board_judges(spec: BoardSpec, board_dir: str | Path, host: Any) -> dict[str, list[BoardJudge]]:
    """Per judged metric (board order), its judges with their agreement; raises a PluriError that
    names the metric, the judge and the fix when a judge is unmeasured or is not what the board
    runs."""
    agreement = load_agreement(spec, board_dir)
    if agreement is None:
        return {}
    out: dict[str, list[BoardJudge]] = {}
    for metric in spec.metric_names:
        names = spec.judges.get(metric)
        if not names:
            continue
        board_params = spec.metric(metric).params
        board_config = _resolved(host, metric, board_params, f"board metric {metric!r} params")
        for name in names:
            record = agreement.judges.get(name)
            if record is None:
                measured = ", ".join(sorted(agreement.judges)) or "none"
                raise PluriError(f"board.yaml judges.{metric} names {name!r}, which {spec.judge_agreement} does not "
                                 f"hold (measured: {measured}); run `plurieval judge agreement {board_dir}`")
            if record.metric is None:
                raise PluriError(f"judge {name!r} ({record.description or record.task}) is not a metric, so it cannot "
                                 f"be what board metric {metric!r} runs")
            judge_config = _resolved(host, record.metric, record.params, f"judge {name!r} params")
            if record.metric == metric:
                board_part = board_config
            elif record.metric in board_config and isinstance(board_config[record.metric], dict):
                board_part = board_config[record.metric]
            else:
                raise PluriError(f"judge {name!r} runs metric {record.metric!r}, which is neither board metric "
                                 f"{metric!r} nor a part of its config ({', '.join(board_config) or 'none'})")
            if board_part != judge_config:
                differ = sorted(k for k in set(board_part) | set(judge_config)
                                if board_part.get(k) != judge_config.get(k))
                shown = ", ".join(f"{k}: board {board_part.get(k)!r} vs judge {judge_config.get(k)!r}"
                                  for k in differ[:4])
                raise PluriError(f"board.yaml judges.{metric} names {name!r}, but the board scores {metric!r} with "
                                 f"another config ({shown}): name the judge that matches the board's params "
                                 f"(`plurieval judge list`), then `plurieval judge agreement {board_dir}`")
            out.setdefault(metric, []).append(BoardJudge(metric, name, record))
    return out


__all__ = ["BoardJudge", "board_judges", "load_agreement"]
