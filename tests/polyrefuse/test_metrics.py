"""Refusal metrics on hand-computed cases."""

import math

import pytest
import torch

from plurieval_polyrefuse.config import LANGUAGES, JudgeRefusalConfig, SubstringRefusalConfig
from plurieval_polyrefuse.metrics import (
    JudgeRefusal,
    SubstringRefusal,
    _lang,
    make_substring_compliance,
    refusal_score_from_logprobs,
)
from plurieval_polyrefuse.phrases import (
    JAILBREAKBENCH_PHRASES_EN,
    REFUSAL_PHRASES,
    REFUSAL_REPLIES,
    REFUSAL_TOKENS,
    is_refusal,
    phrases_for,
)


def test_refusal_score_hand_computed():
    probs = torch.tensor([[0.2, 0.3, 0.5], [0.0, 0.0, 1.0]], dtype=torch.float64)
    lp = probs.clamp_min(1e-300).log()
    s = refusal_score_from_logprobs(lp, [0, 1])
    # p = 0.5 → log(0.5 + ε) − log(0.5 + ε) = 0
    assert abs(float(s[0])) < 1e-12
    # p = 0 → log(ε) − log(1 + ε)
    assert math.isclose(float(s[1]), math.log(1e-8) - math.log(1 + 1e-8), rel_tol=1e-9)
    # p = 0.2 with one refusal token → log(0.2) − log(0.8)
    s2 = refusal_score_from_logprobs(lp[:1], [0], epsilon=1e-12)
    assert math.isclose(float(s2[0]), math.log(0.2 / 0.8), rel_tol=1e-9)


def test_refusal_score_is_finite_when_refusal_is_certain():
    lp = torch.tensor([[0.0, -80.0, -90.0]])  # float32, p(token 0) within rounding of 1
    assert torch.isfinite(refusal_score_from_logprobs(lp, [0])).all()
    assert float(refusal_score_from_logprobs(lp, [0])[0]) > 15


def test_phrase_lists_cover_all_languages():
    assert len(JAILBREAKBENCH_PHRASES_EN) == 13
    for table in (REFUSAL_PHRASES, REFUSAL_REPLIES, REFUSAL_TOKENS):
        assert set(table) == set(LANGUAGES)
    # each language's own refusal reply is caught by its own phrase list (without English help)
    for lang, reply in REFUSAL_REPLIES.items():
        assert is_refusal(reply, phrases_for(lang, with_english=False)), lang


def test_substring_matching_rules():
    assert is_refusal("I’m sorry, I can’t.", ["I'm sorry"])  # typographic apostrophe folded
    assert not is_refusal("She has an apple.", ["As an"])  # case-sensitive by default (JailbreakBench)
    assert is_refusal("she has an apple", ["As an"], case_sensitive=False)
    assert "I cannot" in phrases_for("de") and "I cannot" not in phrases_for("de", with_english=False)


def test_substring_refusal_and_compliance_rates():
    preds = ["I'm sorry, but no.", "Here is the poem.", "Es tut mir leid, aber nein.", "Voilà la recette."]
    refs = ["en", "en", "de", {"lang": "fr"}]
    m = SubstringRefusal(SubstringRefusalConfig())
    per = m.score_examples(preds, refs)
    assert per == [1.0, 0.0, 1.0, 0.0] and m.aggregate(per) == 0.5
    c = make_substring_compliance(SubstringRefusalConfig())
    assert c.score_examples(preds, refs) == [0.0, 1.0, 0.0, 1.0]
    custom = SubstringRefusal(SubstringRefusalConfig(phrases={"en": ["poem"]}, with_english=False))
    assert custom.score_examples(preds[:2], refs[:2]) == [0.0, 1.0]


def test_reference_without_language_is_a_clear_error():
    from plurieval.errors import PluriError

    with pytest.raises(PluriError, match="language of each example"):
        _lang({"text": "x"})


def test_judge_classifier_slot(tmp_path):
    """A real (tiny, random) sequence classifier saved to disk stands in for a safety judge: the
    metric must map its labels through refusal_labels."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2ForSequenceClassification, PreTrainedTokenizerFast

    vocab = {"[PAD]": 0, "[UNK]": 1, "sorry": 2, "sure": 3}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]")
    # No transformer blocks: the label is read from the (layer-normed) embedding of the last
    # token, so the classifier's decision is known by construction.
    cfg = GPT2Config(vocab_size=4, n_embd=8, n_layer=0, n_head=2, n_positions=16, pad_token_id=0,
                     num_labels=2, id2label={0: "compliance", 1: "refusal"}, label2id={"compliance": 0, "refusal": 1})
    model = GPT2ForSequenceClassification(cfg)
    with torch.no_grad():
        model.transformer.wte.weight.zero_()
        model.transformer.wpe.weight.zero_()
        model.transformer.wte.weight[2, 0] = 5.0
        model.transformer.wte.weight[3, 0] = -5.0
        model.score.weight.zero_()
        model.score.weight[1, 0] = 1.0
        model.score.weight[0, 0] = -1.0
    model.save_pretrained(tmp_path)
    fast.save_pretrained(tmp_path)
    judge = JudgeRefusal(JudgeRefusalConfig(model_path=str(tmp_path)))
    out = judge.score_examples(["sorry", "sure"], ["en", "en"])
    assert out == [1.0, 0.0]
    flipped = JudgeRefusal(JudgeRefusalConfig(model_path=str(tmp_path), compliance=True)).score_examples(["sorry", "sure"], ["en", "en"])
    assert flipped == [1.0 - x for x in out]
    from plurieval.errors import PluriError

    with pytest.raises(PluriError, match="refusal_labels"):
        JudgeRefusal(JudgeRefusalConfig(model_path=str(tmp_path), refusal_labels=["unsafe"])).score_examples(["x"], ["en"])
