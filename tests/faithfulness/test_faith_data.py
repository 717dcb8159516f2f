"""Faithfulness items: e-SNLI pairs with combined human rationales (LiTEx), the shipped sample,
ChaosNLI items without rationales."""

from __future__ import annotations

from plurieval.api import get_host
from plurieval_faithfulness.data import SAMPLE, chaosnli_items, combine


def load(**params):
    return get_host().get("dataset", "esnli-highlights").create(params)


def test_combining_annotators():
    # votes per word from 3 annotators
    votes = [0, 1, 2, 3]
    assert combine(votes, 3, "any") == [0, 1, 1, 1]
    assert combine(votes, 3, "majority") == [0, 0, 1, 1]  # 2·votes ≥ 3
    assert combine(votes, 3, "all") == [0, 0, 0, 1]


def test_shipped_sample():
    ds = load(data_dir=str(SAMPLE))
    items = ds.load()
    assert len(items) == 24
    assert {ex.target["label"] for ex in items} == {"entailment", "neutral", "contradiction"}
    first = next(ex for ex in items if ex.metadata["pair_id"] == "s1e")
    # "A woman in a yellow coat is walking her dog in the park." / "A woman is outside with an animal.";
    # both annotators highlighted premise words 9 (dog) and 12 (park.), hypothesis 3 (outside) and 6
    # (animal.); one also 5 (an): 1 of 2 votes is "at least half", so the majority rationale has it.
    words = first.input["premise"].split() + first.input["hypothesis"].split()
    assert [w for w, r in zip(words, first.target["rationale"], strict=True) if r] == ["dog", "park.", "outside",
                                                                                       "an", "animal."]
    assert first.target["annotators"] == 2
    assert ds.info(items, None).id == "faithfulness-sample"


def test_esnli_pairs_from_the_shared_data(shared_data):
    items = load(data_dir=str(shared_data)).load()
    assert len(items) == 1002  # LiTEx annotated 1,002 e-SNLI pairs (3,108 explanations)
    ex = next(e for e in items if e.metadata["pair_id"] == "2677109430.jpg#1r1n")
    # three annotators, premise "{}" each, hypothesis "3,6,4,5" / "3,4,5,6" / "3,6,4,5":
    # "The church has cracks in the ceiling." → words 3..6 = cracks in the ceiling.
    n_premise = len(ex.input["premise"].split())
    assert ex.target["annotators"] == 3
    assert ex.target["rationale"] == [0] * n_premise + [0, 0, 0, 1, 1, 1, 1]
    assert ex.target["label"] == "neutral"


def test_chaosnli_items_have_no_rationale():
    items, info = chaosnli_items("test", None)
    assert items and all(ex.target["rationale"] is None for ex in items)
    assert all(ex.target["label"] in ex.input["options"] for ex in items)


def test_rationale_setting_changes_the_reference():
    rationales = {how: [e.target["rationale"] for e in load(data_dir=str(SAMPLE), rationale=how).load()]
                  for how in ("majority", "any", "all")}
    assert rationales["all"] != rationales["majority"]
    assert rationales["any"] == rationales["majority"]  # two annotators per sample pair: half = one
