"""The sweep engine, measured side by side in one run (ratios; see docs/speed.md for results).

    python bench/bench_sweep.py                  # every part, default model (SmolLM2-135M-Instruct)
    python bench/bench_sweep.py --only sweep     # one part: sweep, scoring, overhead, batch, dtype
    python bench/bench_sweep.py --tiny           # tiny random Llama (a smoke test of the script)

Parts:
  sweep     (a) a CLaS-Bench-sized grid for one target language (5 layers × 3 strengths × 8
            selection prompts, 48 new tokens, DiffMean directions fitted on the shipped sample)
            as heterogeneous batches (one lane with whole prompts; + the shared prompt prefix;
            + one decoding lane per torch thread; + the decoding step's preallocated KV cache and
            column-blocked LM head) vs setting by setting with transformers'
            ``generate`` at batch 8 float32 (what peer libraries do), in generated tokens per
            second;
  scoring   (b) PolyRefuse-style candidate scoring: next-token log-probabilities under the
            directional ablation of each of many candidate directions, per-row-intervention
            batches vs one candidate at a time (batch 8);
  memory    (c) peak RSS of every arm of (a) and (b), each run alone in a fresh process;
  overhead  one setting: steered / plain ``generate`` (same loop, same tokens), and our decoding
            loop / transformers' ``generate`` (plain, batch 8);
  batch     generated tokens/s vs rows per batch, float32 and bfloat16;
  dtype     float32 vs bfloat16 (float32 accumulation, the CPU default) vs bfloat16 with torch's
            own kernels: generated tokens/s and the share of identical greedy rows and tokens.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import torch  # noqa: E402
from bench_steering import interleaved, report  # noqa: E402

from plurieval.models import AddVector, DirectionalAblation, LanguageModel, decoding  # noqa: E402

SAMPLE = ROOT / "plugins" / "plurieval_clasbench" / "data" / "sample"
LAYER_COUNT, ALPHAS, SELECTION_PROMPTS, NEW_TOKENS = 5, (3.0, 5.0, 8.0), 8, 48


@contextlib.contextmanager
def decoding_step(fast: bool):
    """``fast=False``: the decoding step before the preallocated KV cache and the column-blocked
    LM head (``DynamicCache`` concatenation, the whole head in one product)."""
    saved = decoding.PREALLOCATED_KV, decoding.HEAD_BLOCK_COLUMNS
    if not fast:
        decoding.PREALLOCATED_KV, decoding.HEAD_BLOCK_COLUMNS = False, 0
    try:
        yield
    finally:
        decoding.PREALLOCATED_KV, decoding.HEAD_BLOCK_COLUMNS = saved


def load(tiny: bool, dtype: str) -> LanguageModel:
    if tiny:
        from plurieval.models.testing import tiny_model

        lm = tiny_model("llama")
        return lm if dtype == "float32" else LanguageModel(lm.hf.to(torch.bfloat16), lm.tokenizer, name=lm.name)
    from plurieval.models import load_default

    return load_default(dtype=dtype)


def questions(lang: str) -> list[str]:
    return (SAMPLE / f"{lang}.txt").read_text(encoding="utf-8").splitlines()


def clas_layers(num_layers: int) -> list[int]:
    """CLaS-Bench's default grid: 5 evenly spaced layers from L/6 to 5L/6."""
    lo, hi = num_layers / 6, 5 * num_layers / 6
    return sorted({min(num_layers - 1, round(lo + i * (hi - lo) / (LAYER_COUNT - 1))) for i in range(LAYER_COUNT)})


def clas_grid(lm: LanguageModel, target: str = "de") -> tuple[list[str], list[AddVector]]:
    """The selection prompts and the 15 settings of one target: DiffMean (unit mean difference
    of target vs English token activations at resid_pre) with α in units of the layer's median
    token norm / 10, as the DiffMean method's default ``alpha_unit="norm"``."""
    en, tgt = questions("en"), questions(target)
    train_en, train_t = en[:16], tgt[:16]
    points = [f"blocks.{layer}.resid_pre" for layer in clas_layers(lm.num_layers)]
    acts = lm.extract(train_en + train_t, points, reduce="all", chat=False)
    settings = []
    for point in points:
        layer = int(point.split(".")[1])
        rows_en = torch.cat(acts[point][: len(train_en)])
        rows_t = torch.cat(acts[point][len(train_en):])
        direction = rows_t.mean(0) - rows_en.mean(0)
        direction = direction / direction.norm()
        unit = torch.cat([rows_en, rows_t]).norm(dim=-1).median() / 10
        settings += [AddVector(direction, layers=[layer], alpha=float(a * unit)) for a in ALPHAS]
    return en[16:16 + SELECTION_PROMPTS], settings


