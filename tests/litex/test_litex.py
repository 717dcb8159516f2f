"""LITEX: taxonomy normalisation on the real files, Cohen's kappa of the IAA files (0.862, as the
LiTEx release states), explanation metrics against sacrebleu and hand-computed values, methods
on a tiny random model and the benchmark end to end."""

import json
import math
import subprocess
import sys

import pytest
import sacrebleu

from plurieval.config import build_run_config
from plurieval.errors import DataError
from plurieval.runner import execute
from plurieval.scoring import compute
from plurieval_litex.config import ClassifyConfig, ExplainConfig, LitexDatasetConfig
from plurieval_litex.data import FILES, LitexDataset, load_iaa, read_rows
from plurieval_litex.methods import Classify, Explain, first_sentence
from plurieval_litex.taxonomy import TAXONOMY, UnknownCategoryError

# --- taxonomy -------------------------------------------------------------------------------------

def test_taxonomy_has_eight_categories_with_definitions():
    assert len(TAXONOMY) == 8 and all(c.definition for c in TAXONOMY)
    assert [c.group for c in TAXONOMY].count("world-knowledge") == 2
    for spelling in ("Inferential Knowledge", "World-Informed Knowledge", "Word-Informed Knowledge",
                     "world-informed logical reasoning", "World_Informed  Logical Reasoning"):
        assert TAXONOMY.key(spelling) == "world_reasoning"
    assert TAXONOMY.key("Logic Conflict") == TAXONOMY.key("Logical Structure Conflict") == "logical_conflict"
    assert TAXONOMY.key("Pragmatic-Level Inference") == TAXONOMY.key("Pragmatic") == "pragmatic"
    assert TAXONOMY.key("Paraphrastic Inference (Syntactic)") == "syntactic"


def test_unknown_category_error_names_value_and_allowed():
    with pytest.raises(UnknownCategoryError) as err:
        TAXONOMY.normalize("Metaphor")
    msg = str(err.value)
    assert "'Metaphor'" in msg and "Coreference Resolution" in msg and "World-Informed Logical Reasoning" in msg


# counts of canonical categories per file (every row normalises; multi-label LiveNLI rows count each label)
EXPECTED = {
    "esnli/annotations_esnli.jsonl": {"world_reasoning": 972, "logical_conflict": 669, "factual_knowledge": 370,
                                      "syntactic": 347, "pragmatic": 282, "semantic": 268, "coreference": 106,
                                      "absence_of_mention": 94},
    "esnli/subset_explcat1.jsonl": {"world_reasoning": 542, "logical_conflict": 368},
    "livenli/annotations_livenli.jsonl": {"world_reasoning": 423, "semantic": 304, "absence_of_mention": 299},
    "varierr/annotations_varierr.jsonl": {"absence_of_mention": 640, "semantic": 435, "world_reasoning": 338},
    "iaa/classification_iaa/annotator0_iaa.jsonl": {"world_reasoning": 65, "logical_conflict": 48},
}


@pytest.mark.parametrize("relpath", sorted(EXPECTED))
def test_taxonomy_normalises_every_real_file(shared_data, relpath):
    counts: dict[str, int] = {}
    for row in read_rows(shared_data / "litex" / relpath):
        raw = row["explanation_category"]
        for v in raw if isinstance(raw, list) else [raw]:
            k = TAXONOMY.key(v)
            counts[k] = counts.get(k, 0) + 1
    for key, n in EXPECTED[relpath].items():
        assert counts[key] == n, key


def test_iaa_cohen_kappa_is_0_862(host, shared_data):
    a0, a1 = load_iaa(shared_data / "litex")
    assert len(a0) == 201
    out = compute(host, "cohen_kappa", a1, a0)
    assert round(out["score"], 3) == 0.862
    assert sum(p["pred"] != p["ref"] for p in out["per_example"]) == 22


def test_litex_loader_on_shared_data(shared_data):
    ex = LitexDataset(LitexDatasetConfig(data_dir=str(shared_data))).load()
    n = {s: sum(1 for e in ex if e.metadata["source"] == s) for s in FILES}
    assert n == {"esnli": 3108, "livenli": 1574, "varierr": 1799}
    first = ex[0]
    assert first.input["highlights"] == {"premise": [], "hypothesis": ["cracks", "in", "the", "ceiling."]}  # "3,6,4,5"
    assert first.target["category"] == "world_reasoning" and first.input["label"] == "neutral"
    assert first.input["explanation"] in first.target["references"]
    live = [e for e in ex if e.metadata["source"] == "livenli"]
    assert {e.input["label"] for e in live} >= {"entailment", "neutral", "contradiction", "entailment | neutral"}
    assert sum(e.input["label"] is None for e in ex if e.metadata["source"] == "varierr") == 100
    assert [e.id for e in ex if e.target["category"] is None] == ["livenli-00184"]  # the one unannotated row


