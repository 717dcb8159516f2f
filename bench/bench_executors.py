"""The same small sweep under the local executor and on a local Ray cluster, side by side.

Each mode gets its own output folder and the result cache is off, so every mode computes
everything (the model is converted once, before any timing, into a private cache dir). Times:
the whole sweep as a user waits for it (Ray's cluster start included, and also shown apart),
and per task: the run's own compute time (``summary.json`` ``duration_s``: model load,
generation, metrics) against the time the driver saw the task take (start event to result), the
difference being the executor's overhead per task. The metrics of every mode are checked to be
identical. Run it on an otherwise idle machine (the figures in docs/scale.md: 2 cores):

    .venv/bin/python bench/bench_executors.py
    python bench/bench_executors.py --model tiny        # tiny random model (seconds)

The planned multi-node figure in docs/scale.md is computed from the per-task times printed here.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("PLURIEVAL_NO_PROGRESS", "1")
os.environ.setdefault("PLURIEVAL_NO_TRACKING", "1")
ROOT = Path(__file__).resolve().parents[1]
TINYBENCH = ROOT / "tests" / "tracking"
sys.path.insert(0, str(TINYBENCH))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="default", help="'default' (SmolLM2-135M) or 'tiny'")
    parser.add_argument("--alphas", default="0,2,4,8", help="grid: one run per steering strength")
    parser.add_argument("--n", type=int, default=8, help="prompts per run")
    parser.add_argument("--max-new-tokens", type=int, default=16)
    args = parser.parse_args()

    import tinybench.plugin

    from plurieval.host import PluginHost
    from plurieval.sweep import build_sweep_config, run_sweep
    from plurieval.sweep.executors import LocalExecutor, RayExecutor, Resources
    from plurieval.sweep.spec import sweep_data

    tmp = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    os.environ["PLURIEVAL_CACHE_DIR"] = str(tmp / "cache")  # the converted model; no result cache below
    host = PluginHost(autoload=args.model != "tiny")
    host.add_plugin(tinybench.plugin, name="tinybench", distribution="plurieval-tinybench", version="0.1.0")
    model = "tiny-test" if args.model == "tiny" else args.model
    host.get("model", model).create({})  # one-time imports and GGUF conversion, outside every timing

    def config(name: str, kind: str):
        return build_sweep_config(sweep_data(
            benchmark="tiny-echo", model=model, grid=[f"alpha=[{args.alphas}]"], output=tmp / name / "runs",
            set_=[f"n={args.n}", f"max_new_tokens={args.max_new_tokens}"], tracking={"enabled": False}, cache=False,
            executor={"kind": kind, "cpus_per_task": 1}))

    def timed(name: str, kind: str, make_executor):
        t0 = time.perf_counter()
        executor = make_executor()
        t1 = time.perf_counter()
        outcome = run_sweep(config(name, kind), host, executor=executor, quiet=True)
        t2 = time.perf_counter()
        slots = executor.slots
        executor.close()
        assert not outcome.failed, [r.error for r in outcome.failed]
        index = json.loads((outcome.directory / "sweep.json").read_text())
        compute = [json.loads((r.run_dir / "summary.json").read_text())["duration_s"] for r in outcome.records]
        seen = [row["duration_s"] for row in index["runs"]]
        metrics = [json.dumps(r.summary["metrics"], sort_keys=True) for r in outcome.records]
        return {"name": name, "start": t1 - t0, "sweep": t2 - t1, "total": t2 - t0, "compute": compute,
                "seen": seen, "metrics": metrics, "slots": slots}

    ray_env = {"env_vars": {"PYTHONPATH": str(TINYBENCH), "OMP_WAIT_POLICY": "PASSIVE",
                            "PLURIEVAL_NO_PROGRESS": "1", "PLURIEVAL_NO_TRACKING": "1"}}
    results = [
        timed("local-sequential", "local", lambda: LocalExecutor(workers=1, host=host)),
        timed("local-pool-2", "local", lambda: LocalExecutor(workers=2, host=host)),
        timed("ray-2-cpus", "ray", lambda: RayExecutor(resources=Resources(cpus=1), num_cpus=2, runtime_env=ray_env)),
    ]
    base = results[0]
    runs = len(base["compute"])
    print(f"model={model} runs={runs} (alpha in {args.alphas}) prompts={args.n} max_new_tokens={args.max_new_tokens}"
          f" cpus_per_task=1 cores={os.cpu_count()}")
    print(f"{'executor':<18} {'slots':>5} {'start s':>8} {'sweep s':>8} {'total s':>8} {'vs local':>9} "
          f"{'task compute s':>15} {'task seen s':>12} {'overhead/task s':>16}")
    for r in results:
        overhead = statistics.mean(s - c for s, c in zip(r["seen"], r["compute"], strict=True))
        print(f"{r['name']:<18} {r['slots']:>5} {r['start']:>8.2f} {r['sweep']:>8.2f} {r['total']:>8.2f} "
              f"{r['total'] / base['total']:>8.2f}x {statistics.mean(r['compute']):>15.2f} "
              f"{statistics.mean(r['seen']):>12.2f} {overhead:>16.2f}")
        assert r["metrics"] == base["metrics"], f"{r['name']} changed the metrics"
    print("metrics identical under every executor")
    print("per-task compute times (s):", {r["name"]: r["compute"] for r in results})


if __name__ == "__main__":
    main()