def hf_generate(lm: LanguageModel, prompts: list[str], iv, max_new_tokens: int) -> list[list[int]]:
    """transformers' ``generate`` with the intervention's hooks: the one-setting-per-call path."""
    from transformers import GenerationConfig

    cfg = GenerationConfig(max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=lm.pad_token_id,
                           eos_token_id=lm.eos_token_ids, temperature=None, top_p=None, top_k=None)
    ids, mask = lm.pad_left(lm.encode(prompts))
    with torch.inference_mode(), lm.steer(iv), lm._prompt_len(ids.shape[1]):
        seqs = lm.hf.generate(input_ids=ids, attention_mask=mask, generation_config=cfg)
    out = []
    for row in seqs[:, ids.shape[1]:].tolist():
        new = []
        for t in row:
            new.append(t)
            if t in lm.eos_token_ids:
                break
        out.append(new)
    return out


def _tokens(rows: list[list[int]]) -> int:
    return sum(len(r) for r in rows)


def same_share(a: list[list[int]], b: list[list[int]]) -> tuple[float, float]:
    """(share of identical rows, share of token positions equal before the first difference)."""
    rows = sum(x == y for x, y in zip(a, b, strict=True)) / len(a)
    agree, total = 0, 0
    for x, y in zip(a, b, strict=True):
        n = 0
        while n < min(len(x), len(y)) and x[n] == y[n]:
            n += 1
        agree += n
        total += max(len(x), len(y))
    return rows, agree / max(1, total)


# --- (a) the sweep ----------------------------------------------------------------------------


def sweep_arms(tiny: bool, tokens: int, bf16: bool = False) -> tuple[dict, dict]:
    lm32 = load(tiny, "float32")
    lm16 = load(tiny, "bfloat16") if bf16 else None
    prompts, settings = clas_grid(lm32)
    grid_prompts = [p for _ in settings for p in prompts]
    grid_ivs = [s for s in settings for _ in prompts]

    def peer():
        return [row for s in settings for row in hf_generate(lm32, prompts, s, tokens)]

    def rows(lm, lanes=1, share_prefix=True, step=True):
        def arm():
            with decoding_step(step):
                return [g.token_ids for g in lm.generate(grid_prompts, interventions=grid_ivs, max_new_tokens=tokens,
                                                         lanes=lanes, share_prefix=share_prefix)]
        return arm

    # warm-up (first calls initialise kernels): a few tokens through every path, so the timed
    # rounds need no warm-up round of their own (one round of the grid takes minutes)
    hf_generate(lm32, prompts, settings[0], 2)
    for lm in (lm32, lm16) if lm16 is not None else (lm32,):
        lm.generate(prompts[:2], interventions=settings[:2], max_new_tokens=2)
    lanes = max(2, torch.get_num_threads())
    # the engine step by step: per-row settings in one call (one lane, every prompt whole), then
    # the shared prompt prefix, then decoding lanes, then the decoding step's preallocated KV
    # cache and column-blocked LM head (the default of every call)
    arms = {"peer-f32-b8": peer, "rows-f32": rows(lm32, 1, False, False), "rows-f32-prefix": rows(lm32, 1, True, False),
            f"rows-f32-prefix-{lanes}lanes": rows(lm32, lanes, True, False),
            f"rows-f32-prefix-{lanes}lanes-step": rows(lm32, lanes, True)}
    if lm16 is not None:
        arms["rows-bf16"] = rows(lm16)
    info = {"settings": len(settings), "prompts": len(prompts), "rows": len(grid_prompts),
            "batch_rows_f32": lm32.batch_rows(max(len(e) for e in lm32.encode(prompts)) + tokens),
            "layers": clas_layers(lm32.num_layers)}
    return arms, info


