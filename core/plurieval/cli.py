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
from rich.table import Table  # noqa: E402

from plurieval.errors import PluriError  # noqa: E402
from plurieval.host import get_host  # noqa: E402
from plurieval.specs import KINDS  # noqa: E402
from plurieval.ui import console, err_console, error, safe, warning  # noqa: E402

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
    error(message)
    raise typer.Exit(code)


def _report_plugin_errors(host: Any) -> None:
    for err in [*host.errors, *getattr(host, "warnings", [])]:
        warning(err)


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
            table.add_row(*(safe(v) for v in (s.qualified_name if ambiguous else s.name, s.version, s.package,
                                               s.description)))
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
        problems = ("[red]" + safe("; ".join(p["errors"])) + "[/]") if p["errors"] else ""
        if p.get("warnings"):
            problems += ("; " if problems else "") + "[yellow]" + safe("; ".join(p["warnings"])) + "[/]"
        table.add_row(*(safe(v) for v in (p["name"], p["distribution"] or "", p["version"] or "",
                                           ", ".join(p["hooks"]), contrib)), problems)
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
            if k == "metric" and name.startswith("evaluate:"):  # a module that failed to load: say why
                raise
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
        console.print(f"[bold]{safe(spec.name)}[/] ({safe(spec.kind)} {safe(spec.version)}, from {safe(spec.package)})")
        if spec.description:
            console.print(safe(spec.description))
        for key in ("method_kind", "spec_version", "metrics", "needs", "provides", "argument", "module", "languages"):
            if d.get(key):
                console.print(f"[dim]{key}:[/] {safe(d[key])}")
        if d.get("recorded"):
            console.print("[dim]recorded:[/] queries the model and records every query per example; "
                          "`plurieval score` and leaderboard validation recompute it from the records, without the model",
                          highlight=False)
        if spec.license:
            console.print(f"[dim]license:[/] {safe(spec.license)}")
        if spec.citation:
            console.print(f"[dim]citation:[/] {safe(spec.citation)}")
        table = Table(title="config", title_justify="left", show_edge=False)
        for col in ("field", "type", "default", "description"):
            table.add_column(col, overflow="fold")
        for field_name, field in spec.config.model_fields.items():
            default = "(required)" if field.is_required() else repr(field.get_default(call_default_factory=True))
            table.add_row(*(safe(v) for v in (field_name, _type_name(field.annotation), default, field.description or "")))
        console.print(table)
        if spec.config.model_config.get("extra") == "allow":
            console.print("[dim]other fields are passed through to the component (e.g. a module's compute())[/]")
        _print_presets(spec.config)
        if d.get("jsonl_form"):
            console.print("\n[bold]JSONL form[/] (one line of `plurieval score` input, or a results.jsonl row):",
                          highlight=False)
            console.print(d["jsonl_form"], highlight=False, markup=False)
        if spec.kind == "benchmark":
            console.print(f"\nrun it: plurieval run {spec.name} --model default --limit 10")


def _print_presets(config: Any) -> None:
    """A choice field whose values each set other fields (``json_schema_extra={"presets": ...}``,
    e.g. a metric's ``convention``): one row per value with what it sets."""
    for field_name, field in config.model_fields.items():
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        presets = extra.get("presets")
        if not presets:
            continue
        table = Table(title=f"{field_name}: what each value sets (fields given explicitly still win)",
                      title_justify="left", show_edge=False)
        table.add_column(field_name)
        table.add_column("sets", overflow="fold")
        for value, settings in presets.items():
            table.add_row(safe(str(value)), safe(", ".join(f"{k}={v!r}" for k, v in settings.items()))
                          or "(the defaults)")
        console.print(table)


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
    err_console.print(safe(f"run directory: {outcome.run_dir}" + (" (resumed)" if outcome.resumed else "")),
                      soft_wrap=True, highlight=False)
    from plurieval.progress import run_end_lines

    for line in run_end_lines(outcome.run_dir):
        err_console.print(safe(line), highlight=False, soft_wrap=True)


