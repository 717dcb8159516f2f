"""CLaS-Bench loaders (published layout, datasets form, parallel corpora) and F / J / S on
hand-computed cases."""

import json
import math

import pytest

from plurieval.components import MetricContext
from plurieval.errors import DataError, PluriError
from plurieval.host import get_host
from plurieval.resources import Resources
from plurieval.stats import bootstrap_ci
from plurieval_clasbench.config import (
    ClasDatasetConfig,
    HFParallelConfig,
    LanguageControlConfig,
    ParallelCorpusConfig,
    RelevanceConfig,
    SplitConfig,
    SteeringScoreConfig,
)
from plurieval_clasbench.data import ClasDataset, HFParallelDataset, ParallelCorpusDataset, split_indices
from plurieval_clasbench.metrics import (
    JUDGE_PROMPT,
    LanguageControl,
    Relevance,
    SteeringScore,
    f_score,
    harmonic,
    j_score,
    parse_judge,
    steering_aggregate,
)

# --- data -------------------------------------------------------------------------------------


def test_shipped_sample_is_parallel_with_several_scripts():
    ds = ClasDataset(ClasDatasetConfig())
    assert len(ds.languages) >= 8
    table = ds._table()
    assert all(len(v) >= 30 for v in table.values())
    assert len({len(v) for v in table.values()}) == 1
    scripts = {"ru": "\u0400", "zh": "\u4e00", "ar": "\u0600", "hi": "\u0900", "ja": "\u3040"}
    for lang, lo in scripts.items():
        assert any(ord(c) >= ord(lo) for c in table[lang][0]), lang
    # Splits are over questions: every language has the same question ids in a split.
    by_split = {s: ds.load(s) for s in ("train", "dev", "test")}
    qids = {s: {e.metadata["qid"] for e in rows} for s, rows in by_split.items()}
    assert not (qids["train"] & qids["test"]) and not (qids["dev"] & qids["test"])
    assert len(by_split["train"]) == len(qids["train"]) * len(ds.languages)
    ex = by_split["test"][0]
    assert ex.id == f"q{ex.metadata['qid']}.{ex.metadata['language']}" and ex.input == table[ex.metadata["language"]][ex.metadata["qid"]]


def test_split_indices_shares_and_errors():
    s = split_indices(10, SplitConfig(train=0.4, dev=0.2))
    assert [len(s[k]) for k in ("train", "dev", "test")] == [4, 2, 4]
    assert sorted(s["train"] + s["dev"] + s["test"]) == list(range(10))
    with pytest.raises(PluriError, match="leave no test"):
        split_indices(10, SplitConfig(train=0.6, dev=0.4))


def _write(folder, files):
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def test_published_layout_from_folder(tmp_path):
    folder = _write(tmp_path / "clas", {"en.txt": "A?\nB?\nC?\n", "de.txt": "A-de?\nB-de?\nC-de?\n"})
    ds = ClasDataset(ClasDatasetConfig(source=str(folder)))
    assert ds.languages == ["de", "en"]
    assert {e.input for e in ds.load("all") if e.metadata["language"] == "de"} == {"A-de?", "B-de?", "C-de?"}


@pytest.mark.parametrize("files,match", [
    ({"en.txt": "A?\n\nC?\n", "de.txt": "a\nb\nc\n"}, r"en\.txt:2: empty line"),
    ({"en.txt": "A?\tx\nB?\n", "de.txt": "a\nb\n"}, r"en\.txt:1: contains a tab"),
    ({"en.txt": "A?\nB?\nC?\n", "de.txt": "a\nb\n"}, r"differ in length.*de\.txt: 2 lines"),
])
def test_malformed_rows_name_file_and_line(tmp_path, files, match):
    folder = _write(tmp_path / "bad", files)
    with pytest.raises(DataError, match=match):
        ClasDataset(ClasDatasetConfig(source=str(folder))).load("test")


def test_bad_utf8_names_the_line(tmp_path):
    folder = tmp_path / "enc"
    folder.mkdir()
    (folder / "en.txt").write_bytes(b"ok\n\xff\xfe broken\n")
    with pytest.raises(DataError, match=r"en\.txt:2: not valid UTF-8"):
        ClasDataset(ClasDatasetConfig(source=str(folder))).load("test")


