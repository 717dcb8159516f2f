"""Steering and extraction overhead, measured side by side in one run.

    python bench/bench_steering.py            # default model (SmolLM2-135M-Instruct)
    python bench/bench_steering.py --tiny     # tiny random Llama (no model files needed)

Prints ratios (medians over interleaved repeats, so machine load hits both arms alike):
  * steered / plain ``generate`` (same batch, same number of generated tokens; target ≤ 1.05)
  * one-layer ``extract`` (stops after the layer) / a forward with ``output_hidden_states``
    (target ≤ 0.6 for a middle layer)
  * the same steering with repeng and nnsight, when importable (they are not dependencies; to
    include them: ``pip install --no-deps --target DIR repeng nnsight greenlet websocket-client
    zstandard`` and pass ``--peers DIR``; steering-vectors needs transformers<5 and is skipped).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

from plurieval.models import AddVector, LanguageModel  # noqa: E402

PROMPTS = [
    "Write a short poem about the sea.",
    "Explain what a steering vector is.",
    "List three fruits.",
    "What is the capital of France?",
    "Describe your favourite book in two sentences.",
    "How do plants make food?",
    "Give me a tip for learning languages.",
    "Why is the sky blue?",
]


def interleaved(arms: dict, repeats: int, warmup: bool = True) -> dict[str, dict[str, float]]:
    """Run every arm once per round, reversing the order each round (ABBA), after one warm-up
    round (``warmup=False``: none, for arms that take minutes; warm the model up yourself).
    The machine is shared, so each arm's time is compared with the baseline's (first arm) *in
    the same round* and the median of those per-round ratios is reported, for wall time and for
    this process's CPU time (which other processes' load barely affects). What an arm returns
    (e.g. its generated tokens) is kept as ``value``."""
    names = list(arms)
    rounds: list[dict[str, tuple[float, float]]] = []
    values: dict[str, object] = {}
    for r in range(repeats + int(warmup)):
        row = {}
        for name in names if r % 2 == 0 else names[::-1]:
            w, c = time.perf_counter(), time.process_time()
            values[name] = arms[name]()
            row[name] = (time.perf_counter() - w, time.process_time() - c)
        if r or not warmup:
            rounds.append(row)
    base = names[0]
    out = {}
    for name in names:
        out[name] = {
            "wall_s": statistics.median(row[name][0] for row in rounds),
            "cpu_s": statistics.median(row[name][1] for row in rounds),
            "wall_ratio": statistics.median(row[name][0] / row[base][0] for row in rounds),
            "cpu_ratio": statistics.median(row[name][1] / row[base][1] for row in rounds),
            "value": values.get(name),
        }
    return out


def report(med: dict[str, dict[str, float]], base: str) -> None:
    print(f"  {'arm':<28} {'wall s':>8} {'cpu s':>8}   ratio vs {base} (wall / cpu)")
    for name, m in med.items():
        print(f"  {name:<28} {m['wall_s']:8.3f} {m['cpu_s']:8.3f}   {m['wall_ratio']:.3f} / {m['cpu_ratio']:.3f}")


def bench_generation(lm: LanguageModel, layer: int, tokens: int, repeats: int, peers: bool) -> None:
    g = torch.Generator().manual_seed(0)
    v = torch.randn(lm.hidden_size, generator=g)
    # A small α keeps the generated tokens identical to plain generation, so both arms decode
    # exactly the same number of tokens and only the hook cost differs.
    iv = AddVector(v / v.norm(), layers=[layer], alpha=1e-3)
    settings = dict(max_new_tokens=tokens, batch_size=len(PROMPTS))
    plain_out = lm.generate(PROMPTS, **settings)
    steered_out = lm.generate(PROMPTS, intervention=iv, **settings)
    n_plain, n_steer = sum(len(x.token_ids) for x in plain_out), sum(len(x.token_ids) for x in steered_out)
    arms = {
        "plain": lambda: lm.generate(PROMPTS, **settings),
        "steered": lambda: lm.generate(PROMPTS, intervention=iv, **settings),
    }
    if peers:
        arms.update(peer_arms(lm, v / v.norm() * 1e-3, layer, settings))
    med = interleaved(arms, repeats)
    print(f"\n[generate] batch {len(PROMPTS)}, max_new_tokens {tokens}, AddVector at layer {layer}")
    print(f"  generated tokens: plain {n_plain}, steered {n_steer}")
    report(med, "plain")


def peer_arms(lm: LanguageModel, vector: torch.Tensor, layer: int, settings: dict) -> dict:
    """The same steering through peer libraries, generating through our own batching/padding so
    only the hooking mechanism differs."""
    arms = {}
    try:
        import numpy as np

        if not hasattr(np, "float_"):  # repeng 0.4 still uses the alias NumPy 2 removed
            np.float_ = np.float64
        from repeng import ControlModel, ControlVector

        hf = lm.hf
        control = ControlVector(model_type=hf.config.model_type, directions={layer: vector.numpy()})

        def repeng_arm():
            # repeng replaces the decoder layers by wrappers; wrap and unwrap inside the arm so
            # the other arms run on the untouched model.
            ctrl = ControlModel(hf, [layer])
            try:
                ctrl.set_control(control, 1.0)
                lm.generate(PROMPTS, **settings)
            finally:
                ctrl.unwrap()

        arms["repeng"] = repeng_arm
    except Exception as err:  # noqa: BLE001 - a peer failing to run is reported, not fatal
        print(f"  (repeng skipped: {type(err).__name__}: {err})")
    try:
        from nnsight import LanguageModel as NNModel

        nn_model = NNModel(lm.hf, tokenizer=lm.tokenizer)
        layers = nn_model.model.layers
        ids, mask = lm.pad_left(lm.encode(PROMPTS))

        def nnsight_arm():
            with nn_model.generate({"input_ids": ids, "attention_mask": mask}, max_new_tokens=settings["max_new_tokens"],
                                   do_sample=False, pad_token_id=lm.pad_token_id):
                with layers[layer].all():
                    layers[layer].input[:] += vector.to(lm.dtype)

        arms["nnsight"] = nnsight_arm
    except Exception as err:  # noqa: BLE001
        print(f"  (nnsight skipped: {type(err).__name__}: {err})")
    return arms


def bench_extraction(lm: LanguageModel, layer: int, repeats: int) -> None:
    point = f"blocks.{layer}.resid_post"

    def ours():
        return lm.extract(PROMPTS, [point], reduce="last", batch_size=len(PROMPTS))[point]

    def hidden_states(**kw):
        ids, mask = lm.pad_left(lm.encode(PROMPTS))
        with torch.inference_mode():
            out = lm.hf(input_ids=ids, attention_mask=mask, position_ids=lm._position_ids(mask),
                        output_hidden_states=True, use_cache=False, **kw)
        return out.hidden_states[layer + 1][:, -1].float()

    torch.testing.assert_close(ours(), hidden_states(), rtol=1e-4, atol=1e-4)
    # The usual call computes logits for every position (a big LM-head matmul); the second arm
    # keeps only the last position's logits, so it isolates the saving from skipped layers.
    med = interleaved({"output_hidden_states": hidden_states,
                       "hidden_states+keep1": lambda: hidden_states(logits_to_keep=1),
                       "extract": ours}, repeats)
    print(f"\n[extract] batch {len(PROMPTS)}, {point} of {lm.num_layers} layers (values checked equal)")
    report(med, "output_hidden_states")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tiny", action="store_true", help="tiny random Llama instead of the default model")
    ap.add_argument("--tokens", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=8)
    ap.add_argument("--peers", default=None, help="folder with repeng/nnsight installed (--target)")
    ap.add_argument("--only", choices=["extract", "generate"], default=None, help="run one part only")
    args = ap.parse_args()
    if args.peers:
        sys.path.append(args.peers)
    if args.tiny:
        from plurieval.models.testing import tiny_model

        lm = tiny_model("llama")
    else:
        from plurieval.models import load_default

        lm = load_default()
    print(f"model {lm.name}: {lm.num_layers} layers, d={lm.hidden_size}, torch threads {torch.get_num_threads()}")
    middle = lm.num_layers // 2
    if args.only != "generate":
        bench_extraction(lm, middle, args.repeats)
    if args.only != "extract":
        bench_generation(lm, middle, args.tokens, args.repeats, peers=bool(args.peers))


if __name__ == "__main__":
    main()
