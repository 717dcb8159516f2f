"""``plurieval clasbench``: run CLaS-Bench for several methods and print the leaderboard.

Each method is an ordinary run (its own run directory, resumable, same ``summary.json`` as
``plurieval run clasbench --method X``); all runs share the output folder, so the activation
set is extracted once and reused by every direction/neuron/SAE method (in memory within this
process, from ``OUTPUT/activations/`` across processes)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

ALL_METHODS = ["prompting", "diffmean", "pca", "lda", "probe", "lape", "sae"]


def run_all(methods: list[str], *, model: str = "default", limit: int | None = None, output: Path = Path("runs"),
            assignments: list[str] | None = None, config: dict[str, Any] | None = None,
            force: bool = False) -> dict[str, Any]:
    """Run ``methods`` on clasbench; returns the leaderboard dict (also written to
    ``OUTPUT/clasbench_leaderboard.json``) and draws the cross-method plots."""
    from plurieval.api import apply_overrides, execute_run

    from .plots import heatmap_figure, layerwise_figure

    rows, sweep, heat, baseline = [], [], {}, None
    for name in methods:
        data: dict[str, Any] = json.loads(json.dumps(config or {}))
        data.update({"benchmark": data.get("benchmark", "clasbench"), "model": data.get("model", model),
                     "method": name, "output_dir": str(output)})
        if limit is not None:
            data["limit"] = limit
        apply_overrides(data, list(assignments or []))
        outcome = execute_run(data, force=force, source=f"clasbench run for {name}")
        s = outcome.summary
        baseline = baseline or s.get("baseline")
        score = s["metrics"]["steering_score"]
        rows.append({"method": name, "F": s["metrics"]["language_control"], "J": s["metrics"]["relevance"],
                     "S": score["value"] if isinstance(score, dict) else score,
                     "S_ci": [score.get("ci_low"), score.get("ci_high")] if isinstance(score, dict) else None,
                     "macro_S": s["metrics"].get("macro_steering_score"),
                     "per_language": {t: v["steering_score"] for t, v in s["per_language"].items()},
                     "extraction_passes": s["forward_passes"]["extraction"]["this_run"],
                     "run_dir": str(outcome.run_dir)})
        heat[name] = rows[-1]["per_language"]
        sweep_path = outcome.run_dir / "sweep.json"
        if sweep_path.exists():
            sweep += json.loads(sweep_path.read_text(encoding="utf-8"))
    rows.sort(key=lambda r: -(r["S"] if r["S"] == r["S"] else -1))
    board = {"benchmark": "clasbench", "model": model, "limit": limit, "methods": rows,
             "baseline": baseline["metrics"] if baseline else None,
             "plots": [str(p) for p in (layerwise_figure(sweep, output / "clasbench_plots" / "layerwise.png"),
                                        heatmap_figure(heat, output / "clasbench_plots" / "heatmap.png")) if p]}
    (output / "clasbench_leaderboard.json").write_text(json.dumps(board, indent=2) + "\n", encoding="utf-8")
    return board


def print_board(board: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"CLaS-Bench · {board['model']} (test; F, J, S in %)", title_justify="left")
    for col in ("rank", "method", "F", "J", "S", "95% CI", "extraction passes"):
        table.add_column(col, justify="right" if col not in ("method",) else "left")
    for i, r in enumerate(board["methods"], 1):
        ci = r.get("S_ci")
        table.add_row(str(i), r["method"], f"{r['F']:.1f}", f"{r['J']:.1f}", f"{r['S']:.1f}",
                      f"[{ci[0]:.1f}, {ci[1]:.1f}]" if ci and ci[0] == ci[0] else "", str(r["extraction_passes"]))
    b = board.get("baseline")
    if b:
        table.add_row("", "(unsteered)", f"{b['language_control']:.1f}", f"{b['relevance']:.1f}", f"{b['steering_score']:.1f}", "", "")
    Console().print(table)


def register(cli: typer.Typer) -> None:
    @cli.command("clasbench")
    def clasbench(
        methods: Annotated[str, typer.Option(help="comma-separated methods, or 'all'")] = "all",
        model: Annotated[str, typer.Option(help="model name or hf:ID-OR-PATH")] = "default",
        limit: Annotated[int | None, typer.Option(help="test questions per source language")] = None,
        output: Annotated[Path, typer.Option(help="output directory shared by the runs")] = Path("runs"),
        config: Annotated[Path | None, typer.Option(help="YAML/JSON run config (benchmark params, dataset, ...)")] = None,
        set_: Annotated[list[str] | None, typer.Option("--set", help="override key=value (as in `plurieval run`)")] = None,
        force: Annotated[bool, typer.Option("--force", help="redo finished runs")] = False,
        as_json: Annotated[bool, typer.Option("--json", help="print the leaderboard as JSON")] = False,
    ) -> None:
        """Run CLaS-Bench for every method (one run each, shared activations) and print the leaderboard.

        Example: plurieval clasbench --limit 8 --output runs --set max_new_tokens=32
        """
        from plurieval.api import load_config_file

        names = ALL_METHODS if methods == "all" else [m.strip() for m in methods.split(",") if m.strip()]
        data = load_config_file(config) if config else {}
        board = run_all(names, model=model, limit=limit, output=output, assignments=set_ or [], config=data, force=force)
        if as_json:
            print(json.dumps(board, indent=2))
        else:
            print_board(board)
            typer.echo(f"leaderboard: {output / 'clasbench_leaderboard.json'}; plots: {', '.join(board['plots'])}")
