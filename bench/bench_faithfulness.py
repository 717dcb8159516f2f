"""Attribution speed: plurieval's batched methods vs captum called one example at a time.

    python bench/bench_faithfulness.py                 # default model, 4 NLI items (self-written)
    python bench/bench_faithfulness.py --tiny          # the tiny random Llama (no model files)
    python bench/bench_faithfulness.py --items 8 --steps 16 --methods integrated-gradients,gradient

Both arms explain the same items for the same target (log p of the predicted option) with the
same algorithm settings. The *captum* arm is the straightforward use a reader would write:
``LayerIntegratedGradients`` / ``LayerGradientXActivation``-style attribution on the embedding
layer of the whole model, one example per call, full-vocabulary logits at every position and
parameter gradients switched on. The *plurieval* arm is ``method.predict`` (several examples per
captum call, only the explained tokens attributed, logits of the last position only, parameters
frozen). Prints per-method wall and CPU time of each arm and their ratio (plurieval / captum), one
run, the two arms back to back per method; under machine load the ratio is the number to read.
The last column checks that both arms compute the same scores.
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

        if method == "integrated-gradients":
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
        out.append(to_words([s for s, _ in kept], [w for _, w in kept], item.num_features, "sum"))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tiny", action="store_true", help="tiny random Llama instead of the default model")
    ap.add_argument("--items", type=int, default=4)
    ap.add_argument("--steps", type=int, default=16, help="IG steps (both arms)")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--methods", default="integrated-gradients,input-x-gradient,gradient")
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
    print("| method | captum, one example per call (s) | plurieval predict (s) | ratio wall | ratio CPU | "
          "max |Δ word score| / max |score| |")
    print("|---|---|---|---|---|---|")
    import captum.attr  # noqa: F401  (imported before timing, for both arms alike)

    host = get_host()
    for name in args.methods.split(","):
        params = {"steps": args.steps, "baseline": "unk"} if name == "integrated-gradients" else {}
        method = host.get("method", name).create(params)
        timings = {}
        for arm in ("captum", "plurieval"):  # one run, side by side
            w, c = time.perf_counter(), time.process_time()
            if arm == "captum":
                ref = captum_one_by_one(model, exs, name, args.steps)
            else:
                ours = [p.extra["attribution"] for p in method.predict(model, exs, None)]
            timings[arm] = (time.perf_counter() - w, time.process_time() - c)
        top = max(abs(v) for row in ref for v in row) or 1.0
        diff = max(abs(a - b) for ra, rb in zip(ref, ours, strict=True) for a, b in zip(ra, rb, strict=True)) / top
        (cw, cc), (pw, pc) = timings["captum"], timings["plurieval"]
        print(f"| {name} | {cw:.2f} | {pw:.2f} | {pw / cw:.3f} | {pc / cc:.3f} | {diff:.2e} |", flush=True)


if __name__ == "__main__":
    main()
