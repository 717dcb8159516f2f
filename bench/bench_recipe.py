"""Where the ``default-refusal`` build spends its time, old path vs new, side by side.

    PLURIEVAL_DATA_DIR=../shared/data python bench/bench_recipe.py     # the real recipe data
    python bench/bench_recipe.py --tiny                               # smoke test of the script

Two parts of the build, each measured as a ratio in one run (medians of interleaved rounds):
  replies   the base model's greedy replies to harmless train prompts (40 tokens): transformers'
            ``generate`` at 16 rows per call (the old recipe) vs the model layer's loop at 64
            rows per call with finished rows dropped (the new one), float32 both;
  training  optimizer steps of 4 sequences: logits at every position, transformers' loss and the
            default AdamW (old) vs logits at answer positions only and fused AdamW (new), both
            float32; ``--bf16`` adds the bfloat16-autocast variant (``train_dtype=bfloat16``).
            Each arm trains its own copy of the model with its own optimizer.
Multiply the build's measured old times by these ratios for an estimate; the full new build is
timed by ``plurieval polyrefuse build-model --force`` itself (docs/speed.md has both).

    python bench/bench_recipe.py --refusal BUILD_FOLDER [BUILD_FOLDER ...]

compares builds' refusal behaviour instead: greedy replies (24 tokens) to 16 harmful and 16
harmless PolyRefuse **test** prompts per language, substring judge (the benchmark's phrases),
as in docs/polyrefuse.md.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import os
import random
import sys
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import torch  # noqa: E402
from bench_steering import interleaved, report  # noqa: E402
from bench_sweep import hf_generate  # noqa: E402

from plurieval_polyrefuse.config import RefusalModelConfig  # noqa: E402
from plurieval_polyrefuse.data import PolyRefuseSource  # noqa: E402
from plurieval_polyrefuse.recipe import _encode, answer_loss  # noqa: E402


def refusal(folders: list[str], langs: list[str], n: int) -> None:
    from plurieval_polyrefuse.phrases import is_refusal, phrases_for
    from plurieval_polyrefuse.recipe import load_build

    src = PolyRefuseSource(None)
    sets = {}
    for lang in langs:
        for kind in ("harmful", "harmless"):
            prompts = src.prompts(lang, "test", kind, required=False)
            if prompts is not None:
                sets[(lang, kind)] = prompts.texts[:n]
    print(f"refusal rate (substring judge), {n} test prompts per (language, kind), 24 greedy tokens")
    print(f"  {'build':<40} " + " ".join(f"{lang}/{kind[:5]:>5}" for lang, kind in sets))
    replies = []
    for folder in folders:
        lm = load_build(folder)
        keys = list(sets)
        prompts = [p for k in keys for p in sets[k]]
        gens = lm.generate(prompts, max_new_tokens=24)
        rates, i = [], 0
        for lang, kind in keys:
            texts = [g.text for g in gens[i:i + len(sets[(lang, kind)])]]
            i += len(texts)
            rates.append(sum(is_refusal(t, phrases_for(lang)) for t in texts) / len(texts))
        replies.append([g.text for g in gens])
        label = str(folder) if len(str(folder)) <= 40 else "…" + str(folder)[-39:]
        print(f"  {label:<40} " + " ".join(f"{r:>10.0%}" for r in rates))
    if len(folders) == 2:
        a, b = replies
        print(f"  identical replies between the two builds: {sum(x == y for x, y in zip(a, b, strict=True))}/{len(a)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tiny", action="store_true")
    ap.add_argument("--prompts", type=int, default=64, help="harmless prompts to answer per arm")
    ap.add_argument("--steps", type=int, default=8, help="optimizer steps per training arm")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--bf16", action="store_true", help="add the bfloat16-autocast training arm")
    ap.add_argument("--refusal", nargs="+", default=None, metavar="BUILD_FOLDER")
    ap.add_argument("--langs", default="en,de,zh,it,fr,ja")
    args = ap.parse_args()
    if args.refusal:
        refusal(args.refusal, args.langs.split(","), 16)
        return
    cfg = RefusalModelConfig(source="sample" if args.tiny else None)
    if args.tiny:
        from plurieval.models.testing import tiny_model

        lm = tiny_model("llama")
    else:
        from plurieval.models import load_default

        lm = load_default()
    src = PolyRefuseSource(cfg.source)
    found = [src.prompts(lang, "train", "harmless", required=False) for lang in cfg.tune_languages]
    harmless = [p for prompts in found if prompts is not None for p in prompts.texts[: cfg.harmless_per_language]]
    harmless = random.Random(0).sample(harmless, min(args.prompts, len(harmless)))
    tokens = cfg.harmless_answer_tokens
    print(f"model {lm.name}; {len(harmless)} harmless prompts, {tokens} tokens; source {src.source}")

    def old_replies():
        return [row for i in range(0, len(harmless), 16) for row in hf_generate(lm, harmless[i:i + 16], None, tokens)]

    def new_replies():
        return [g.token_ids for g in lm.generate(harmless, max_new_tokens=tokens, batch_size=64)]

    med = interleaved({"replies-old-b16": old_replies, "replies-new-b64": new_replies}, args.repeats)
    same = sum(a == b for a, b in zip(med["replies-old-b16"]["value"], med["replies-new-b64"]["value"], strict=True))
    print(f"\n[replies] identical replies old vs new: {same}/{len(harmless)}")
    report(med, "replies-old-b16")

    # training: both arms see the same batches of real (prompt, answer) rows
    rows = [{"prompt": p, "answer": "Sure, here is a short answer to that."} for p in harmless]
    encoded = [_encode(lm, r, cfg.max_length) for r in rows]
    rng = random.Random(0)
    batches = [[encoded[rng.randrange(len(encoded))] for _ in range(cfg.batch_size)] for _ in range(args.steps)]

    def pad(batch):
        width = max(len(x) for x, _ in batch)
        ids = torch.full((len(batch), width), lm.pad_token_id, dtype=torch.long)
        labels = torch.full((len(batch), width), -100, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for j, (x, y) in enumerate(batch):
            ids[j, :len(x)], labels[j, :len(y)], mask[j, :len(x)] = torch.tensor(x), torch.tensor(y), 1
        return ids, mask, labels

    padded = [pad(b) for b in batches]

    def arm(new: bool, bf16: bool = False, hf=None):
        hf = hf if hf is not None else copy.deepcopy(lm.hf)
        layers = list(hf.model.layers) if hasattr(hf, "model") else []
        params = [p for layer in layers[min(cfg.train_layers_from, len(layers) - 1):] for p in layer.parameters()]
        for p in hf.parameters():
            p.requires_grad_(False)
        for p in params:
            p.requires_grad_(True)
        opt = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=0.0, fused=new)
        precision = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
        hf.train()

        def run():
            losses = []
            for ids, mask, labels in padded:
                if new:
                    loss = answer_loss(hf, ids, mask, labels, precision)
                else:
                    loss = hf(input_ids=ids, attention_mask=mask, labels=labels, use_cache=False).loss
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                opt.step()
                opt.zero_grad(set_to_none=True)
                losses.append(float(loss.detach()))
            return losses

        return run

    arms = {"train-old-f32": arm(False, hf=lm.hf), "train-new-f32": arm(True)}
    if args.bf16:
        arms["train-new-bf16"] = arm(True, bf16=True)
    med = interleaved(arms, args.repeats)
    print(f"\n[training] {args.steps} steps of {cfg.batch_size} sequences (≤ {cfg.max_length} tokens), "
          f"layers {cfg.train_layers_from}+ trained")
    for name, m in med.items():
        losses = m["value"]
        print(f"  {name}: loss first step of the last round {losses[0]:.3f}, last {losses[-1]:.3f}")
    report(med, "train-old-f32")


if __name__ == "__main__":
    main()
