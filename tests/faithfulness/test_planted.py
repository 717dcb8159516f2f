"""Attribution methods and faithfulness metrics on a model whose answer depends on one planted
word (``planted.py``): what a faithful explanation says is known, so the tests know the answer.

Expected, from the construction: removing the key word takes the prediction away (the model
answers "neutral" without a key), keeping only the key word keeps it. So a method that ranks the
key first has comprehensiveness ≈ p(y|x) ≈ 1 and sufficiency ≈ 0; the random baseline ranks it
first for about 1 item in 8 and must be worse on every metric.
"""

from __future__ import annotations

import pytest

from plurieval.api import MetricContext, attach_queries, get_host

RECORDED = ["comprehensiveness", "sufficiency", "aopc_comprehensiveness", "aopc_sufficiency", "tau_loo"]
PLAUSIBLE = ["token_f1", "token_iou", "auprc"]
LOWER_IS_BETTER = {"sufficiency", "aopc_sufficiency"}


def explain(name, model, items, **params):
    return get_host().get("method", name).create(params).predict(model, items)


def key_first(preds, items):
    hits = []
    for p, ex in zip(preds, items, strict=True):
        scores, feats = p.extra["attribution"], p.extra["features"]
        best = max(range(len(scores)), key=lambda i: (scores[i], -i))
        hits.append(feats[best]["word"] == ex.metadata["key"])
    return hits


def scores(model, items, preds):
    host = get_host()
    dicts = [p.to_dict() for p in preds]
    refs = [ex.target for ex in items]
    out = {}
    for name in RECORDED + PLAUSIBLE:
        spec = host.get("metric", name)
        metric = spec.create({})
        if spec.recorded:
            attach_queries(metric, name, dicts, refs, MetricContext(model=model, examples=items))
        out[name] = metric.aggregate(metric.score_examples(dicts, refs, MetricContext()))
    return out, dicts


def test_the_planted_model_answers_from_the_key(planted):
    model, items = planted
    preds = explain("random-attribution", model, items)
    assert [p.label for p in preds] == [ex.target["label"] for ex in items]


@pytest.mark.parametrize("name", ["integrated-gradients", "occlusion", "shapley-sampling", "input-x-gradient"])
def test_methods_rank_the_planted_word_first(planted, name):
    model, items = planted
    assert all(key_first(explain(name, model, items), items)), name


def test_gradient_saliency_mostly_ranks_the_planted_word_first(planted):
    # |gradient| measures sensitivity, not contribution: on a saturated model a filler word can
    # have a larger gradient norm than the key. It must still find the key on most items.
    model, items = planted
    hits = key_first(explain("gradient", model, items), items)
    assert sum(hits) >= 0.75 * len(items), hits


def test_faithful_method_scores_and_random_baseline_is_worse_on_every_metric(planted):
    model, items = planted
    ig, ig_rows = scores(model, items, explain("integrated-gradients", model, items))
    rnd, _ = scores(model, items, explain("random-attribution", model, items, seed=0))
    assert ig["comprehensiveness"] > 0.9
    assert abs(ig["sufficiency"]) < 0.05
    assert ig["auprc"] == pytest.approx(1.0)  # the key (the human rationale here) is always ranked first
    for name in RECORDED + PLAUSIBLE:
        better = ig[name] < rnd[name] if name in LOWER_IS_BETTER else ig[name] > rnd[name]
        assert better, (name, ig[name], rnd[name])
    # every query is recorded: the scores come back from the rows alone, with no model
    again = get_host().get("metric", "comprehensiveness").create({})
    assert again.aggregate(again.score_examples(ig_rows, [ex.target for ex in items])) == ig["comprehensiveness"]


def test_integrated_gradients_completeness_on_the_planted_model(planted):
    # IG's attributions sum to f(x) − f(baseline) up to the integral's error (captum's delta; one
    # item per captum call, so each item's own); with enough steps it is small against the total.
    model, items = planted
    preds = explain("integrated-gradients", model, items[:2], steps=256, baseline="zero")
    for p in preds:
        assert abs(p.extra["convergence_delta"]) < 0.01 * abs(sum(p.extra["attribution"]))


