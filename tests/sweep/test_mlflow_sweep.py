"""One MLflow parent run per sweep with every run nested under it (a real MLflow tracking store,
SQLite), uploaded by the driver; a second start of the sweep keeps the same parent run."""

from __future__ import annotations

import json

import pytest

from plurieval.sweep import build_sweep_config, run_sweep
from plurieval.sweep.spec import sweep_data


@pytest.fixture
def tracked_host(toy_host, monkeypatch):
    import plurieval_mlflow.plugin

    monkeypatch.delenv("PLURIEVAL_NO_TRACKING", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    toy_host.add_plugin(plurieval_mlflow.plugin, name="mlflow", distribution="plurieval", version="0.1.0")
    yield toy_host
    toy_host.pm.unregister(name="mlflow")
    del toy_host.plugins["mlflow"]


def test_sweep_is_one_parent_run_with_the_runs_nested(tracked_host, tmp_path):
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    config = build_sweep_config(sweep_data(benchmark="toybench", model="toy-model", methods="toy-skill",
                                           grid=["method.skill=[0.3,0.8]"], output=tmp_path / "runs",
                                           tracking={"uri": uri}))
    outcome = run_sweep(config, tracked_host, quiet=True, boards_root=tmp_path / "no-boards")
    index = json.loads((outcome.directory / "sweep.json").read_text())
    parent_id = index["tracking"]["parent_run_id"]
    client = MlflowClient(tracking_uri=uri)
    parent = client.get_run(parent_id)
    assert parent.info.status == "FINISHED" and parent.data.tags["plurieval.sweep_id"] == outcome.directory.name
    assert parent.data.params["grid.method.skill"] == "[0.3, 0.8]" and parent.data.metrics["runs_complete"] == 2
    assert {a.path for a in client.list_artifacts(parent_id)} >= {"sweep.json", "comparison.md", "comparison.png"}
    exp = client.get_experiment_by_name("plurieval-toybench")
    children = client.search_runs([exp.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent_id}'")
    assert sorted(c.data.tags["plurieval.run_id"] for c in children) == sorted(r.run_id for r in outcome.records)
    for child in children:
        record = next(r for r in outcome.records if r.run_id == child.data.tags["plurieval.run_id"])
        assert child.data.metrics["toy-balanced"] == pytest.approx(record.summary["metrics"]["toy-balanced"])
        state = json.loads((record.run_dir / "tracking" / "state.json").read_text())
        assert state["status"] == "synced" and state["parent_run_id"] == parent_id

    # again: the same parent run, the runs stay one MLflow run each (not uploaded twice)
    again = run_sweep(config, tracked_host, quiet=True, boards_root=tmp_path / "no-boards")
    assert json.loads((again.directory / "sweep.json").read_text())["tracking"]["parent_run_id"] == parent_id
    runs = client.search_runs([exp.experiment_id])
    assert len(runs) == 3
