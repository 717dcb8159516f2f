"""HLV loaders (generic item+counts, ChaosNLI on the shared data and the packaged sample) and the
sanity values of the uniform distribution against the ChaosNLI human distributions."""

import json
import math

import numpy as np
import pytest

from plurieval.errors import DataError
from plurieval.evaluate import data_path
from plurieval.scoring import compute
from plurieval_hlv.config import HLVDatasetConfig, ItemCountsConfig
from plurieval_hlv.data import ChaosNLIDataset, ItemCountsDataset


def test_item_counts_loader(tmp_path):
    f = tmp_path / "items.jsonl"
    f.write_text(json.dumps({"id": "q1", "text": "Is a tomato a fruit?", "options": ["yes", "no"], "counts": [7, 3]})
                 + "\n" + json.dumps({"id": "q2", "text": "Is water wet?", "options": ["yes", "no"], "counts": [5, 5]})
                 + "\n")
    ex = ItemCountsDataset(ItemCountsConfig(path=str(f))).load()
    assert [e.id for e in ex] == ["q1", "q2"]
    assert ex[0].target == pytest.approx([0.7, 0.3]) and ex[0].input["options"] == ["yes", "no"]
    assert ex[0].metadata["counts"] == [7, 3]
    f.write_text(json.dumps({"id": "q3", "text": "x", "options": ["a", "b"], "counts": [1, 2, 3]}) + "\n")
    with pytest.raises(DataError, match=r"items.jsonl:1: field 'counts' must be a list of 2 numbers"):
        ItemCountsDataset(ItemCountsConfig(path=str(f))).load()


def test_packaged_sample_loads_without_shared_data(monkeypatch):
    monkeypatch.delenv("PLURIEVAL_DATA_DIR", raising=False)
    ex = ChaosNLIDataset(HLVDatasetConfig()).load()  # default split falls back to the sample
    assert len(ex) == 22 and all(e.metadata["source"] == "sample" for e in ex)
    assert all(abs(sum(e.target) - 1) < 1e-9 for e in ex)


def test_wrong_data_dir_is_an_error_not_a_fallback(tmp_path):
    with pytest.raises(DataError, match="dev.json not found"):
        ChaosNLIDataset(HLVDatasetConfig(data_dir=str(tmp_path), split="dev")).load()
    with pytest.raises(DataError, match="data_dir"):
        data_path(str(tmp_path), "hlv/x", marker="a.json")


@pytest.mark.parametrize("split,n", [("dev", 629), ("test", 629), ("varierr", 341)])
def test_chaosnli_shared_splits(shared_data, split, n):
    ex = ChaosNLIDataset(HLVDatasetConfig(data_dir=str(shared_data), split=split)).load()
    assert len(ex) == n
    assert all(abs(sum(e.target) - 1) < 1e-9 and len(e.target) == 3 for e in ex)
    if split == "varierr":
        first = ex[0]
        assert first.target == pytest.approx([0.02, 0.41, 0.57])
        assert first.metadata["varierr_counts"] == [0, 4, 0] and first.metadata["mnli_label"] == "contradiction"
        assert first.metadata["explanations"][0]["label"] == "neutral"


# Uniform vs ChaosNLI human distributions (documented in docs/hlv.md). KL(h||u) = ln 3 - H(h) and
# cross-entropy H(h, u) = ln 3 exactly; the others were computed once and pinned.
SANITY = {
    "dev": {"kl_divergence": 0.3499, "js_distance": 0.3584, "js_divergence": 0.1410, "total_variation": 0.3418},
    "test": {"kl_divergence": 0.3565, "js_distance": 0.3646, "js_divergence": 0.1446, "total_variation": 0.3434},
    "varierr": {"kl_divergence": 0.3649, "js_distance": 0.3688, "js_divergence": 0.1474, "total_variation": 0.3505},
}


@pytest.mark.parametrize("split", ["dev", "test", "varierr"])
def test_uniform_baseline_sanity_values(host, shared_data, split):
    ex = ChaosNLIDataset(HLVDatasetConfig(data_dir=str(shared_data), split=split)).load()
    refs = [e.target for e in ex]
    uniform = [[1 / 3] * 3] * len(ex)
    for metric, expected in SANITY[split].items():
        assert compute(host, metric, uniform, refs)["score"] == pytest.approx(expected, abs=5e-5), metric
    # identities that hold for any data: KL(h||u) = ln3 - H(h), H(h, u) = ln3, |H(u) - H(h)| = KL(h||u)
    h = np.asarray(refs)
    ent = -np.sum(np.where(h > 0, h * np.log(np.where(h > 0, h, 1)), 0), axis=1)
    assert compute(host, "kl_divergence", uniform, refs)["score"] == pytest.approx(math.log(3) - ent.mean(), abs=1e-9)
    assert compute(host, "cross_entropy", uniform, refs)["score"] == pytest.approx(math.log(3), abs=1e-9)
    assert compute(host, "entropy_calibration_error", uniform, refs)["score"] == pytest.approx(
        math.log(3) - ent.mean(), abs=1e-9)
