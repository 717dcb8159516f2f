"""``plurieval judge ...``: validate the offline judges against the labelled set.

Imported when the CLI starts: typer and rich only at module level; the judges (and torch,
where a judge needs a model) are imported inside the commands.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(
    help="How far to trust a score: validate the offline judges (relevance, language fluency, refusal) against "
         "outputs the maintainers labelled by reading them. Start with `plurieval judge list`.",
    no_args_is_help=True,
)


def _params(assignments: list[str] | None) -> dict[str, Any]:
    from plurieval.api import apply_overrides

    data: dict[str, Any] = {}
    apply_overrides(data, list(assignments or []))
    # apply_overrides files bare keys under the benchmark's params; a judge has only its own
    bench = data.pop("benchmark", None)
    if isinstance(bench, dict):
        data.update(bench.get("params") or {})
    return data


def _ci(stat: dict[str, float], digits: int = 2) -> str:
    v, lo, hi = stat["value"], stat["ci_low"], stat["ci_high"]
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    if isinstance(lo, float) and math.isnan(lo):
        return f"{v:.{digits}f}"
    return f"{v:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def _json_safe(obj: Any) -> Any:
    from .boards import json_safe

    return json_safe(obj)


@app.command("list")
def list_judges(as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False) -> None:
    """The judges `plurieval judge validate` knows (task, default, what they need)."""
    from rich.console import Console
    from rich.table import Table

    from .catalogue import JUDGES

    if as_json:
        print(json.dumps([{"name": j.name, "task": j.task, "default": j.default, "description": j.description,
                           "metric": j.metric, "params": j.params, "needs_model": j.needs_model,
                           "opt_in": j.opt_in} for j in JUDGES.values()], indent=2))
        return
    table = Table(show_edge=False)
    for col in ("judge", "task", "default", "needs", "description"):
        table.add_column(col, overflow="fold")
    for j in JUDGES.values():
        needs = "model" if j.needs_model else ("recorded score" if j.recorded else "")
        if j.opt_in:
            needs += f" (opt-in: {j.opt_in})"
        table.add_row(j.name, j.task, "yes" if j.default else "", needs, j.description)
    Console().print(table)


def print_report(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"[bold]{report['judge']}[/] on the {report['split']} part ({report['n']} labelled "
                  f"{'PolyRefuse completions' if report['task'] in ('refusal', 'compliance') else 'CLaS-Bench outputs'}, "
                  f"task {report['task']}): {report['description']}", highlight=False)
    if report.get("params"):
        console.print(f"[dim]params:[/] {json.dumps(report['params'])}", highlight=False)
    kappa = "quadratic-weighted κ" if report["weights"] == "quadratic" else "Cohen's κ"
    table = Table(show_edge=False, title="agreement with the labels (95% bootstrap CI)", title_justify="left")
    for col in ("statistic", "value"):
        table.add_column(col)
    table.add_row(kappa, _ci(report["kappa"]))
    table.add_row("exact agreement", _ci(report["exact_agreement"]))
    table.add_row(f"mean: labels → judge ({report['unit']})", f"{report['mean_labels']:.1f} → {report['mean_judge']:.1f}")
    table.add_row(f"bias of the mean ({report['unit']})", _ci(report["bias"], 1))
    console.print(table)
    cm = Table(show_edge=False, title="confusion matrix (rows: labels, columns: judge)", title_justify="left")
    cm.add_column("label \\ judge")
    for c in report["classes"]:
        cm.add_column(str(c), justify="right")
    for c, row in zip(report["classes"], report["confusion"], strict=True):
        cm.add_row(str(c), *[str(v) for v in row])
    console.print(cm)
    groups = report.get("per_group") or {}
    if groups:
        g = Table(show_edge=False, title=f"per {report['group_by']}", title_justify="left")
        for col in (report["group_by"], "n", kappa, "exact agreement", "labels → judge", "bias"):
            g.add_column(col, justify="right" if col != report["group_by"] else "left")
        for name, rep in groups.items():
            g.add_row(name, str(rep["n"]), _ci(rep["kappa"]), _ci(rep["exact_agreement"]),
                      f"{rep['mean_labels']:.1f} → {rep['mean_judge']:.1f}", _ci(rep["bias"], 1))
        console.print(g)
    console.print(f"[dim]judge time: {report['judge_seconds']} s[/]", highlight=False)


@app.command("validate")
def validate_cmd(
    judge: Annotated[str, typer.Argument(help="judge name (`plurieval judge list`) or a metric of a known task")],
    split: Annotated[str, typer.Option(help="heldout (report), calibration (tune on it) or all")] = "heldout",
    set_: Annotated[list[str] | None, typer.Option("--set", help="judge/metric param key=value, repeatable")] = None,
    resamples: Annotated[int, typer.Option(help="bootstrap resamples")] = 1000,
    seed: Annotated[int, typer.Option(help="bootstrap seed")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON (with per-row verdicts)")] = False,
    verdicts: Annotated[Path | None, typer.Option(help="use verdicts recorded by `plurieval judge run` instead of "
                                                       "running the judge (model judges: no model needed)")] = None,
) -> None:
    """Run JUDGE on the labelled validation set and report Cohen's κ (quadratic-weighted for 0/1/2
    relevance), exact agreement, the confusion matrix and the bias of the mean, with bootstrap CIs,
    overall and per language.

    Examples:

        plurieval judge validate relevance                      # the CLaS-Bench default

        plurieval judge validate relevance-proxy-v1 --json      # the spec-1 proxy (0.80/0.84)

        plurieval judge validate relevance --set low=0.82 --split calibration

        plurieval judge validate refusal-score --set threshold=1.0
    """
    from plurieval.api import get_host

    from .catalogue import get_judge
    from .validate import validate

    report = validate(get_judge(judge, _params(set_)), get_host(), split=split, resamples=resamples, seed=seed,
                      verdicts=verdicts)
    if as_json:
        print(json.dumps(_json_safe(report), indent=2, ensure_ascii=False))
    else:
        print_report(report)


@app.command("run")
def run_cmd(
    judge: Annotated[str, typer.Argument(help="judge name (`plurieval judge list`)")],
    output: Annotated[Path, typer.Option(help="JSONL to write: one {judge, params, id, verdict, reply} per row")],
    rows: Annotated[Path | None, typer.Option(help="rows file (default: the shipped validation set of the judge's task)")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="judge/metric param key=value, repeatable")] = None,
    limit: Annotated[int | None, typer.Option(help="only the first N rows")] = None,
) -> None:
    """Run a judge on every row (labelled or not, both parts) and record its verdicts and, for a
    model judge, its raw replies, so agreement can be recomputed later without the model
    (`plurieval judge validate JUDGE --verdicts FILE`)."""
    from plurieval.api import get_host

    from .catalogue import TASKS, get_judge
    from .dataset import load, read_rows
    from .validate import run_judge

    j = get_judge(judge, _params(set_))
    task = TASKS[j.task]["file"]
    items = read_rows(rows, task) if rows else load(task, "all", labelled=False)
    items = items[:limit] if limit else items
    verdicts, replies = run_judge(j, items, get_host())
    with open(output, "w", encoding="utf-8") as fh:
        for i, (r, v) in enumerate(zip(items, verdicts, strict=True)):
            fh.write(json.dumps({"judge": j.name, "params": j.params, "id": r.id, "verdict": v,
                                 **({"reply": replies[i]} if replies else {})}, ensure_ascii=False) + "\n")
    typer.echo(f"wrote {len(items)} verdicts of {j.name} to {output}")


@app.command("table")
def table_cmd(
    judges: Annotated[str, typer.Option(help="comma-separated judge names (default: every judge whose needs are "
                                             "installed)")] = "",
    split: Annotated[str, typer.Option(help="heldout, calibration or all")] = "heldout",
    output: Annotated[Path | None, typer.Option(help="also write the reports as JSON here")] = None,
    live: Annotated[bool, typer.Option("--live", help="run model judges now instead of using their shipped verdicts")] = False,
) -> None:
    """The agreement table of several judges as Markdown (what docs/judges.md shows). Model
    judges use the verdicts shipped beside the set (recorded by `plurieval judge run`) unless --live."""
    from plurieval.api import PluriError, get_host

    from .catalogue import JUDGES, get_judge
    from .dataset import DATA_DIR
    from .validate import validate

    names = [n.strip() for n in judges.split(",") if n.strip()] or list(JUDGES)
    host = get_host()
    reports = []
    for name in names:
        judge = get_judge(name)
        recorded = DATA_DIR / "verdicts" / f"{name}.jsonl"
        use = recorded if judge.needs_model and recorded.is_file() and not live else None
        try:
            reports.append(validate(judge, host, split=split, verdicts=use))
        except PluriError as err:
            typer.echo(f"skipped {name}: {err}", err=True)
    print("| task | judge | n | κ [95% CI] | exact agreement | mean labels → judge | bias |")
    print("|---|---|---:|---|---|---|---|")
    for r in reports:
        mark = " (recorded)" if r["verdicts_from"] != "computed now" else ""
        print(f"| {r['task']} | `{r['judge']}`{mark} | {r['n']} | {_ci(r['kappa'])} | {_ci(r['exact_agreement'])} | "
              f"{r['mean_labels']:.1f} → {r['mean_judge']:.1f} | {_ci(r['bias'], 1)} |")
    if output:
        output.write_text(json.dumps(_json_safe(reports), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


@app.command("agreement")
def agreement_cmd(
    boards: Annotated[list[Path], typer.Argument(help="board folders whose board.yaml names judges (`judges:`)")],
    check: Annotated[bool, typer.Option("--check", help="only say whether the committed file is up to date (exit 1 "
                                                        "if not)")] = False,
) -> None:
    """Measure the judges a board names and write their held-out agreement beside board.yaml
    (its `judge_agreement` file, judges.json by default), which `plurieval leaderboard build`
    shows next to the numbers. Each judge is validated exactly as `plurieval judge validate`
    does, with the board's bootstrap settings; model judges from their shipped verdicts.

    Example: plurieval judge agreement leaderboards/clasbench && plurieval leaderboard build leaderboards/clasbench
    """
    from plurieval.api import get_host

    from .boards import stale_judges, write_board_agreement

    host = get_host()
    out_of_date = 0
    for board in boards:
        if check:
            stale = stale_judges(board, host)
            out_of_date += bool(stale)
            typer.echo(f"{board}: " + (f"out of date ({', '.join(stale)}); run `plurieval judge agreement {board}`"
                                       if stale else "up to date"))
        else:
            typer.echo(f"wrote {write_board_agreement(board, host)}")
    if out_of_date:
        raise typer.Exit(1)


@app.command("collect")
def collect_cmd(
    paths: Annotated[list[Path], typer.Argument(help="run directories (clasbench, polyrefuse) or CLaS-Bench entry .json files")],
    output: Annotated[Path, typer.Option(help="JSONL file of unlabelled rows to write")],
    task: Annotated[str, typer.Option(help="clasbench or polyrefuse")] = "clasbench",
    seed: Annotated[int, typer.Option(help="split seed")] = 19,
    heldout: Annotated[float, typer.Option(help="share of each stratum held out")] = 0.5,
) -> None:
    """Gather outputs of finished runs into unlabelled validation rows, split (seeded, stratified by
    method × language) into calibration and held-out parts *now*, before anyone reads a judge's
    score. Judge scores stored with the outputs are dropped."""
    from plurieval.api import get_host

    from .collect import collect_clasbench, collect_polyrefuse, split_rows
    from .dataset import write_rows

    rows = collect_clasbench(paths, get_host()) if task == "clasbench" else collect_polyrefuse(paths)
    rows = split_rows(rows, seed=seed, heldout=heldout)
    write_rows(output, rows)
    held = sum(r.split == "heldout" for r in rows)
    typer.echo(f"wrote {len(rows)} rows to {output} ({held} held out, {len(rows) - held} calibration)")


@app.command("label")
def label_cmd(
    file: Annotated[Path, typer.Argument(help="JSONL of validation rows (from `plurieval judge collect`)")],
    task: Annotated[str, typer.Option(help="clasbench or polyrefuse")] = "clasbench",
    from_file: Annotated[Path | None, typer.Option("--from", help="TSV of labels to merge instead of asking: "
                                                   "id, relevance, fluent (y/n) — or id, refused (y/n)")] = None,
) -> None:
    """Label rows by reading them: shows each unlabelled row (question, target language, output;
    never a judge's score) and asks for its labels, saving after each one; or merges a TSV of
    labels written while reading (`--from`)."""
    from .labelling import apply_labels, interactive

    if from_file is not None:
        n = apply_labels(file, task, from_file)
        typer.echo(f"merged {n} labels into {file}")
    else:
        interactive(file, task)


@app.command("rescore")
def rescore_cmd(
    source: Annotated[Path, typer.Argument(help="a CLaS-Bench run directory or leaderboard entry .json")],
    output: Annotated[Path, typer.Option(help="run directory to write (results, summary, manifest re-scored)")],
) -> None:
    """Re-score a CLaS-Bench run (or an entry's results) with the current default judges: the
    outputs stay, F and J (and S) are recomputed and the manifest records the judges used. Then
    `plurieval leaderboard submit OUTPUT` turns it into a new entry."""
    from plurieval.api import get_host

    from .rescore import print_changes, rescore_clasbench

    changes = rescore_clasbench(source, output, get_host())
    print_changes(changes)
    typer.echo(f"re-scored run: {output}")


@app.command("calibrate")
def calibrate_cmd(
    max_bias: Annotated[float, typer.Option(help="largest |bias of the mean| (J points) a chosen proxy may have")] = 5.0,
    as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
) -> None:
    """Choose the degenerate-detector thresholds and the relevance proxy's cut points on the
    calibration part of the labelled set (never the held-out part); prints the choice. The
    defaults in the configs were set from this command's output."""
    from plurieval.api import get_host

    from .calibrate import calibrate

    result = calibrate(get_host(), max_bias=max_bias)
    if as_json:
        print(json.dumps(_json_safe(result), indent=2))
        return
    c = result["chosen"]
    typer.echo(f"calibration part: {result['n']} CLaS-Bench outputs")
    typer.echo(f"detector: {json.dumps(c['detector'])} (fluency exact agreement {c['fluency_exact_agreement']:.3f})")
    r = c["relevance"]
    typer.echo(f"relevance proxy + detector: low={r['low']}, high={r['high']} (exact agreement "
               f"{r['exact_agreement']:.3f}, bias {r['bias']:+.1f} J points)")
    u = result["proxy_without_detector"]
    typer.echo(f"proxy alone at its best: low={u['low']}, high={u['high']} (exact agreement {u['exact_agreement']:.3f}, "
               f"bias {u['bias']:+.1f})")
