"""The default-refusal recipe on a tiny random model for a handful of steps (CI never runs the
full fine-tune)."""

import json

import torch

from plurieval.models.testing import tiny_model
from plurieval_polyrefuse.config import RefusalModelConfig
from plurieval_polyrefuse.phrases import REFUSAL_REPLIES
from plurieval_polyrefuse.recipe import _encode, build, load_build, recipe_key, training_pairs


def _cfg(**kw):
    base = dict(source="sample", tune_languages=["en", "de"], harmful_per_language=4, harmless_per_language=4,
                steps=12, batch_size=4, max_length=48, learning_rate=3e-3, harmless_answers="generic",
                train_layers_from=0)
    return RefusalModelConfig(**{**base, **kw})


def test_training_pairs_answer_harmful_with_refusal_in_their_language():
    rows = training_pairs(_cfg(), tiny_model())
    assert len(rows) == 16
    for r in rows:
        if r["kind"] == "harmful":
            assert r["answer"] == REFUSAL_REPLIES[r["lang"]]
        else:
            assert r["answer"] != REFUSAL_REPLIES[r["lang"]]


def test_base_model_answers_come_from_generation():
    lm = tiny_model()
    rows = training_pairs(_cfg(harmless_answers="base_model", harmless_answer_tokens=4,
                               tune_languages=["en"], harmless_per_language=2), lm)
    harmless = [r for r in rows if r["kind"] == "harmless"]
    expected = [g.text.strip() for g in lm.generate([r["prompt"] for r in harmless], max_new_tokens=4)]
    assert [r["answer"] for r in harmless] == [e or r["answer"] for e, r in zip(expected, harmless, strict=False)]


def test_labels_mask_the_prompt():
    lm = tiny_model()
    ids, labels = _encode(lm, {"prompt": "hello there", "answer": "no"}, 48)
    n_answer = len(lm.tokenizer("no", add_special_tokens=False)["input_ids"]) + 1  # + EOS
    assert labels[-n_answer:] == ids[-n_answer:]
    assert all(x == -100 for x in labels[:-n_answer])
    ids, labels = _encode(lm, {"prompt": "x" * 200, "answer": "no"}, 32)
    assert len(ids) == 32 and labels[-1] == ids[-1]  # long prompts are cut from the front


def test_build_learns_and_caches(tmp_path):
    cfg = _cfg()
    lm = tiny_model()
    before = {k: v.clone() for k, v in lm.hf.state_dict().items()}
    key = recipe_key(cfg, lm)
    folder = build(cfg, lm, tmp_path / "build")
    meta = json.loads((folder / "recipe.json").read_text())
    assert meta["key"] == key and meta["num_examples"] == 16 and len(meta["losses"]) == 12
    assert sum(meta["losses"][-3:]) / 3 < sum(meta["losses"][:3]) / 3  # it learns
    reloaded = load_build(folder)
    changed = [k for k, v in reloaded.hf.state_dict().items() if not torch.equal(v, before[k])]
    assert changed and all("layers" in k for k in changed)  # embeddings and head stay frozen
    assert reloaded.name == "default-refusal"
    # the recipe hash changes with the recipe
    assert recipe_key(_cfg(steps=13), tiny_model()) != key