def test_loader_reports_unknown_category_with_row(tmp_path):
    (tmp_path / "litex" / "esnli").mkdir(parents=True)
    (tmp_path / "litex" / "SOURCE.md").write_text("x")
    row = {"pairID": "1", "premise": "a", "hypothesis": "b", "explanation": "c", "explanation_category": "Vibes",
           "gold_label": "neutral"}
    (tmp_path / "litex" / "esnli" / "annotations_esnli.jsonl").write_text(json.dumps(row) + "\n")
    with pytest.raises(DataError, match=r"annotations_esnli.jsonl:1: unknown LiTEx category 'Vibes'"):
        LitexDataset(LitexDatasetConfig(data_dir=str(tmp_path), sources=["esnli"])).load()


# --- metrics ----------------------------------------------------------------------------------------

def test_chrf_and_bleu_equal_sacrebleu_corpus_scores(host):
    hyps = ["the cat sat on the mat", "a dog runs in the park", "nothing"]
    refs = ["the cat is on the mat", "the dog is running in a park", "something else entirely"]
    assert compute(host, "chrf", hyps, refs)["score"] == pytest.approx(sacrebleu.corpus_chrf(hyps, [refs]).score)
    assert compute(host, "bleu", hyps, refs)["score"] == pytest.approx(
        sacrebleu.corpus_bleu(hyps, [refs], smooth_method="exp").score)
    assert compute(host, "chrf", ["same text"], ["same text"])["score"] == pytest.approx(100.0)
    # several references: the best one counts
    multi = compute(host, "chrf", ["the cat sat on the mat"], [["zzz", "the cat sat on the mat"]])
    assert multi["score"] == pytest.approx(100.0)


def test_bleu_and_chrf_hand_computed_and_edge_cases(host):
    # BLEU by hand: hypothesis "a b c d e" vs reference "a b c d f": n-gram precisions 4/5, 3/4,
    # 2/3, 1/2, equal lengths (brevity penalty 1): 100 · (4/5 · 3/4 · 2/3 · 1/2)^(1/4) = 100 · 0.2^(1/4).
    assert compute(host, "bleu", ["a b c d e"], ["a b c d f"])["score"] == pytest.approx(100 * 0.2 ** 0.25)
    # Brevity penalty by hand: "a b c d" vs "a b c d e f" (c=4, r=6): all precisions 1, BP = e^(1-6/4).
    assert compute(host, "bleu", ["a b c d"], ["a b c d e f"])["score"] == pytest.approx(100 * math.exp(1 - 6 / 4))
    # chrF by hand, character unigrams only (char_order=1, no word n-grams, beta=2): "ab" vs "ac"
    # shares one of two characters, P = R = 1/2, F2 = (1+4)PR/(4P+R) = 1/2.
    one = compute(host, "chrf", ["ab"], ["ac"], char_order=1, word_order=0)
    assert one["score"] == pytest.approx(50.0)
    # No overlap at all scores 0; an empty explanation scores 0 (not an error); none at all is undefined.
    assert compute(host, "chrf", ["xyz"], ["abc"])["score"] == pytest.approx(0.0)
    assert compute(host, "bleu", ["xyz qqq"], ["abc def"])["score"] == pytest.approx(0.0)
    assert compute(host, "chrf", [""], ["a cat"])["score"] == pytest.approx(0.0)
    assert compute(host, "bleu", [""], ["a cat"])["score"] == pytest.approx(0.0)
    assert compute(host, "bleu", [], [])["score"] is None


def test_kappa_and_macro_f1_hand_computed(host):
    ref, pred = ["a", "a", "b", "b"], ["a", "b", "b", "b"]
    # p_o = 3/4; p_e = (2/4)(1/4) + (2/4)(3/4) = 1/2; kappa = (3/4 - 1/2)/(1/2)
    assert compute(host, "cohen_kappa", pred, ref)["score"] == pytest.approx(0.5)
    # F1(a) = 2/3 (P=1, R=1/2), F1(b) = 4/5 (P=2/3, R=1)
    assert compute(host, "macro_f1", pred, ref)["score"] == pytest.approx((2 / 3 + 4 / 5) / 2)
    assert compute(host, "cohen_kappa", ["a", "a"], ["a", "a"])["score"] == 1.0  # single shared label