@app.command()
def sweep(
    benchmark: Annotated[str | None, typer.Argument(help="benchmark, or several comma-separated (or `benchmark:` in --config)")] = None,
    model: Annotated[str | None, typer.Option(help="model(s), comma-separated: default, a registered model, hf:ID-OR-PATH")] = None,
    methods: Annotated[str | None, typer.Option(help="methods, comma-separated; 'none' runs the benchmark's default")] = None,
    config: Annotated[Path | None, typer.Option(help="YAML/JSON sweep file with lists for the same keys; options override it")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="override for every run: key=value (as in `run`), repeatable")] = None,
    grid: Annotated[list[str] | None, typer.Option(help="grid axis: key=[v1,v2,...] (method.alpha=[2,4,8]), repeatable")] = None,
    limit: Annotated[int | None, typer.Option(help="at most N examples per run (per language where the benchmark has languages)")] = None,
    executor: Annotated[str | None, typer.Option(help="local (this machine) or ray (a Ray cluster)")] = None,
    address: Annotated[str | None, typer.Option(help="Ray cluster address: auto, HOST:6379 or ray://HOST:10001 (default: a local cluster)")] = None,
    workers: Annotated[int | None, typer.Option(help="local: runs at once (1: in this process; N: a process pool)")] = None,
    cpus_per_task: Annotated[float | None, typer.Option(help="CPUs per run (also its torch threads, under every executor)")] = None,
    gpus_per_task: Annotated[float | None, typer.Option(help="ray: GPUs per run (0.5 puts two runs on a GPU)")] = None,
    max_retries: Annotated[int | None, typer.Option(help="restarts of a run whose worker died (it resumes)")] = None,
    split: Annotated[str | None, typer.Option(help="steering runs: units (each unit of a run a task of its own, merged into one run with the same summary), runs (one task per run), auto (units when more than one task runs at once; default)")] = None,
    output: Annotated[Path | None, typer.Option(help="output directory of the runs (default: runs); the sweep writes OUTPUT/sweeps/SWEEP-ID/")] = None,
    seed: Annotated[int | None, typer.Option(help="random seed of every run")] = None,
    batch_size: Annotated[int | None, typer.Option(help="generation/extraction batch size")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="neither read nor write the cache")] = False,
    force: Annotated[bool, typer.Option("--force", help="redo runs that already finished")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="list the runs the sweep would do, and stop")] = False,
) -> None:
    """Run a grid of models × methods (× `--grid` values) on one or more benchmarks, locally or
    on Ray, with the same results either way. Each run is an ordinary run directory
    (OUTPUT/RUN-ID, resumable); OUTPUT/sweeps/SWEEP-ID/ gets `sweep.json` (every run, its status
    and directory) and the comparison `leaderboard compare` would show (comparison.md, .png,
    .html). Starting the same sweep again continues it. Exits 1 when a run failed.

    Examples:

        plurieval sweep clasbench --model default --methods diffmean,pca --limit 10

        plurieval sweep clasbench --methods diffmean --grid method.alpha=[4,8] --executor ray --address auto

        plurieval sweep --config sweep.yaml --executor ray
    """
    from plurieval.sweep.spec import build_sweep_config, sweep_data

    data = sweep_data(config, benchmark=benchmark, model=model, methods=methods, set_=set_, grid=grid,
                      limit=limit, output=output, seed=seed, batch_size=batch_size,
                      cache=False if no_cache else None,
                      executor={"kind": executor, "address": address, "workers": workers,
                                "cpus_per_task": cpus_per_task, "gpus_per_task": gpus_per_task,
                                "max_retries": max_retries, "split": split})
    if "benchmark" not in data and "benchmarks" not in data:
        _fail("give a benchmark (plurieval sweep BENCHMARK --methods A,B) or a sweep file with `benchmark:` (--config)")
    sweep_config = build_sweep_config(data, source=f"sweep file {config}" if config else "sweep options")
    host = get_host()
    _report_plugin_errors(host)
    from plurieval.sweep.driver import plan_sweep, run_sweep, sweep_directory

    if dry_run:
        plan = plan_sweep(sweep_config, host)
        table = Table(title=safe(f"sweep {plan.sweep_id}: {len(plan.runs)} runs"), title_justify="left", show_edge=False)
        for col in ("run id", "grid point", "state"):
            table.add_column(col, overflow="fold")
        for run_ in plan.runs:
            run_dir = Path(sweep_config.output_dir) / run_.run_id
            state = "complete" if (run_dir / "summary.json").exists() else \
                "partial (resumes)" if (run_dir / "results.jsonl").exists() else "new"
            table.add_row(safe(run_.run_id), safe(run_.label), state)
        console.print(table)
        for note in plan.duplicates:
            warning(note, label="note")
        err_console.print(safe(f"sweep directory: {sweep_directory(sweep_config, plan.sweep_id)}"), highlight=False)
        return
    outcome = run_sweep(sweep_config, host, force=force)
    table_text = outcome.index.get("comparison", {}).get("table")
    if table_text:
        print(table_text, end="")
    for note in outcome.index.get("notes", []):
        warning(note, label="note")
    err_console.print(safe(f"sweep: {outcome.directory / 'sweep.json'}"), highlight=False)
    if outcome.failed:
        for record in outcome.failed:
            err_console.print(f"[bold red]failed:[/] {safe(record.run_id)}: {safe(record.error)}", highlight=False,
                              soft_wrap=True)
        err_console.print("run the same command again to retry them (finished runs are kept)", highlight=False)
        raise typer.Exit(1)


