"""The ``plurieval`` command line.

Listing and inspection read plugin metadata only (no torch import); ``run`` and friends import
the heavy parts when they need them.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before anything can import torch

import typer  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from plurieval.errors import PluriError  # noqa: E402
from plurieval.host import get_host  # noqa: E402
from plurieval.specs import KINDS  # noqa: E402

console = Console()
err_console = Console(stderr=True)

app = typer.Typer(
    name="plurieval",
    help=(
        "Compare steering and explanation methods for language models on shared benchmarks.\n\n"
        "Start with `plurieval list` to see what is installed, `plurieval show NAME` for a "
        "component's options, and `plurieval run BENCHMARK --model default --method X` to evaluate."
    ),
    no_args_is_help=True,
    rich_markup_mode="markdown",
    pretty_exceptions_enable=False,
)

KIND_CHOICES = [k + "s" for k in KINDS]


def _fail(message: str, code: int = 2) -> None:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _report_plugin_errors(host: Any) -> None:
    for err in host.errors:
        err_console.print(f"[yellow]warning:[/] {err}", highlight=False, soft_wrap=True)


@app.command("list")
def list_components(
    kind: Annotated[str | None, typer.Argument(help=f"one of: {', '.join(KIND_CHOICES)} (default: all)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """List registered datasets, methods, metrics, benchmarks, models and resources."""
    host = get_host()
    _report_plugin_errors(host)
    kinds = list(KINDS)
    if kind:
        k = kind.rstrip("s") if kind not in KINDS else kind
        if k not in KINDS:
            from plurieval.errors import UnknownComponentError

            _fail(str(UnknownComponentError("kind", kind, KIND_CHOICES)).replace("(`plurieval list kinds` shows them all.)", ""))
        kinds = [k]
    specs = [s for k in kinds for s in host.registry.all(k)]
    if as_json:
        print(json.dumps([{"name": s.name, "kind": s.kind, "version": s.version, "package": s.package,
                           "description": s.description, "license": s.license} for s in specs], indent=2))
        return
    for k in kinds:
        rows = [s for s in specs if s.kind == k]
        table = Table(title=f"{k}s", title_justify="left", show_edge=False, pad_edge=False)
        for col in ("name", "version", "package", "description"):
            table.add_column(col, overflow="fold")
        for s in rows:
            ambiguous = len(host.registry._specs[k].get(s.name, [])) > 1
            table.add_row(s.qualified_name if ambiguous else s.name, s.version, s.package, s.description)
        if rows:
            console.print(table)
        elif kind:
            console.print(f"no {k}s registered")


@app.command()
def plugins(as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False) -> None:
    """Show installed plugins: distribution, version, implemented hooks, contributions, errors."""
    host = get_host()
    data = host.describe()
    if as_json:
        print(json.dumps(data, indent=2))
        return
    table = Table(show_edge=False)
    for col in ("plugin", "distribution", "version", "hooks", "contributes", "errors"):
        table.add_column(col, overflow="fold")
    for p in data:
        contrib = "; ".join(f"{k}: {', '.join(v)}" for k, v in p["contributions"].items())
        table.add_row(p["name"], p["distribution"] or "", p["version"] or "", ", ".join(p["hooks"]), contrib,
                      "[red]" + "; ".join(p["errors"]) + "[/]" if p["errors"] else "")
    console.print(table)


@app.command()
def show(
    name: Annotated[str, typer.Argument(help="component name, or package/name")],
    kind: Annotated[str | None, typer.Option(help="restrict to one kind when names clash")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Show a component: description, config schema with defaults, license and citation."""
    host = get_host()
    kinds = [kind.rstrip("s")] if kind else list(KINDS)
    found = []
    for k in kinds:
        try:
            found.append(host.get(k, name))
        except PluriError:
            continue
    if not found:
        from plurieval.errors import UnknownComponentError

        known = [s.name for s in host.registry.all()]
        _fail(str(UnknownComponentError("component", name, known)).split(" (`plurieval")[0])
    if as_json:
        print(json.dumps([s.describe() for s in found], indent=2))
        return
    for spec in found:
        d = spec.describe()
        console.print(f"[bold]{spec.name}[/] ({spec.kind} {spec.version}, from {spec.package})")
        if spec.description:
            console.print(spec.description)
        for key in ("method_kind", "spec_version", "metrics", "needs", "provides", "argument", "languages"):
            if d.get(key):
                console.print(f"[dim]{key}:[/] {d[key]}")
        if spec.license:
            console.print(f"[dim]license:[/] {spec.license}")
        if spec.citation:
            console.print(f"[dim]citation:[/] {spec.citation}")
        table = Table(title="config", title_justify="left", show_edge=False)
        for col in ("field", "type", "default", "description"):
            table.add_column(col, overflow="fold")
        for field_name, field in spec.config.model_fields.items():
            default = "(required)" if field.is_required() else repr(field.get_default(call_default_factory=True))
            table.add_row(field_name, _type_name(field.annotation), default, field.description or "")
        console.print(table)
        if spec.kind == "benchmark":
            console.print(f"\nrun it: plurieval run {spec.name} --model default --limit 10")