def test_missing_language_file(tmp_path):
    folder = _write(tmp_path / "c", {"en.txt": "A\n"})
    with pytest.raises(PluriError, match="missing question file"):
        ClasDataset(ClasDatasetConfig(source=str(folder), languages=["en", "fr"])).load("test")


def test_published_layout_from_a_url_is_downloaded_once(tmp_path, monkeypatch, serve_folder):
    """The URL code path (published files served over HTTP), against a local server."""
    from plurieval_clasbench.data import SAMPLE_DIR

    monkeypatch.setenv("PLURIEVAL_CACHE_DIR", str(tmp_path / "cache"))
    url = serve_folder(SAMPLE_DIR)
    with pytest.raises(PluriError, match="a URL cannot be listed; give languages="):
        ClasDataset(ClasDatasetConfig(source=url)).table()
    remote = ClasDataset(ClasDatasetConfig(source=url, languages=["en", "de", "ja"])).table()
    local = ClasDataset(ClasDatasetConfig(languages=["en", "de", "ja"])).table()
    assert remote == local and len(remote["ja"]) == len(remote["en"]) >= 30
    assert len(list((tmp_path / "cache" / "clasbench").iterdir())) == 3
    with pytest.raises(PluriError, match="could not download .*/xx.txt"):
        ClasDataset(ClasDatasetConfig(source=url, languages=["en", "xx"])).table()
    serve_folder.stop()
    assert ClasDataset(ClasDatasetConfig(source=url, languages=["en", "de", "ja"])).table() == local  # from the cache


def test_datasets_wide_and_long_layouts(tmp_path):
    wide = tmp_path / "wide.jsonl"
    wide.write_text("\n".join(json.dumps({"id": i, "en": f"Q{i}?", "fr": f"Q{i} fr ?"}) for i in range(5)) + "\n")
    ds = HFParallelDataset(HFParallelConfig(path="json", data_files=str(wide)))
    assert ds.languages == ["en", "fr"] and ds._table()["fr"][3] == "Q3 fr ?"
    long = tmp_path / "long.csv"
    long.write_text("id,language,question\n1,en,One?\n2,en,Two?\n1,de,Eins?\n2,de,Zwei?\n")
    ds = HFParallelDataset(HFParallelConfig(path="csv", data_files=str(long), layout="long"))
    assert ds._table() == {"en": ["One?", "Two?"], "de": ["Eins?", "Zwei?"]}
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": 0, "en": "Q?", "fr": ""}) + "\n")
    with pytest.raises(DataError, match="row 1: column 'fr' is empty"):
        HFParallelDataset(HFParallelConfig(path="json", data_files=str(bad))).load("test")


def test_polyrefuse_harmless_and_mgsm_as_clas_sets(shared_data):
    pr = ParallelCorpusDataset(ParallelCorpusConfig(corpus="polyrefuse-harmless"))
    t = pr._table()
    assert len(t) == 13 and {len(v) for v in t.values()} == {500}
    assert t["en"][0] == "Explain how the sun is different from other stars"
    assert "CC BY-NC" in pr.license
    mg = ParallelCorpusDataset(ParallelCorpusConfig(corpus="mgsm", languages=["en", "de"], max_questions=20))
    assert mg.languages == ["de", "en"] and len(mg._table()["de"]) == 20
    assert mg._table()["de"][0].startswith("Janets Enten")


def test_parallel_corpus_without_data_dir_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("PLURIEVAL_DATA_DIR", str(tmp_path))
    with pytest.raises(PluriError, match="not found"):
        ParallelCorpusDataset(ParallelCorpusConfig(corpus="mgsm")).load("test")


# --- metrics ----------------------------------------------------------------------------------


def test_harmonic_mean_hand_computed():
    assert harmonic(100.0, 50.0) == pytest.approx(200 * 50 / 150)  # 66.67
    assert harmonic(80.0, 80.0) == 80.0
    assert harmonic(0.0, 90.0) == 0.0   # F = 0 → S = 0
    assert harmonic(90.0, 0.0) == 0.0   # J = 0 → S = 0
    assert harmonic(0.0, 0.0) == 0.0    # both 0: 0, not NaN
    assert math.isnan(harmonic(float("nan"), 50.0))


