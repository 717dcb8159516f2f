"""Re-running a finished config from the cache vs the first run, measured side by side.

Both runs go through the real runner (model load, manifest, results file, metrics); the second
is the same config re-run with ``force`` (a finished run redone), served from the
content-addressed cache. Tracking is off in both (the MLflow upload would add the same few
seconds to each and hide what the cache does). A private cache dir is used, so the first run is
truly cold.

    python bench/bench_cache.py                     # embedded SmolLM2-135M (default model)
    python bench/bench_cache.py --model tiny        # tiny random model (seconds)

The benchmark is the cheap-but-real ``tiny-echo`` test benchmark from tests/tracking/tinybench.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "tracking"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="default", help="'default' (SmolLM2-135M) or 'tiny'")
    parser.add_argument("--n", type=int, default=16, help="prompts")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-cache-"))
    os.environ["PLURIEVAL_CACHE_DIR"] = str(tmp / "cache")
    os.environ["PLURIEVAL_NO_PROGRESS"] = "1"

    import tinybench.plugin

    from plurieval.config import build_run_config
    from plurieval.host import PluginHost
    from plurieval.runner import execute

    host = PluginHost(autoload=args.model != "tiny")
    host.add_plugin(tinybench.plugin, name="tinybench", distribution="plurieval-tinybench", version="0.1.0")
    model = "tiny-test" if args.model == "tiny" else args.model
    config = build_run_config({
        "benchmark": {"name": "tiny-echo", "params": {"n": args.n, "max_new_tokens": args.max_new_tokens}},
        "model": model, "batch_size": args.batch_size, "output_dir": str(tmp / "runs"),
        "tracking": {"enabled": False},
    })
    # Import torch/transformers and do any one-time GGUF conversion before timing: neither is
    # what the cache changes, and both would flatter the ratio.
    host.get("model", model).create({})

    t0 = time.perf_counter()
    first = execute(config, host)
    t1 = time.perf_counter()
    second = execute(config, host, force=True)
    t2 = time.perf_counter()

    cold, warm = t1 - t0, t2 - t1
    assert second.summary["cache"]["misses"] == 0, second.summary["cache"]
    assert second.summary["metrics"] == first.summary["metrics"], "cached re-run changed the metrics"
    print(f"model={model} prompts={args.n} max_new_tokens={args.max_new_tokens} batch_size={args.batch_size}")
    print(f"first run (cold cache):        {cold:8.2f} s   {first.summary['cache']}")
    print(f"re-run of the finished config: {warm:8.2f} s   {second.summary['cache']}")
    print(f"speed-up from the cache: {cold / warm:.1f}x (target >= 20x); metrics identical")


if __name__ == "__main__":
    main()