def test_embedding_cosine_with_e5(host):
    out = compute(host, "embedding_cosine", ["A woman rides a bike.", "A woman rides a bike."],
                  [["A woman rides a bike."], ["The stock market fell sharply."]])
    assert out["per_example"][0] == pytest.approx(1.0, abs=1e-4)
    assert out["per_example"][1] < 0.9


@pytest.mark.integration
def test_bertscore_with_local_minilm(host):
    out = compute(host, "bertscore", ["the cat sat on the mat", "a dog runs"],
                  [["the cat sat on the mat"], ["stocks fell sharply today"]])
    assert out["per_example"][0] == pytest.approx(1.0, abs=1e-4) and out["per_example"][1] < 0.9


# --- methods and the benchmark ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def sample():
    return LitexDataset(LitexDatasetConfig(sources=["sample"])).load()


def test_explain_prompts_per_condition(sample):
    ex = sample[0]
    assert "Key words" not in Explain(ExplainConfig()).prompt(ex)[0]
    p, used = Explain(ExplainConfig(condition="label+highlights")).prompt(ex)
    assert used == "label+highlights"
    # The sample's highlights, as whitespace-token indices: premise "9,12", hypothesis "3,6".
    assert "Key words in the premise: dog, park.\n" in p and "Key words in the hypothesis: outside, animal." in p
    p, used = Explain(ExplainConfig(condition="label+category")).prompt(ex)
    assert used == "label+category" and TAXONOMY.get("semantic").definition in p
    assert first_sentence("\nExplanation: A dog is an animal. So yes.") == "A dog is an animal."


def test_methods_on_tiny_model(tiny_lm, sample):
    preds = Explain(ExplainConfig(condition="label+category", max_new_tokens=12)).predict(tiny_lm, sample[:3])
    assert all(isinstance(p.text, str) and p.extra["condition_used"] == "label+category" for p in preds)
    cls = Classify(ClassifyConfig()).predict(tiny_lm, sample[:3])
    for p in cls:
        assert p.label in TAXONOMY.keys and len(p.distribution) == 8
        assert sum(p.distribution) == pytest.approx(1.0)


def test_litex_benchmark_classifier_and_generator(host, tmp_path):
    def run(method, **params):
        cfg = build_run_config({"benchmark": {"name": "litex", "params": {"sources": ["sample"]}}, "model": "tiny",
                                "method": {"name": method, "params": params}, "limit": 6, "batch_size": 3,
                                "output_dir": str(tmp_path), "tracking": {"enabled": False}})
        return execute(cfg, host).summary

    s = run("litex-classify")
    assert set(s["metrics"]) == {"cohen_kappa", "macro_f1"}
    assert s["skipped_metrics"] == ["chrf", "bleu", "embedding_cosine", "degenerate_rate"]
    assert s["per_group"]["by"] == "source" and "sample" in s["per_group"]
    s = run("explain-label", max_new_tokens=12)
    assert set(s["metrics"]) == {"chrf", "bleu", "embedding_cosine", "degenerate_rate"}
    assert 0 <= s["metrics"]["degenerate_rate"] <= 1  # the tiny random model's 12 tokens: often degenerate
    assert 0 <= s["metrics"]["chrf"] <= 100 and -1 <= s["metrics"]["embedding_cosine"] <= 1


@pytest.mark.integration
def test_cli_run_litex_default_model(host, tmp_path, shared_data):
    if "default" not in {s.name for s in host.registry.all("model")}:
        pytest.skip("model 'default' is not registered yet (models plugin)")
    res = subprocess.run([sys.executable, "-c", "from plurieval.cli import main; main()", "run", "litex",
                          "--model", "default", "--limit", "20", "--output", str(tmp_path), "--batch-size", "10"],
                         capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "chrf" in res.stdout and "embedding_cosine" in res.stdout
    summary = json.loads(next(tmp_path.rglob("summary.json")).read_text())
    assert summary["num_examples"] == 20 and set(summary["per_group"]) >= {"esnli", "livenli", "varierr"}
