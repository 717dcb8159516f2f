"""Sweeps: a grid of runs (benchmarks × models × methods × grid values) executed locally or on a
Ray cluster with identical results, indexed in ``sweep.json`` and compared side by side.

- ``spec``: the sweep config (CLI options or a sweep file) and its expansion into run configs;
- ``executors``: where tasks run (``local``: in-process or a process pool; ``ray``);
- ``worker``: what a worker does with one task (load the driver's plugins, pick the output
  folder and the cache it can safely use, execute, send results back);
- ``driver``: dispatch, progress, ``sweep.json``, the sweep observer hooks;
- ``compare``: the comparison table and plot, made as ``leaderboard compare`` makes them.
"""

from plurieval.sweep.driver import SweepContext, SweepOutcome, SweepRecord, plan_sweep, run_sweep
from plurieval.sweep.executors import Executor, LocalExecutor, RayExecutor, Task, TaskOutcome, make_executor
from plurieval.sweep.spec import ExecutorConfig, SweepConfig, build_sweep_config, expand

__all__ = ["Executor", "ExecutorConfig", "LocalExecutor", "RayExecutor", "SweepConfig", "SweepContext",
           "SweepOutcome", "SweepRecord", "Task", "TaskOutcome", "build_sweep_config", "expand", "make_executor",
           "plan_sweep", "run_sweep"]