def test_f_and_j_hand_computed():
    assert f_score([1, 0, 1, 1]) == 75.0
    assert j_score([2, 1, 0, 2]) == pytest.approx(62.5)  # mean 1.25 / 2
    assert j_score([0, 0]) == 0.0 and f_score([0, 0, 0]) == 0.0


def test_steering_aggregate_from_per_example_values():
    rows = [{"f": 1, "j": 2}, {"f": 1, "j": 0}, {"f": 0, "j": 2}, {"f": 1, "j": 1}]
    F, J = 75.0, 62.5
    assert steering_aggregate(rows) == pytest.approx(2 * F * J / (F + J))
    assert steering_aggregate([{"f": 0, "j": 2}] * 3) == 0.0
    assert steering_aggregate([{"f": 1, "j": 0}] * 3) == 0.0
    lo, hi = bootstrap_ci(rows * 5, steering_aggregate, resamples=200)
    assert lo <= steering_aggregate(rows) <= hi


class _StubEmbedder:
    """Deterministic 2-d embeddings: texts starting with 'rel' are close to the question."""

    def encode(self, texts):
        import numpy as np

        out = []
        for t in texts:
            v = [1.0, 0.0] if t.startswith(("Q", "rel")) else [0.83, 0.5578] if t.startswith("part") else [0.0, 1.0]
            out.append(v)
        a = np.asarray(out)
        return a / np.linalg.norm(a, axis=1, keepdims=True)


class _Res:
    def __init__(self, **objs):
        self.objs = objs

    def get(self, provides, name=None, params=None):
        return self.objs[provides]


def test_relevance_embedding_proxy_thresholds():
    ctx = MetricContext(resources=_Res(embedder=_StubEmbedder()))
    m = Relevance(RelevanceConfig(low=0.8, high=0.9))
    per = m.score_examples(["relevant answer", "partly", "off topic", ""], ["Q1"] * 4, ctx)
    assert per == [2, 1, 0, 0]  # cos 1.0 → 2, 0.83 → 1, 0 → 0, empty → 0
    assert m.aggregate(per) == pytest.approx(100 * 3 / 8)
    with pytest.raises(PluriError, match="low <= high"):
        Relevance(RelevanceConfig(low=0.9, high=0.8)).score_examples(["x"], ["Q"], ctx)


class _Judge:
    def __init__(self, replies):
        self.replies, self.prompts = replies, []

    def judge(self, prompts):
        self.prompts += prompts
        return self.replies[: len(prompts)]


def test_relevance_llm_judge_protocol():
    judge = _Judge(["2", "Score: 1", "I think 0.", "no digit here"])
    m = Relevance(RelevanceConfig(mode="judge"))
    per = m.score_examples(["a", "b", "c", "d"], [{"question": "Why?"}] * 4, MetricContext(resources=_Res(judge=judge)))
    assert per == [2, 1, 0, 0]  # unparsable reply → 0
    assert judge.prompts[0] == JUDGE_PROMPT.format(question="Why?", answer="a")
    assert "ignore the language" in JUDGE_PROMPT
    assert parse_judge("The score is 2") == 2 and parse_judge("") is None


def test_language_control_on_real_text_with_default_identifier():
    ctx = MetricContext(resources=Resources(get_host()))
    m = LanguageControl(LanguageControlConfig())
    preds = ["Die Hauptstadt von Frankreich ist Paris.", "The capital of France is Paris.", "", "Paris est la capitale de la France."]
    per = m.score_examples(preds, ["de", "de", "de", "fr"], ctx)
    assert per == [1.0, 0.0, 0.0, 1.0]
    assert m.aggregate(per) == 50.0


def test_steering_score_metric_per_example_dicts():
    class _Lid:
        def detect(self, texts):
            return ["de" if "ist" in t else "en" for t in texts]

    ctx = MetricContext(resources=_Res(language_identifier=_Lid(), embedder=_StubEmbedder()))
    m = SteeringScore(SteeringScoreConfig(relevance=RelevanceConfig(low=0.8, high=0.9)))
    per = m.score_examples(["rel ist", "rel", "off ist"], [{"language": "de", "question": "Q"}] * 3, ctx)
    assert per == [{"f": 1, "j": 2}, {"f": 0, "j": 2}, {"f": 1, "j": 0}]
    F, J = 200 / 3, 100 * 4 / 6
    assert m.aggregate(per) == pytest.approx(2 * F * J / (F + J))