def bench_sweep(tiny: bool, tokens: int, repeats: int, bf16: bool) -> dict:
    arms, info = sweep_arms(tiny, tokens, bf16)
    med = interleaved(arms, repeats, warmup=False)
    peer_rows = med["peer-f32-b8"]["value"]
    print(f"\n[sweep] one target: {info['settings']} settings (layers {info['layers']} × α {ALPHAS}) × "
          f"{info['prompts']} prompts = {info['rows']} rows, {tokens} new tokens; rows per batch "
          f"{info['batch_rows_f32']}")
    report(med, "peer-f32-b8")
    out = {"info": info, "arms": {}}
    base_tps = _tokens(peer_rows) / med["peer-f32-b8"]["wall_s"]
    base_cps = _tokens(peer_rows) / med["peer-f32-b8"]["cpu_s"]
    print(f"  {'arm':<28} {'tokens':>7} {'tok/s wall':>11} {'tok/s cpu':>10}   speed-up (wall / cpu)   same as peer")
    for name, m in med.items():
        n = _tokens(m["value"])
        tps, cps = n / m["wall_s"], n / m["cpu_s"]
        rows_same, tok_same = same_share(m["value"], peer_rows)
        print(f"  {name:<28} {n:7d} {tps:11.1f} {cps:10.1f}   {tps / base_tps:6.2f} / {cps / base_cps:5.2f}"
              f"          rows {rows_same:.0%}, tokens {tok_same:.1%}")
        out["arms"][name] = {"tokens": n, "wall_s": m["wall_s"], "cpu_s": m["cpu_s"], "tok_s_wall": tps,
                             "tok_s_cpu": cps, "speedup_wall": tps / base_tps, "speedup_cpu": cps / base_cps,
                             "rows_same_as_peer": rows_same, "tokens_same_as_peer": tok_same}
    return out


# --- (b) candidate scoring -----------------------------------------------------------------------


def scoring_arms(tiny: bool, candidates: int, bf16: bool = False) -> dict:
    lm32 = load(tiny, "float32")
    prompts = questions("en")[:8]
    g = torch.Generator().manual_seed(0)
    ablations = [DirectionalAblation(torch.randn(lm32.hidden_size, generator=g)) for _ in range(candidates)]
    rows_p = [p for _ in ablations for p in prompts]
    rows_iv = [a for a in ablations for _ in prompts]

    def one_at_a_time():
        return torch.cat([lm32.next_token_logprobs(prompts, intervention=a, batch_size=8) for a in ablations])

    def rows(lm):
        return lambda: lm.next_token_logprobs(rows_p, interventions=rows_iv)

    arms = {"one-at-a-time-f32-b8": one_at_a_time, "rows-f32": rows(lm32)}
    if bf16:
        arms["rows-bf16"] = rows(load(tiny, "bfloat16"))
    return arms


def bench_scoring(tiny: bool, candidates: int, repeats: int, bf16: bool) -> dict:
    arms = scoring_arms(tiny, candidates, bf16)
    med = interleaved(arms, repeats)
    old = med["one-at-a-time-f32-b8"]["value"]
    print(f"\n[scoring] {candidates} candidate ablations × 8 prompts: next-token log-probabilities")
    report(med, "one-at-a-time-f32-b8")
    out = {"candidates": candidates, "arms": {}}
    for name, m in med.items():
        diff = float((m["value"] - old).abs().max())
        top1 = float((m["value"].argmax(-1) == old.argmax(-1)).float().mean())
        print(f"  {name:<22} speed-up wall {1 / m['wall_ratio']:.2f} / cpu {1 / m['cpu_ratio']:.2f}; "
              f"max |Δ log p| vs one-at-a-time {diff:.2e}, same top token {top1:.0%}")
        out["arms"][name] = {"wall_s": m["wall_s"], "cpu_s": m["cpu_s"], "speedup_wall": 1 / m["wall_ratio"],
                             "speedup_cpu": 1 / m["cpu_ratio"], "max_abs_logprob_diff": diff, "same_top1": top1}
    return out


# --- (c) peak memory: each arm alone in a fresh process -------------------------------------------


def child(spec: str, tiny: bool, tokens: int, candidates: int) -> None:
    part, arm = spec.split(":", 1)
    bf16 = arm.endswith("bf16")
    arms = sweep_arms(tiny, tokens, bf16)[0] if part == "sweep" else scoring_arms(tiny, candidates, bf16)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    arms[arm]()
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"arm": spec, "peak_rss_mb": after / 1024, "before_arm_mb": before / 1024}))


def bench_memory(tiny: bool, tokens: int, candidates: int, bf16: bool) -> dict:
    """The models of the timing run are loaded in every child, so the peak of an arm is
    measured over the same base; ``before_arm_mb`` is the peak before the arm ran."""
    out = {}
    print("\n[memory] peak RSS of each arm, alone in a fresh process (the timing run's models loaded)")
    lanes = max(2, torch.get_num_threads())
    names = [f"sweep:{a}" for a in ("peer-f32-b8", "rows-f32", f"rows-f32-prefix-{lanes}lanes",
                                    f"rows-f32-prefix-{lanes}lanes-step", *(("rows-bf16",) if bf16 else ()))]
    names += [f"scoring:{a}" for a in ("one-at-a-time-f32-b8", "rows-f32", *(("rows-bf16",) if bf16 else ()))]
    for spec in names:
        cmd = [sys.executable, __file__, "--child", spec, "--tokens", str(tokens), "--candidates", str(candidates)]
        if tiny:
            cmd.append("--tiny")
        proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        out[spec] = row
        print(f"  {spec:<32} peak {row['peak_rss_mb']:7.0f} MB (before the arm: {row['before_arm_mb']:.0f} MB)")
    return out


