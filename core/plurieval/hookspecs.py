"""The plugin contract. A plugin is a module listed under the entry-point group ``plurieval``
that implements any of these hooks with ``@plurieval.hookimpl``.

Contribution hooks are called once, when the host loads plugins (before any command runs).
Each receives a ``register`` callback; call it once per component with a spec from
``plurieval.specs``. Return values are ignored. Lifecycle hooks are called by the runner while
a run goes on; observers (tracking, progress display) implement them. A hook that raises is
reported with the plugin's name and does not stop the other plugins.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import typer

    from plurieval.run import RunView
    from plurieval.specs import (
        BenchmarkSpec,
        DatasetSpec,
        MethodSpec,
        MetricSpec,
        ModelSpec,
        ResourceSpec,
    )
    from plurieval.sweep.driver import SweepContext, SweepRecord

hookspec = pluggy.HookspecMarker("plurieval")
hookimpl = pluggy.HookimplMarker("plurieval")


# --- contributions: called once at plugin load; register(spec) adds one component ----------

@hookspec
def register_datasets(register: Callable[[DatasetSpec], None]) -> None:
    """Register datasets: ``factory(config) -> plurieval.components.Dataset``."""


@hookspec
def register_methods(register: Callable[[MethodSpec], None]) -> None:
    """Register methods: ``factory(config) -> SteeringMethod | ExplanationMethod``."""


@hookspec
def register_metrics(register: Callable[[MetricSpec], None]) -> None:
    """Register metrics: ``factory(config) -> Metric``. A spec with ``needs={"model", "method"}``
    gets the model and method under evaluation in its ``MetricContext``."""


@hookspec
def register_benchmarks(register: Callable[[BenchmarkSpec], None]) -> None:
    """Register benchmarks: ``factory(config) -> Benchmark`` (dataset + protocol + metrics)."""


@hookspec
def register_models(register: Callable[[ModelSpec], None]) -> None:
    """Register model loaders: ``factory(config) -> plurieval.models.LanguageModel``."""


@hookspec
def register_resources(register: Callable[[ResourceSpec], None]) -> None:
    """Register shared scoring backends (language identifiers, embedders, judges, knowledge
    bases): ``factory(config) -> object`` implementing the role named by ``spec.provides``."""


@hookspec
def register_commands(cli: typer.Typer) -> None:
    """Add commands to the ``plurieval`` CLI (``@cli.command()`` or ``cli.add_typer``).
    Called when the CLI starts, after the built-in commands exist. ``cli`` is this plugin's own
    sandbox: a command whose name is taken (built-in or another plugin's) is refused and
    reported with the plugin's name, and nothing can remove a built-in command."""


# --- lifecycle: called by the runner; implementations observe, they never change results --
# ``run`` is a read-only ``plurieval.run.RunView`` (run_id, run_dir, resumed, config and
# manifest copies, scope); its one write, ``run.annotate(section, value)``, adds an observer's
# own section to the manifest (the tracker records where it uploads).

@hookspec
def run_started(run: RunView) -> None:
    """A run begins: its manifest is written, nothing is evaluated yet. ``run.resumed`` tells
    whether it continues an interrupted run."""


@hookspec
def example_scored(run: RunView, key: str, record: Mapping[str, Any]) -> None:
    """One per-example result was written to ``results.jsonl`` (``key`` is its unique key;
    ``record`` is a read-only copy of the row)."""


@hookspec
def metric_computed(
    run: RunView, name: str, value: float, step: int | None, labels: dict[str, str]
) -> None:
    """An aggregate metric is known. ``labels`` qualify it (``{"language": "de"}``);
    ``step`` orders a series (a layer index in a sweep)."""


@hookspec
def artifact_written(run: RunView, path: str, kind: str) -> None:
    """A file was written into the run directory (``kind``: plot, table, intervention, ...)."""


@hookspec
def run_finished(run: RunView, summary: dict[str, Any] | None, error: BaseException | None) -> None:
    """A run ended: ``summary`` on success, ``error`` when it failed or was interrupted."""


# --- sweeps: called on the driver of ``plurieval sweep``, never on its workers ------------

@hookspec
def sweep_started(sweep: SweepContext) -> None:
    """A sweep begins: its grid is expanded into ``sweep.runs`` and ``sweep.directory`` exists;
    no run has been dispatched yet. An observer may put JSON-able values into
    ``sweep.data[its name]``: every run of the sweep sees them as ``run.sweep["data"]`` (the
    MLflow tracker shares its parent run this way). Return value ignored."""


@hookspec
def sweep_run_finished(sweep: SweepContext, record: SweepRecord) -> None:
    """One run of the sweep ended (or was found complete already): ``record.status`` is
    ``complete`` or ``failed``; a complete run's directory is in the output folder by now (brought
    back from its worker when they share no file system). Return value ignored."""


@hookspec
def sweep_finished(sweep: SweepContext, index: dict[str, Any], error: BaseException | None) -> None:
    """A sweep ended: ``index`` is what ``sweep.json`` holds (every run, its status and
    directory, the comparison files); ``error`` when the sweep itself was interrupted or failed.
    Runs that failed are listed in the index, not raised here. Return value ignored."""
