"""Attribution speed: plurieval's batched methods vs captum called one example at a time.

    python bench/bench_faithfulness.py                 # default model, 4 NLI items (self-written)
    python bench/bench_faithfulness.py --tiny          # the tiny random Llama (no model files)
    python bench/bench_faithfulness.py --items 8 --steps 16 --methods integrated-gradients,gradient

Both arms explain the same items for the same target (log p of the predicted option) with the
same algorithm settings. The *captum* arm is the straightforward use a reader would write:
``LayerIntegratedGradients`` / ``LayerGradientXActivation`` / ``Saliency`` / ``FeatureAblation``
on the embedding layer of the whole model, one example per call, full-vocabulary logits at every
position and parameter gradients switched on. The *plurieval* arm is ``method.predict``: only
the explained tokens attributed, parameters frozen, the prompts' common prefix run once and its
KV cache shared by every row, right-padding and logits at each row's last position only, IG one
item per call with its steps batched, the gradient methods several items per call.

A last row times the five faithfulness metrics' perturbation queries on the same items: each
metric's masked prompts through core's ``choice_logprobs`` (one plain left-padded forward pass
per prompt, as they were run before) against the metrics' own ``query`` (shared prefixes,
prompts sorted by tokens, masks asked by several metrics run once).

Prints the wall and CPU time of each arm and their ratio (plurieval / reference), one run, the
two arms back to back per row; under machine load the ratio is the number to read. The last
column checks that both arms compute the same values.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

from plurieval.api import Example, get_host  # noqa: E402

ITEMS = [
    ("A woman in a yellow coat is walking her dog in the park.", "A woman is outside with an animal."),
    ("Two children are building a sandcastle on the beach.", "Two children are swimming in a pool."),
    ("An old man is reading a newspaper on a bench.", "An old man is reading about the election."),
    ("A chef is chopping onions in a busy kitchen.", "Someone is cutting vegetables."),
    ("A dog is catching a red frisbee in the air.", "A cat is chasing a mouse."),
    ("Three musicians are playing guitars on a stage.", "People are performing music."),
    ("A girl in a red dress is riding a bicycle down the hill.", "A girl is riding to school."),
    ("A crowd is watching fireworks over the river at night.", "The crowd is watching fireworks in the morning."),
]


def examples(n: int) -> list[Example]:
    return [Example(f"b{i}", {"premise": p, "hypothesis": h, "options": ["entailment", "neutral", "contradiction"]})
            for i, (p, h) in enumerate((ITEMS * (n // len(ITEMS) + 1))[:n])]


def captum_one_by_one(model, exs, method: str, steps: int) -> list[list[float]]:
    """The reference arm: captum on the model's embedding layer, one example per call."""
    from captum.attr import LayerGradientXActivation, LayerIntegratedGradients, Saliency

    from plurieval_faithfulness.attribution import _variants, align, to_words
    from plurieval_faithfulness.items import ItemSettings, build_item, predicted

    items = [build_item(ex, ItemSettings()) for ex in exs]
    preds = predicted(model, items)
    emb_layer = model.hf.get_input_embeddings()
    out = []
    for item, pred in zip(items, preds, strict=True):
        ids, word_of = align(model, item)
        input_ids = torch.tensor([ids])
        variants = [_variants(model.tokenizer, c) for c in item.letters]
        j = pred["target"]["index"]

        def forward(input_ids=None, inputs_embeds=None, variants=variants, j=j):
            logits = model.hf(input_ids=input_ids, inputs_embeds=inputs_embeds, use_cache=False).logits[:, -1]
            lp = torch.log_softmax(logits.float(), -1)
            scores = torch.stack([torch.logsumexp(lp[:, v], -1) for v in variants], -1)
            return scores[:, j] - torch.logsumexp(scores, -1)

        if method == "occlusion":
            from captum.attr import FeatureAblation

            x = emb_layer(input_ids).detach()
            unk = emb_layer(torch.tensor([model.tokenizer.unk_token_id]))[0].detach()
            base = x.clone()
            explained = torch.tensor([w >= 0 for w in word_of])
            base[0, explained] = unk
            # one feature per word; the other tokens are one more feature whose ablation is a no-op
            fmask = torch.tensor([w if w >= 0 else item.num_features for w in word_of]).view(1, -1, 1).expand_as(x)
            tok = FeatureAblation(lambda e: forward(inputs_embeds=e)).attribute(x, baselines=base,
                                                                                feature_mask=fmask)[0, :, 0]
        elif method == "integrated-gradients":
            base = torch.full_like(input_ids, model.tokenizer.unk_token_id)
            explained = torch.tensor([w >= 0 for w in word_of])
            base[0, ~explained] = input_ids[0, ~explained]
            attr = LayerIntegratedGradients(forward, emb_layer).attribute(input_ids, baselines=base, n_steps=steps,
                                                                          method="gausslegendre")
            tok = attr.sum(-1)[0]
        elif method == "input-x-gradient":
            tok = LayerGradientXActivation(forward, emb_layer).attribute(input_ids).sum(-1)[0]
        else:
            x = emb_layer(input_ids).detach().requires_grad_(True)
            tok = Saliency(lambda e: forward(inputs_embeds=e)).attribute(x, abs=True).sum(-1)[0]
        kept = [(float(s), w) for s, w in zip(tok.tolist(), word_of, strict=True) if w >= 0]
        if method == "occlusion":  # every token of a word carries the word's value
            out.append([next(s for s, w in kept if w == j) for j in range(item.num_features)])
        else:
            out.append(to_words([s for s, _ in kept], [w for _, w in kept], item.num_features, "sum"))
    return out