def _type_name(annotation: Any) -> str:
    text = getattr(annotation, "__name__", None) or str(annotation)
    return text.replace("typing.", "")


@app.command()
def run(
    benchmark: Annotated[str, typer.Argument(help="benchmark name (see `plurieval list benchmarks`)")],
    model: Annotated[str | None, typer.Option(help="'default' (embedded SmolLM2-135M-Instruct), a registered model, or hf:ID-OR-PATH")] = None,
    method: Annotated[str | None, typer.Option(help="method name (see `plurieval list methods`)")] = None,
    config: Annotated[Path | None, typer.Option(help="YAML/JSON run config; flags override it")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="override: key=value (dotted keys; bare keys go to the benchmark), repeatable")] = None,
    limit: Annotated[int | None, typer.Option(help="at most N examples (per language where the benchmark has languages)")] = None,
    output: Annotated[Path | None, typer.Option(help="output directory (default: runs)")] = None,
    seed: Annotated[int | None, typer.Option(help="random seed")] = None,
    batch_size: Annotated[int | None, typer.Option(help="generation/extraction batch size")] = None,
    metric: Annotated[list[str] | None, typer.Option(
        "--metric", help="add a registered metric to the benchmark's own (repeatable); replace them with "
                         "--set metrics=[a,b]")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="neither read nor write the cache")] = False,
    force: Annotated[bool, typer.Option("--force", help="redo a run that already finished")] = False,
) -> None:
    """Evaluate a method on a benchmark. Writes OUTPUT/RUN-ID/manifest.json, results.jsonl and
    summary.json. Starting the same config again resumes an interrupted run.

    Examples:

        plurieval run clasbench --model default --method diffmean --limit 10 --output runs

        plurieval run polyrefuse --model default-refusal --method pca --set languages=en,de,ja --limit 20

        plurieval run clasbench --method diffmean --metric example-answer-words --set 'side_effects=[polyrefuse]'
    """
    from plurieval.config import apply_overrides, build_run_config, load_config_file

    data: dict[str, Any] = load_config_file(config) if config else {}
    data["benchmark"] = benchmark if not isinstance(data.get("benchmark"), dict) else {**data["benchmark"], "name": benchmark}
    for key, value in (("model", model), ("method", method)):
        if value is not None:
            data[key] = {**data[key], "name": value} if isinstance(data.get(key), dict) else value
    for key, value in (("limit", limit), ("output_dir", output), ("seed", seed), ("batch_size", batch_size)):
        if value is not None:
            data[key] = str(value) if isinstance(value, Path) else value
    if no_cache:
        data["cache"] = False
    if metric:
        data["extra_metrics"] = list(data.get("extra_metrics") or []) + list(metric)
    apply_overrides(data, set_ or [])
    run_config = build_run_config(data)

    from plurieval.runner import execute

    host = get_host()
    _report_plugin_errors(host)
    outcome = execute(run_config, host, force=force)
    _print_summary(outcome.summary)
    err_console.print(f"run directory: {outcome.run_dir}" + (" (resumed)" if outcome.resumed else ""),
                      soft_wrap=True, highlight=False)


def _print_summary(summary: dict[str, Any]) -> None:
    metrics = summary.get("metrics", {})
    table = Table(title=f"{summary.get('benchmark')} · {summary.get('method')} · {summary.get('model')}",
                  title_justify="left", show_edge=False)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in metrics.items():
        if isinstance(value, dict):
            value = value.get("value")
        table.add_row(name, f"{value:.4f}" if isinstance(value, float) else str(value))
    console.print(table)


@app.command()
def score(
    metric: Annotated[str, typer.Argument(help="metric name (see `plurieval list metrics`)")],
    file: Annotated[Path, typer.Argument(help='JSONL, one {"prediction": ..., "reference": ...} per line')],
    set_: Annotated[list[str] | None, typer.Option("--set", help="metric config: key=value, repeatable")] = None,
) -> None:
    """Score predictions against references with one metric, like `evaluate`'s compute().
    Prints JSON: {"metric", "config", "score", "per_example"}."""
    from plurieval.scoring import json_safe, score_file

    print(json.dumps(json_safe(score_file(get_host(), metric, file, set_ or [])), indent=2, allow_nan=False))


