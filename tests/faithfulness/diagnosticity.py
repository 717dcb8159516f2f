"""Do the self-explanation faithfulness metrics measure faithfulness? Pairs of explanations whose
faithfulness is known by construction, on the planted tiny model (``planted.py``: its answer
depends on one key word of the premise, ``zorp`` → entailment, ``blick`` → contradiction).

For each evaluation item the same answer (the model's, read after the reasoning as ``cot`` does)
is explained twice by a scripted chain-of-thought method:

- *faithful*: the reasoning names the key word(s) in the input ("the zorp"), which is what the
  model's answer depends on;
- *unfaithful*: the reasoning names another word of the premise ("the dog"), which the answer
  does not depend on.

Every faithfulness metric then scores both explanations of the item with its real queries (the
model is asked again through the method, exactly as in a run), and the pair is *ordered
correctly* when the faithful explanation scores better (in the metric's direction; a tie or an
undefined value is not correct). Reported: the share of pairs ordered correctly with a 95 %
bootstrap interval over pairs, and how many pairs are ties or undefined. LAS is defined on a set
of explanations, not one: its row compares LAS over all faithful explanations with LAS over all
unfaithful ones, and the interval is the share of bootstrap resamples of the pairs in which the
faithful set wins.

Settings (chosen so the inserted words can change the answer): the counterfactual test inserts
the key words themselves ("zorp", "blick" as the adjective and adverb lists) before the premise's
nouns and verbs (word-list tagger over the planted vocabulary), 4 positions × 2 words; CC-SHAP
with 4 permutations; the simulator and everything else is the planted model itself.

Run ``python tests/faithfulness/diagnosticity.py`` to print the table in docs/faithfulness.md.
"""

from __future__ import annotations

import math
import sys
import tempfile
from pathlib import Path

import numpy as np

from plurieval.api import MetricContext, attach_queries, get_host, with_ci
from plurieval.resources import Resources
from plurieval_faithfulness.quality import las_parts
from plurieval_faithfulness.selfexp import ChainOfThought
from plurieval_faithfulness.selfexp_config import CoTConfig

sys.path.insert(0, str(Path(__file__).parent))
from planted import FILLER, KEYS, eval_items, planted_model  # noqa: E402

NOUNS = ["man", "woman", "dog", "cat", "park", "street", "child", "bird", "tree", "house"]
VERBS = ["walks", "sits", "runs", "sleeps"]

METRICS = ["counterfactual_test", "counterfactual_test@cc-shap", "cc_shap", "lanham_early_answering",
           "lanham_adding_mistakes", "lanham_paraphrasing", "lanham_filler_tokens", "biasing_feature",
           "simulatability"]


class ScriptedCoT(ChainOfThought):
    """``cot`` whose reasoning is written by the test: the key words of the item (faithful) or a
    non-key word of its premise (unfaithful). The answer is the model's, after that reasoning."""

    method_name = "scripted-cot"

    def __init__(self, config: CoTConfig, faithful: bool) -> None:
        super().__init__(config)
        self.faithful = faithful

    def scripted(self, item) -> str:
        words = [f["word"] for f in item.features if f["field"] == "premise"]
        keys = [w for w in words if w in KEYS]
        if self.faithful:
            return "the " + " ".join(keys) if keys else "the"
        other = next((w for w in words if w in FILLER and w not in ("the", "a")), words[0])
        return "the " + other

    def reason(self, model, items, run=None, bias=None, prefixes=None):
        if prefixes is not None:  # paraphrasing: the reasoning is the (paraphrased) start itself
            return [p.strip() for p in prefixes]
        return [self.scripted(it) for it in items]


def metric_params(folder: str) -> dict[str, tuple[str, dict]]:
    cf = {"positions": 4, "words": 2, "field": "premise", "adjectives": list(KEYS), "adverbs": list(KEYS),
          "tagger": "wordlist", "tagger_params": {"nouns": NOUNS, "verbs": VERBS}}
    return {
        "counterfactual_test": ("counterfactual_test", cf),
        "counterfactual_test@cc-shap": ("counterfactual_test", {**cf, "convention": "cc-shap"}),
        "cc_shap": ("cc_shap", {"samples": 4, "max_output_tokens": 4}),
        "lanham_early_answering": ("lanham_early_answering", {}),
        "lanham_adding_mistakes": ("lanham_adding_mistakes", {}),
        "lanham_paraphrasing": ("lanham_paraphrasing", {}),
        "lanham_filler_tokens": ("lanham_filler_tokens", {}),
        "biasing_feature": ("biasing_feature", {}),
        "simulatability": ("simulatability", {"simulator_params": {"model": f"hf:{folder}", "chat": False}}),
    }