RECORDED = ["comprehensiveness", "sufficiency", "aopc_comprehensiveness", "aopc_sufficiency", "tau_loo"]


def plain_queries(model, metrics, preds, exs, batch_size: int) -> list[list[list[float]]]:
    """The reference arm for the metrics' queries: each metric on its own, its unique masked
    prompts through core's ``choice_logprobs`` (one plain left-padded forward pass per prompt)."""
    import numpy as np

    from plurieval.api import choice_logprobs
    from plurieval_faithfulness.items import ItemSettings, build_item

    items = [build_item(ex, ItemSettings()) for ex in exs]
    out = []
    for metric in metrics:
        prompts = list(dict.fromkeys(it.prompt(m) for it, p, ex in zip(items, preds, exs, strict=True)
                                     for m in metric.masks(p, ex.target) if m != it.full_mask()))
        lp = choice_logprobs(model, prompts, items[0].letters, chat=True, batch_size=batch_size)
        z = np.exp(lp - lp.max(1, keepdims=True))
        by_prompt = dict(zip(prompts, (z / z.sum(1, keepdims=True)).tolist(), strict=True))
        out.append([[by_prompt[it.prompt(m)] if m != it.full_mask() else p["distribution"]
                     for m in metric.masks(p, ex.target)] for it, p, ex in zip(items, preds, exs, strict=True)])
    return out


def bench_queries(model, exs, preds, batch_size: int) -> None:
    """The five faithfulness metrics' perturbation queries, plain vs ``RemovalMetric.query``."""
    from plurieval.api import MetricContext
    from plurieval_faithfulness import items as items_module

    host = get_host()
    metrics = [host.get("metric", name).create({}) for name in RECORDED]
    count = sum(len({m for m in metric.masks(p, ex.target) if "0" in m}) for metric in metrics
                for p, ex in zip(preds, exs, strict=True))
    items_module._MEMO.clear()  # the memo starts empty, as in a fresh run
    timings = {}
    for arm in ("plain", "plurieval"):
        w, c = time.perf_counter(), time.process_time()
        if arm == "plain":
            ref = plain_queries(model, metrics, preds, exs, batch_size)
        else:
            context = MetricContext(model=model, examples=exs)
            ours = [[r["outputs"] for r in m.query(preds, [ex.target for ex in exs], context)] for m in metrics]
        timings[arm] = (time.perf_counter() - w, time.process_time() - c)
    diff = max(abs(a - b) for rm, om in zip(ref, ours, strict=True) for ri, oi in zip(rm, om, strict=True)
               for ra, oa in zip(ri, oi, strict=True) for a, b in zip(ra, oa, strict=True))
    (cw, cc), (pw, pc) = timings["plain"], timings["plurieval"]
    print(f"| metric queries ({count} masks, 5 metrics) | {cw:.2f} | {pw:.2f} | {pw / cw:.3f} | {pc / cc:.3f} | "
          f"{diff:.2e} (probabilities) |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tiny", action="store_true", help="tiny random Llama instead of the default model")
    ap.add_argument("--items", type=int, default=4)
    ap.add_argument("--steps", type=int, default=16, help="IG steps (both arms)")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--methods", default="integrated-gradients,input-x-gradient,gradient,occlusion")
    ap.add_argument("--no-queries", action="store_true", help="skip the metrics' queries")
    args = ap.parse_args()
    if args.tiny:
        from plurieval.models.testing import tiny_model

        model = tiny_model("llama")
        model.tokenizer.unk_token = model.tokenizer.unk_token or "<unk>"
    else:
        from plurieval.api import load_default

        model = load_default()
    exs = examples(args.items)

    print(f"model {model.name}, {len(exs)} items, IG steps {args.steps}, batch size {args.batch_size}, "
          f"{torch.get_num_threads()} threads", file=sys.stderr)
    print("| what | reference arm (s) | plurieval (s) | ratio wall | ratio CPU | max |Δ| (word scores: / max |score|) |")
    print("|---|---|---|---|---|---|")
    import captum.attr  # noqa: F401  (imported before timing, for both arms alike)

    host = get_host()
    preds = None
    for name in args.methods.split(","):
        params = {"steps": args.steps, "baseline": "unk"} if name in ("integrated-gradients", "occlusion") else {}
        if name == "occlusion":
            params.pop("steps")
        method = host.get("method", name).create(params)
        timings = {}
        for arm in ("captum", "plurieval"):  # one run, side by side
            w, c = time.perf_counter(), time.process_time()
            if arm == "captum":
                ref = captum_one_by_one(model, exs, name, args.steps)
            else:
                made = method.predict(model, exs, None)
                ours = [p.extra["attribution"] for p in made]
            timings[arm] = (time.perf_counter() - w, time.process_time() - c)
        preds = preds or [p.to_dict() for p in made]
        top = max(abs(v) for row in ref for v in row) or 1.0
        diff = max(abs(a - b) for ra, rb in zip(ref, ours, strict=True) for a, b in zip(ra, rb, strict=True)) / top
        (cw, cc), (pw, pc) = timings["captum"], timings["plurieval"]
        print(f"| {name} (captum, one example per call) | {cw:.2f} | {pw:.2f} | {pw / cw:.3f} | {pc / cc:.3f} | "
              f"{diff:.2e} |", flush=True)
    if not args.no_queries and preds:
        bench_queries(model, exs, preds, args.batch_size)


if __name__ == "__main__":
    main()