def test_a_prompt_item_is_explained_for_its_first_generated_token(planted):
    # No options: the target is the model's greedy first answer token; p(y|·) is that token's
    # probability over the whole vocabulary, and the metrics query it the same way.
    from plurieval.api import Example

    model, _ = planted
    item = Example("p1", {"prompt": "Premise: the dog zorp sits Hypothesis: a cat"}, {"label": None, "rationale": None})
    (pred,) = explain("integrated-gradients", model, [item])
    target = pred.extra["target"]
    assert target["kind"] == "token" and target["token_id"] == int(model.next_token_logprobs([item.input["prompt"]])[0].argmax())
    assert len(pred.extra["attribution"]) == 8 and len(pred.distribution) == 1
    dicts = [pred.to_dict()]
    metric = get_host().get("metric", "tau_loo").create({})
    attach_queries(metric, "tau_loo", dicts, [item.target], MetricContext(model=model, examples=[item]))
    record = dicts[0]["queries"]["tau_loo"]
    assert len(record["masks"]) == 8 and all(len(o) == 1 for o in record["outputs"])
    value = metric.score_examples(dicts, [item.target])[0]
    assert value is None or -1.0 <= value <= 1.0


def test_shared_prefix_forward_gives_the_plain_forward_values(planted):
    # The speed-ups (a batch's common prefix run once and its KV cache shared, right-padding,
    # logits at each row's last token, queries sorted by tokens) must not change any value: the
    # outputs, the prediction and the explained quantity equal those of one plain left-padded
    # forward pass per prompt (core's next_token_logprobs / choice_logprobs).
    import numpy as np
    import torch

    from plurieval.api import choice_logprobs
    from plurieval_faithfulness.attribution import JointForward
    from plurieval_faithfulness.forward import next_token_logprobs
    from plurieval_faithfulness.items import ItemSettings, build_item, outputs, predicted

    model, examples = planted
    items = [build_item(ex, ItemSettings()) for ex in examples[:3]]
    queries = [(it, m) for it in items for m in (it.full_mask(), "0" + it.full_mask()[1:], "1" * 2 + "0" * (it.num_features - 2))]
    prompts = [it.prompt(m) for it, m in queries]
    plain = choice_logprobs(model, prompts, items[0].letters, chat=True, batch_size=3)
    plain = np.exp(plain - plain.max(1, keepdims=True))
    plain /= plain.sum(1, keepdims=True)
    got = np.asarray(outputs(model, queries, batch_size=3))
    assert np.allclose(got, plain, atol=1e-5)
    # several sequences of different lengths in one batch, sharing a prefix of varying length
    seqs = model.encode(prompts, chat=True)
    full = model.next_token_logprobs(prompts, chat=True, batch_size=9).double().numpy()
    picked = next_token_logprobs(model, seqs, 4, [[[5], [7, 9]]] * len(seqs))
    want = [[float(full[i, 5]), float(np.logaddexp(full[i, 7], full[i, 9]))] for i in range(len(seqs))]
    assert np.allclose(picked, want, atol=1e-5)
    # the explained quantity of items attributed together = the sum of their log p(y|x)
    preds = predicted(model, items)
    fwd = JointForward(model, items, [p["target"] for p in preds], "log_prob")
    with torch.no_grad():
        value = float(fwd(fwd.inputs())[0])
    assert value == pytest.approx(sum(np.log(p["distribution"][p["target"]["index"]]) for p in preds), abs=1e-4)


def test_outputs_are_reused_only_for_a_model_with_the_same_content(planted):
    # The memo of outputs is keyed by the model's content: a second model object holding the same
    # weights reuses them (the leave-one-out queries of several runs in one process), a model
    # whose weights were edited in place does not.
    import copy

    import torch

    from plurieval_faithfulness import items as items_module
    from plurieval_faithfulness.items import ItemSettings, build_item, outputs

    model, examples = planted
    item = build_item(examples[0], ItemSettings())
    query = [(item, "0" + item.full_mask()[1:])]
    first = outputs(model, query)
    twin = copy.deepcopy(model)
    assert items_module._content_key(twin) == items_module._content_key(model)
    assert outputs(twin, query) == first
    with torch.no_grad():
        next(twin.hf.parameters()).mul_(0.0)  # edited in place: another content, another memo
    assert items_module._content_key(twin) != items_module._content_key(model)
    assert outputs(twin, query) != first