def _print_summary(summary: dict[str, Any]) -> None:
    metrics = summary.get("metrics", {})
    table = Table(title=safe(f"{summary.get('benchmark')} · {summary.get('method')} · {summary.get('model')}"),
                  title_justify="left", show_edge=False)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in metrics.items():
        if isinstance(value, dict):
            value = value.get("value")
        table.add_row(safe(name), f"{value:.4f}" if isinstance(value, float) else safe(value))
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
        console.print(safe(f"wrote {path}"), highlight=False)
        return
    from plurieval.datafiles import read_text

    current = read_text(path, "catalogue", error=PluriError) if path.exists() else ""
    problems = catalogue_diff(current, text, source=str(path))
    if problems:
        _fail(f"{path} disagrees with the installed plugins:\n" + "\n".join(problems) +
              "\nrun `plurieval registry --write` after changing a first-party component", code=1)
    console.print(safe(f"{path} matches the installed first-party plugins"), highlight=False)


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
    console.print(safe(f"cache: {info['path']}" + ("" if info["exists"] else " (empty: not created yet)")), highlight=False)
    for kind, entry in sorted(info["by_kind"].items()):
        console.print(safe(f"  {kind:<11} {entry['entries']:>8} entries  {entry['bytes'] / 1e6:>10.2f} MB"))
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
    console.print(safe(f"removed {n} {kind or ''} entries from {cache.path}".replace("  ", " ")), highlight=False)


@cache_app.command("verify")
def cache_verify(
    repair: Annotated[bool, typer.Option("--repair", help="drop corrupt entries and add checksums to old sound ones")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Check every cache entry (its checksum, and that it decodes). Exits 1 when corrupt
    entries remain; runs never use them either way (they are dropped and recomputed on sight)."""
    from plurieval.cache import Cache

    report = Cache().verify(repair=repair)
    if as_json:
        print(json.dumps(report, indent=2))
    else:
        console.print(safe(f"cache: {report['path']}"), highlight=False)
        for problem in report["problems"][:20]:
            console.print(safe(f"  corrupt: {problem}"), highlight=False)
        line = f"{report['ok']} ok, {report['corrupt']} corrupt"
        if report["unchecked_before"]:
            line += f", {report['unchecked_before']} written before checksums" + (" (checksummed now)" if repair else "")
        if repair:
            line += f"; dropped {report['dropped']}"
        elif report["corrupt"]:
            line += "; run `plurieval cache verify --repair` to drop them"
        console.print(safe(line), highlight=False)
    if report["corrupt"] > report["dropped"]:
        raise typer.Exit(1)


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
        warning(note, label="environment differs")
    loaded, outcome = do_rerun(manifest, host, output=output, track=track)
    err_console.print(safe(f"rerun directory: {outcome.run_dir}"), highlight=False)
    diffs = compare_metrics(original_metrics(loaded, manifest), outcome.summary.get("metrics", {}), tolerance)
    if not diffs:
        print("identical")
        return
    for name, before, after in diffs:
        print(f"differs: {name}: original={before!r} rerun={after!r}")
    raise typer.Exit(1)


def quiet_library_noise() -> None:
    """What the libraries print that says nothing about a run: torchao (the optional ``int4``
    extra), imported by transformers at every model load, reports GPU-only kernels it cannot
    load and torch.compile deprecations; in a log (not a terminal) the weight-loading and
    shard-writing bars of transformers and huggingface_hub are carriage-return noise, and the
    run's own ``load`` stage times the loading. Errors still show."""
    for name in ("torchao", "torch.utils._pytree"):
        logging.getLogger(name).setLevel(logging.ERROR)
    if not sys.stderr.isatty():
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    quiet_library_noise()
    try:
        host = get_host()
        host.add_commands(app)
        app()
    except PluriError as err:
        error(err)
        sys.exit(2)
    except OSError as err:  # a file or folder the user named cannot be read or written
        error(f"{err.strerror or type(err).__name__}: {err.filename or err}")
        sys.exit(2)


if __name__ == "__main__":
    main()
