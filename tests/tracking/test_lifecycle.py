"""The lifecycle half of the plugin contract, seen by an observer plugin as a third party would
write one: what is called, in which order, with what. A meta-check keeps every hook documented."""

from __future__ import annotations

import inspect
import json

import pytest
from conftest import tiny_config

from plurieval import hookspecs
from plurieval.hookspecs import hookimpl
from plurieval.runner import execute

LIFECYCLE = ("run_started", "example_scored", "metric_computed", "artifact_written", "run_finished")


class Observer:
    def __init__(self):
        self.calls = []

    @hookimpl
    def run_started(self, run):
        self.calls.append(("run_started", run.resumed, (run.run_dir / "manifest.json").exists()))

    @hookimpl
    def example_scored(self, run, key, record):
        self.calls.append(("example_scored", key, record["prediction"]))

    @hookimpl
    def metric_computed(self, run, name, value, step, labels):
        self.calls.append(("metric_computed", name, value, step, dict(labels), tuple(run.scope)))

    @hookimpl
    def artifact_written(self, run, path, kind):
        self.calls.append(("artifact_written", path, kind))

    @hookimpl
    def run_finished(self, run, summary, error):
        self.calls.append(("run_finished", summary is not None, error))


def test_every_hook_is_documented_with_when_and_what():
    specs = [f for name, f in inspect.getmembers(hookspecs, inspect.isfunction) if hasattr(f, "plurieval_spec")]
    assert {f.__name__ for f in specs} >= set(LIFECYCLE) | {"register_datasets", "register_methods",
                                                            "register_metrics", "register_benchmarks",
                                                            "register_models", "register_resources",
                                                            "register_commands"}
    for f in specs:
        doc = inspect.getdoc(f) or ""
        assert len(doc) > 40, f"{f.__name__} needs a docstring saying when it is called and what it returns"


def test_an_observer_sees_the_whole_run_in_order(host, tmp_path):
    observer = Observer()
    host.add_plugin(observer, name="observer", distribution="observer-dist")
    outcome = execute(tiny_config(tmp_path, n=3, sweep=[0, 2]), host)
    calls = observer.calls
    names = [c[0] for c in calls]
    assert names[0] == "run_started" and names[-1] == "run_finished" and names.count("run_started") == 1
    assert calls[0][1:] == (False, True)  # not resumed; the manifest is already written
    assert calls[-1][1:] == (True, None)
    rows = [json.loads(x) for x in (outcome.run_dir / "results.jsonl").read_text().splitlines()]
    scored = [c for c in calls if c[0] == "example_scored"]
    assert [(c[1], c[2]) for c in scored] == [(r["key"], r["prediction"]) for r in rows] and len(scored) == 3
    metrics = [c for c in calls if c[0] == "metric_computed"]
    summary = outcome.summary["metrics"]
    top = {c[1]: c[2] for c in metrics if c[3] is None and not c[4] and not c[5]}
    assert top and all(top[name] == pytest.approx(summary[name]) for name in top)
    # sweep points arrive inside their nested scope, with the layer as the step
    swept = [(c[5], c[3], c[2]) for c in metrics if c[5]]
    assert [(scope, step) for scope, step, _ in swept] == [(("layer=0",), 0), (("layer=2",), 2)]
    assert [v for *_, v in swept] == pytest.approx([summary["resid_norm/layer0"], summary["resid_norm/layer2"]])
    kinds = {(c[1].rsplit("/", 1)[-1], c[2]) for c in calls if c[0] == "artifact_written"}
    assert ("summary.json", "summary") in kinds
    # everything was observed before the run finished
    assert names.index("run_finished") == len(names) - 1


def test_an_interrupted_run_is_reported_with_its_error(host, tmp_path, monkeypatch):
    observer = Observer()
    host.add_plugin(observer, name="observer", distribution="observer-dist")
    import tinybench.impl

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(tinybench.impl.TinyEcho, "run", boom)
    with pytest.raises(KeyboardInterrupt):
        execute(tiny_config(tmp_path, n=3), host)
    assert observer.calls[-1][0] == "run_finished" and observer.calls[-1][1] is False
    assert isinstance(observer.calls[-1][2], KeyboardInterrupt)
    manifest = json.loads(next(tmp_path.glob("*/manifest.json")).read_text())
    assert manifest["status"] == "interrupted"