def scored(model, method, items, folder):
    """Per-example values of every metric for the method's explanations of ``items``."""
    host = get_host()
    preds = [p.to_dict() for p in method.predict(model, items)]
    refs = [ex.target for ex in items]
    ctx = MetricContext(resources=Resources(host), model=model, method=method, examples=items)
    out = {}
    for key, (name, params) in metric_params(folder).items():
        m = host.get("metric", name).create(params)
        attach_queries(m, key, preds, refs, ctx)
        out[key] = (m.score_examples(preds, refs, MetricContext()), host.get("metric", name).higher_is_better)
    return out, preds


def _defined(v) -> bool:
    return v is not None and not (isinstance(v, float) and math.isnan(v))


def table(n_items: int = 12, resamples: int = 1000):
    """{metric: share ordered correctly with CI, ties, undefined} over ``n_items`` pairs."""
    model = planted_model()
    items = eval_items(n_items)
    cfg = CoTConfig(chat=False, max_new_tokens=4)
    with tempfile.TemporaryDirectory() as folder:
        model.hf.save_pretrained(folder)
        model.tokenizer.save_pretrained(folder)
        faithful, fp = scored(model, ScriptedCoT(cfg, True), items, folder)
        unfaithful, up = scored(model, ScriptedCoT(cfg, False), items, folder)
    rows = {}
    for key in METRICS:
        (vf, higher), (vu, _) = faithful[key], unfaithful[key]
        if key == "simulatability":
            pairs = list(zip(vf, vu, strict=True))

            def wins(sample):
                a = las_parts([p[0] for p in sample])["las"]
                b = las_parts([p[1] for p in sample])["las"]
                return float(a is not None and b is not None and a > b)

            got = with_ci(pairs, wins, resamples=resamples)
            rows[key] = {**got, "ties": None, "of_decided": got["value"], "higher_is_better": True, "undefined": int(las_parts(vf)["las"] is None or
                                                               las_parts(vu)["las"] is None),
                         "faithful": las_parts(vf)["las"], "unfaithful": las_parts(vu)["las"]}
            continue
        if key.endswith("@cc-shap"):  # the cc-shap convention reports the share faithful: higher is better
            higher = True
        correct, ties, undefined = [], 0, 0
        for a, b in zip(vf, vu, strict=True):
            if not (_defined(a) and _defined(b)):
                undefined += 1
                correct.append(0.0)
                continue
            ties += a == b
            correct.append(float(a > b if higher else a < b))
        got = with_ci(correct, lambda v: float(np.mean(v)), resamples=resamples)
        mean = lambda vals: float(np.mean([v for v in vals if _defined(v)])) if any(map(_defined, vals)) else None  # noqa: E731
        decided = len(correct) - ties - undefined
        rows[key] = {**got, "ties": int(ties), "undefined": undefined, "faithful": mean(vf), "unfaithful": mean(vu),
                     "of_decided": sum(correct) / decided if decided else None, "higher_is_better": higher}
    accuracy = float(np.mean([p["label"] == ex.target["label"] for p, ex in zip(fp, items, strict=True)]))
    same = float(np.mean([a["label"] == b["label"] for a, b in zip(fp, up, strict=True)]))
    return rows, {"items": n_items, "accuracy_after_faithful": accuracy, "same_answer": same}


def markdown(rows, info) -> str:
    def f(v):
        return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.2f}"

    lines = ["| metric | better | ordered correctly | 95 % CI | of decided pairs | ties | undefined | "
             "mean (faithful) | mean (unfaithful) |", "|---|---|---|---|---|---|---|---|---|"]
    for key, r in rows.items():
        lines.append(f"| `{key}` | {'higher' if r['higher_is_better'] else 'lower'} | {f(r['value'])} | "
                     f"[{f(r['ci_low'])}, {f(r['ci_high'])}] | {f(r['of_decided'])} | "
                     f"{'—' if r['ties'] is None else r['ties']} | {r['undefined']} | {f(r['faithful'])} | "
                     f"{f(r['unfaithful'])} |")
    lines.append(f"\n{info['items']} pairs; the model's answer after the faithful reasoning is the planted label "
                 f"for {info['accuracy_after_faithful']:.0%} of the items, and the same after both reasonings for "
                 f"{info['same_answer']:.0%}.")
    return "\n".join(lines)


if __name__ == "__main__":
    rows, info = table()
    print(markdown(rows, info))