# --- single-setting overhead, batch size, dtype ----------------------------------------------------


def bench_overhead(tiny: bool, dtype: str, repeats: int) -> dict:
    lm = load(tiny, dtype)
    prompts = questions("en")[:8]
    g = torch.Generator().manual_seed(0)
    v = torch.randn(lm.hidden_size, generator=g)
    # α = 0: the hook does all its work (convert, add, write back) yet the tokens stay those of
    # plain decoding, so both arms decode exactly the same tokens in either dtype
    iv = AddVector(v / v.norm(), layers=[lm.num_layers // 2], alpha=0.0)
    kw = dict(max_new_tokens=16, batch_size=8)
    arms = {
        "plain": lambda: [x.token_ids for x in lm.generate(prompts, **kw)],
        "steered": lambda: [x.token_ids for x in lm.generate(prompts, intervention=iv, **kw)],
        "hf-generate": lambda: hf_generate(lm, prompts, None, 16),
    }
    med = interleaved(arms, repeats)
    print(f"\n[overhead] {dtype}, batch 8, 16 new tokens, AddVector at layer {lm.num_layers // 2}")
    print(f"  tokens: plain {_tokens(med['plain']['value'])}, steered {_tokens(med['steered']['value'])}, "
          f"hf-generate {_tokens(med['hf-generate']['value'])} (identical: "
          f"{med['plain']['value'] == med['steered']['value'] == med['hf-generate']['value']})")
    report(med, "plain")
    return {k: {kk: vv for kk, vv in m.items() if kk != "value"} for k, m in med.items()}


def bench_batch(tiny: bool, sizes: dict[str, list[int]], repeats: int) -> dict:
    models = {d: load(tiny, d) for d in sizes}
    base = questions("en")
    arms = {}
    for dtype, lm in models.items():
        for size in sizes[dtype]:
            prompts = (base * (1 + size // len(base)))[:size]
            arms[f"{dtype}-b{size}"] = (lambda lm=lm, prompts=prompts, size=size:
                                        [x.token_ids for x in lm.generate(prompts, max_new_tokens=32, batch_size=size)])
    med = interleaved(arms, repeats)
    first = next(iter(arms))
    print("\n[batch] plain greedy, 32 new tokens: generated tokens per second by rows per batch")
    print(f"  {'arm':<18} {'tokens':>7} {'tok/s wall':>11} {'tok/s cpu':>10}   vs {first} (wall / cpu)")
    out = {}
    base_w = _tokens(med[first]["value"]) / med[first]["wall_s"]
    base_c = _tokens(med[first]["value"]) / med[first]["cpu_s"]
    for name, m in med.items():
        n = _tokens(m["value"])
        w, c = n / m["wall_s"], n / m["cpu_s"]
        print(f"  {name:<18} {n:7d} {w:11.1f} {c:10.1f}   {w / base_w:.2f} / {c / base_c:.2f}")
        out[name] = {"tokens": n, "tok_s_wall": w, "tok_s_cpu": c}
    return out


def load_bf16_native(tiny: bool) -> LanguageModel:
    """The default (or tiny) model in bfloat16 with torch's own bfloat16 kernels (what a bfloat16
    model ran on before ``plurieval.models.bf16``)."""
    if tiny:
        return load(True, "bfloat16")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from plurieval.models.loading import default_model_folder

    folder = default_model_folder()
    return LanguageModel(AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.bfloat16),
                         AutoTokenizer.from_pretrained(str(folder)), name="default-bf16-native")


def bench_dtype(tiny: bool, tokens: int) -> dict:
    """float32 vs bfloat16 (float32 accumulation from float32 weight copies, the loader's default on
    the CPU) vs bfloat16 with torch's own kernels: generated tokens/s side by side, and the share
    of identical greedy rows and tokens between them."""
    from plurieval.models.bf16 import accumulate_in_float32

    lm32, lm16n = load(tiny, "float32"), load_bf16_native(tiny)
    lm16 = load(tiny, "bfloat16")
    if tiny:
        accumulate_in_float32(lm16.hf)
    prompts = questions("en")[:32] + questions("de")[:16] + questions("zh")[:16]
    grid_p, grid_s = [], {}
    for name, lm in (("float32", lm32), ("bfloat16", lm16), ("bfloat16-torch", lm16n)):
        _, settings = clas_grid(lm)
        grid_s[name] = [s for s in settings for _ in range(8)]
        grid_p = [p for _ in settings for p in prompts[:8]]
    models = {"float32": lm32, "bfloat16": lm16, "bfloat16-torch": lm16n}
    for lm in models.values():
        lm.generate(prompts[:2], max_new_tokens=2)

    def arm(name):
        lm = models[name]
        return lambda: ([g.token_ids for g in lm.generate(prompts, max_new_tokens=tokens)],
                        [g.token_ids for g in lm.generate(grid_p, max_new_tokens=tokens, interventions=grid_s[name])])

    med = interleaved({name: arm(name) for name in models}, 1, warmup=False)
    out: dict = {"arms": {}, "agreement": {}}
    print(f"\n[dtype] greedy, {tokens} new tokens: {len(prompts)} plain prompts + a {len(grid_p)}-row steered grid")
    print(f"  {'arm':<16} {'tokens':>7} {'tok/s wall':>11} {'tok/s cpu':>10}")
    for name, m in med.items():
        n = _tokens(m["value"][0]) + _tokens(m["value"][1])
        print(f"  {name:<16} {n:7d} {n / m['wall_s']:11.1f} {n / m['cpu_s']:10.1f}")
        out["arms"][name] = {"tokens": n, "wall_s": m["wall_s"], "cpu_s": m["cpu_s"], "tok_s_wall": n / m["wall_s"],
                             "tok_s_cpu": n / m["cpu_s"]}
    for a, b in (("bfloat16", "float32"), ("bfloat16-torch", "float32"), ("bfloat16", "bfloat16-torch")):
        for k, part in enumerate(("plain", "steered grid")):
            rows, toks = same_share(med[a]["value"][k], med[b]["value"][k])
            print(f"  {a} vs {b}, {part}: identical rows {rows:.0%}, tokens equal before the first difference "
                  f"{toks:.1%}")
            out["agreement"][f"{a} vs {b}: {part}"] = {"identical_rows": rows, "identical_tokens": toks}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tiny", action="store_true", help="tiny random Llama instead of the default model")
    ap.add_argument("--only", default="sweep,scoring,memory,overhead,batch,dtype",
                    help="comma-separated parts: sweep, scoring, memory, overhead, batch, dtype")
    ap.add_argument("--tokens", type=int, default=NEW_TOKENS)
    ap.add_argument("--candidates", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=2, help="timed rounds of the long parts (sweep, batch)")
    ap.add_argument("--sizes", default="8,16,32,64,128", help="rows per batch of the batch part, float32")
    ap.add_argument("--bf16-sizes", default="8,64", help="the same for bfloat16 ('' for none)")
    ap.add_argument("--bf16-sweep", action="store_true",
                    help="add bfloat16 arms to the sweep and scoring parts (very slow where the CPU lacks native "
                         "bf16 matmuls)")
    ap.add_argument("--dtype", default="float32", help="dtype of the overhead part")
    ap.add_argument("--json", default=None, help="also write every number to this file")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.tiny, args.tokens, args.candidates)
        return
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    flags = next((line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags")), "") \
        if Path("/proc/cpuinfo").exists() else ""
    native_bf16 = any(f in flags.split() for f in ("avx512_bf16", "amx_bf16"))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU capability "
          f"{torch.backends.cpu.get_cpu_capability()}, native bf16 matmuls: {native_bf16}; load average "
          f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    started = time.time()
    results = {}
    if "sweep" in parts:
        results["sweep"] = bench_sweep(args.tiny, args.tokens, args.repeats, args.bf16_sweep)
    if "scoring" in parts:
        results["scoring"] = bench_scoring(args.tiny, args.candidates, max(3, args.repeats), args.bf16_sweep)
    if "memory" in parts:
        results["memory"] = bench_memory(args.tiny, args.tokens, args.candidates, args.bf16_sweep)
    if "overhead" in parts:
        results["overhead"] = bench_overhead(args.tiny, args.dtype, 8)
    if "batch" in parts:
        sizes = {"float32": [int(x) for x in args.sizes.split(",") if x],
                 "bfloat16": [int(x) for x in args.bf16_sizes.split(",") if x]}
        results["batch"] = bench_batch(args.tiny, {k: v for k, v in sizes.items() if v}, args.repeats)
    if "dtype" in parts:
        results["dtype"] = bench_dtype(args.tiny, args.tokens)
    results["load_average_end"] = os.getloadavg()
    print(f"\ntotal {time.time() - started:.0f} s; load average at the end "
          f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=float) + "\n")


if __name__ == "__main__":
    main()
