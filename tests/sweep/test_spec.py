"""Expanding a sweep: options and sweep files into the same run configs ``plurieval run`` makes,
in a fixed order, with errors that name the grid point and the field."""

from __future__ import annotations

import pytest
import yaml

from plurieval.config import apply_overrides, build_run_config
from plurieval.errors import ConfigError
from plurieval.runner import run_id_for
from plurieval.sweep.spec import build_sweep_config, expand, sweep_data


def _plan(host, **options):
    return expand(build_sweep_config(sweep_data(**options)), host)


def test_grid_expands_in_order_into_the_runs_plurieval_run_would_make(toy_host, tmp_path):
    plan = _plan(toy_host, benchmark="toybench,toybench-lite", model="toy-model", methods="toy-skill",
                 grid=["method.skill=[0.3,0.8]"], set_=["size=12"], limit=3, output=tmp_path)
    assert [(r.point["benchmark"], r.point["method.skill"]) for r in plan.runs] == [
        ("toybench", 0.3), ("toybench", 0.8), ("toybench-lite", 0.3), ("toybench-lite", 0.8)]
    # the same settings given to `plurieval run` give the same config, hence the same run id
    alone = build_run_config(apply_overrides(
        {"benchmark": "toybench-lite", "model": "toy-model", "method": "toy-skill", "limit": 3,
         "output_dir": str(tmp_path)}, ["size=12", "method.skill=0.8"]))
    assert plan.runs[3].config == alone
    assert plan.runs[3].run_id == run_id_for(alone)
    assert len({r.run_id for r in plan.runs}) == 4
    assert plan.sweep_id.startswith("toybench-toybench-lite_")
    # the id depends only on which runs the sweep holds
    assert _plan(toy_host, benchmark="toybench,toybench-lite", model="toy-model", methods="toy-skill",
                 grid=["method.skill=[0.3,0.8]"], set_=["size=12"], limit=3, output=tmp_path).sweep_id == plan.sweep_id


def test_sweep_file_takes_lists_for_the_same_keys_and_options_override_it(toy_host, tmp_path):
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump({
        "benchmark": ["toybench"], "model": "toy-model",
        "methods": [{"name": "toy-skill", "params": {"salt": "x"}}, "toy-skill"],
        "set": {"size": 10}, "grid": {"method.skill": [0.5, 0.9]}, "limit": 2,
        "executor": "ray", "address": "auto", "output": str(tmp_path / "out")}))
    config = build_sweep_config(sweep_data(path, limit=4, grid=["seed=[1,2]"], executor={"max_retries": 5}))
    assert config.executor.kind == "ray" and config.executor.address == "auto" and config.executor.max_retries == 5
    assert config.limit == 4 and config.grid == {"method.skill": [0.5, 0.9], "seed": [1, 2]}
    plan = expand(config, toy_host)
    assert len(plan.runs) == 2 * 2 * 2
    first = plan.runs[0].config
    assert first.method.params == {"salt": "x", "skill": 0.5} and first.seed == 1 and first.limit == 4
    assert first.benchmark.params == {"size": 10} and str(first.output_dir) == str(tmp_path / "out")


def test_identical_grid_points_run_once(toy_host, tmp_path):
    plan = _plan(toy_host, benchmark="toybench", model="toy-model", methods="toy-skill",
                 grid=["method.skill=[0.8,0.8]"], output=tmp_path)
    assert len(plan.runs) == 1
    assert plan.duplicates == ["[benchmark=toybench, model=toy-model, method=toy-skill, method.skill=0.8] is the "
                               "same run as [benchmark=toybench, model=toy-model, method=toy-skill, method.skill=0.8]"]


def test_bad_points_are_reported_together_with_their_grid_point_and_field(toy_host, tmp_path):
    with pytest.raises(ConfigError) as err:
        _plan(toy_host, benchmark="toybench", model="toy-model", methods="toy-skil,toy-skill",
              grid=["method.skill=[0.5,7]"], output=tmp_path)
    text = str(err.value)
    assert "[benchmark=toybench, model=toy-model, method=toy-skil, method.skill=0.5] method.name" in text
    assert "Did you mean: toy-skill?" in text
    assert "[benchmark=toybench, model=toy-model, method=toy-skill, method.skill=7] method.params.skill" in text
    assert "less than or equal to 1" in text


def test_sweep_config_errors_name_the_field():
    with pytest.raises(ConfigError) as err:
        build_sweep_config({"benchmark": "toybench", "executor": {"kind": "ray", "gpus_per_tsk": 1}})
    assert "executor.gpus_per_tsk: unknown field; did you mean 'gpus_per_task'?" in str(err.value)
    with pytest.raises(ConfigError) as err:
        build_sweep_config({"benchmark": "toybench", "grid": {"method.alpha": []}})
    assert "grid axis 'method.alpha' has no values" in str(err.value)


def test_no_method_means_the_benchmarks_default_with_its_run_id(host, tmp_path):
    # clasbench's default method is diffmean: `methods: none` and `diffmean` are the same run,
    # with the id `plurieval run clasbench` gives it
    plan = _plan(host, benchmark="clasbench", model="default", methods="none,diffmean", limit=2, output=tmp_path)
    assert len(plan.runs) == 1 and plan.runs[0].run_id.startswith("clasbench_diffmean_default_")
    assert plan.runs[0].config.method.name == "diffmean" and len(plan.duplicates) == 1