@app.command()
def registry(
    write: Annotated[bool, typer.Option("--write", help="rewrite registry.yaml from the installed first-party plugins")] = False,
    path: Annotated[Path, typer.Option(help="catalogue file")] = Path("registry.yaml"),
) -> None:
    """Check (or --write) the human-readable catalogue of first-party components."""
    from plurieval.catalogue import catalogue_diff, render_catalogue

    host = get_host()
    text = render_catalogue(host)
    if write:
        path.write_text(text, encoding="utf-8")
        console.print(f"wrote {path}")
        return
    problems = catalogue_diff(path.read_text(encoding="utf-8") if path.exists() else "", text)
    if problems:
        _fail(f"{path} disagrees with the installed plugins:\n" + "\n".join(problems) +
              "\nrun `plurieval registry --write` after changing a first-party component", code=1)
    console.print(f"{path} matches the installed first-party plugins")


from plurieval.leaderboard.cli import leaderboard_app  # noqa: E402  (import-light: typer + rich only)

app.add_typer(leaderboard_app, name="leaderboard")


cache_app = typer.Typer(help="Inspect or clear the content-addressed cache of generations, activations and directions.",
                         no_args_is_help=True)
app.add_typer(cache_app, name="cache")


@cache_app.command("info")
def cache_info(as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False) -> None:
    """Where the cache is ($PLURIEVAL_CACHE_DIR), how many entries of each kind, how big."""
    from plurieval.cache import Cache

    info = Cache().info()
    if as_json:
        print(json.dumps(info, indent=2))
        return
    console.print(f"cache: {info['path']}" + ("" if info["exists"] else " (empty: not created yet)"), highlight=False)
    for kind, entry in sorted(info["by_kind"].items()):
        console.print(f"  {kind:<11} {entry['entries']:>8} entries  {entry['bytes'] / 1e6:>10.2f} MB")
    console.print(f"  {'total':<11} {info['entries']:>8} entries  {info['bytes'] / 1e6:>10.2f} MB")


@cache_app.command("clear")
def cache_clear(
    kind: Annotated[str | None, typer.Option(help="only this kind: generation, activation or direction")] = None,
) -> None:
    """Delete cached entries (all, or one kind)."""
    from plurieval.cache import KINDS, Cache

    if kind is not None and kind not in KINDS:
        _fail(f"--kind must be one of {', '.join(KINDS)} (got {kind!r})")
    cache = Cache()
    n = cache.clear(kind)
    console.print(f"removed {n} {kind or ''} entries from {cache.path}".replace("  ", " "), highlight=False)


@app.command()
def rerun(
    manifest: Annotated[Path, typer.Argument(help="a run's manifest.json (or its run directory)")],
    output: Annotated[Path | None, typer.Option(help="output directory (default: OUTPUT/reruns/RUN-ID-TIME)")] = None,
    tolerance: Annotated[float, typer.Option(help="largest absolute difference still counted as equal")] = 0.0,
    track: Annotated[bool, typer.Option("--track", help="also log the repeat to MLflow")] = False,
) -> None:
    """Repeat a run from its manifest alone (bypassing the cache, into a fresh directory) and
    compare every metric. Prints `identical` and exits 0 when all match; otherwise names each
    differing metric with both values and exits 1."""
    from plurieval.rerun import compare_metrics, environment_differences, original_metrics
    from plurieval.rerun import rerun as do_rerun

    host = get_host()
    _report_plugin_errors(host)
    from plurieval.manifest import load_manifest

    notes = environment_differences(load_manifest(manifest), host)
    for note in notes:
        err_console.print(f"[yellow]environment differs:[/] {note}", highlight=False)
    loaded, outcome = do_rerun(manifest, host, output=output, track=track)
    err_console.print(f"rerun directory: {outcome.run_dir}", highlight=False)
    diffs = compare_metrics(original_metrics(loaded, manifest), outcome.summary.get("metrics", {}), tolerance)
    if not diffs:
        print("identical")
        return
    for name, before, after in diffs:
        print(f"differs: {name}: original={before!r} rerun={after!r}")
    raise typer.Exit(1)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        host = get_host()
        host.add_commands(app)
        app()
    except PluriError as err:
        err_console.print(f"[bold red]error:[/] {err}", highlight=False, soft_wrap=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
