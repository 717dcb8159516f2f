"""Faithfulness items: NLI pairs with (where the data has them) human rationales.

One example per premise–hypothesis pair::

    input    = {"premise", "hypothesis", "options": ["entailment", "neutral", "contradiction"]}
    target   = {"label": gold label or None, "rationale": [0/1 per word] or None,
                "votes": [annotators who highlighted each word], "annotators": k}
    metadata = {"source", "pair_id", "label"}

Words are the whitespace words of the premise, then of the hypothesis: the features every
attribution scores and the units e-SNLI highlights index.

- ``esnli`` (default): the e-SNLI pairs that LiTEx annotated, read through the registered
  ``litex`` dataset (one LiTEx row per explanation, ~3 per pair, each with its annotator's
  e-SNLI highlights). The pair's rationale combines its annotators (``rationale``: majority,
  any, all). Licence: LiTEx annotations Apache-2.0; e-SNLI MIT.
- ``chaosnli`` / ``varierr``: ChaosNLI-MNLI items (through the registered ``chaosnli`` dataset);
  gold = the majority of the ~100 human labels; no rationale. **CC BY-NC 4.0, non-commercial.**
- ``sample``: 24 self-written pairs with self-written highlights, in the LiTEx e-SNLI file format
  (``data/sample/esnli/annotations_esnli.jsonl``), used when the shared data is absent.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from plurieval.api import DataError, Dataset, DatasetInfo, Example, data_path, get_host

NLI_OPTIONS = ["entailment", "neutral", "contradiction"]
SAMPLE = Path(__file__).parent / "data" / "sample"
ESNLI_FILE = "esnli/annotations_esnli.jsonl"
LITEX_REVISION = "mainlp/LiTEx@4734196a016d16b22458f7a420335110460cb66e"
ESNLI_LICENSE = "Apache-2.0 (LiTEx annotations); e-SNLI texts and highlights MIT"


def _dataset(name: str, params: dict[str, Any]) -> Any:
    return get_host().get("dataset", name).create(params)


def spread_key(example_id: str) -> str:
    """The faithfulness benchmarks' fixed pseudo-random order: sha256 of the item id."""
    return hashlib.sha256(example_id.encode("utf-8")).hexdigest()


def combine(votes: list[int], annotators: int, how: str) -> list[int]:
    if how == "any":
        return [int(v > 0) for v in votes]
    if how == "all":
        return [int(annotators > 0 and v == annotators) for v in votes]
    return [int(annotators > 0 and 2 * v >= annotators) for v in votes]


def esnli_pairs(rows: list[Example], how: str) -> list[Example]:
    """LiTEx e-SNLI rows (one per explanation) → one example per pair with its rationale."""
    pairs: dict[str, list[Example]] = {}
    for row in rows:
        pairs.setdefault(str(row.metadata.get("pair_id")), []).append(row)
    out = []
    for pair_id, group in pairs.items():
        first = group[0]
        premise, hypothesis = first.input["premise"], first.input["hypothesis"]
        sizes = {"premise": len(premise.split()), "hypothesis": len(hypothesis.split())}
        votes = {k: [0] * n for k, n in sizes.items()}
        annotators = 0
        for row in group:
            index = row.metadata.get("highlight_index")
            if index is None:
                continue
            annotators += 1
            for field in ("premise", "hypothesis"):
                for i in index.get(field) or []:
                    if 0 <= i < sizes[field]:
                        votes[field][i] += 1
        flat = votes["premise"] + votes["hypothesis"]
        labels = [r.input.get("label") for r in group if r.input.get("label")]
        label = max(set(labels), key=labels.count) if labels else None
        out.append(Example(
            id=f"esnli-{pair_id}",
            input={"premise": premise, "hypothesis": hypothesis, "options": list(NLI_OPTIONS)},
            target={"label": label, "rationale": combine(flat, annotators, how) if annotators else None,
                    "votes": flat, "annotators": annotators},
            metadata={"source": first.metadata.get("source"), "pair_id": pair_id, "label": label},
        ))
    return out


class ESNLIHighlights(Dataset):
    """e-SNLI pairs with human highlights (from LiTEx; the shipped sample without shared data)."""

    def load(self, split: str | None = None) -> list[Example]:
        folder, self.is_sample = data_path(self.config.data_dir, "litex", marker=ESNLI_FILE, sample=SAMPLE,
                                           what="faithfulness e-SNLI items")
        self.is_sample = self.is_sample or Path(folder).resolve() == SAMPLE.resolve()
        self.folder = folder
        rows = _dataset("litex", {"data_dir": str(folder), "sources": ["esnli"]}).load()
        examples = esnli_pairs(rows, self.config.rationale)
        if self.is_sample:
            for ex in examples:
                ex.metadata["source"] = "sample"
        if not examples:
            raise DataError(f"faithfulness: no e-SNLI pairs in {folder / ESNLI_FILE}")
        if getattr(self.config, "order", "file") == "spread":
            examples = sorted(examples, key=lambda ex: spread_key(ex.id))
        return examples

    def info(self, examples, split) -> DatasetInfo:
        base = super().info(examples, split)
        sample = getattr(self, "is_sample", False)
        base.id = "faithfulness-sample" if sample else "esnli-litex"
        base.revision = "plurieval_faithfulness:data/sample" if sample else LITEX_REVISION
        base.license = "Apache-2.0 (written for plurieval)" if sample else ESNLI_LICENSE
        base.source = str(getattr(self, "folder", SAMPLE) / ESNLI_FILE)
        return base


def chaosnli_items(split: str, data_dir: str | None) -> tuple[list[Example], DatasetInfo]:
    """ChaosNLI(-VariErr) items as faithfulness items: gold = the human majority, no rationale."""
    dataset = _dataset("chaosnli", {"data_dir": data_dir, "split": split})
    rows = dataset.load(split)
    out = []
    for row in rows:
        dist = list(row.target)
        label = row.input["options"][int(np.argmax(dist))]
        out.append(Example(
            id=row.id,
            input={"premise": row.input["premise"], "hypothesis": row.input["hypothesis"],
                   "options": list(row.input["options"])},
            target={"label": label, "rationale": None, "human_distribution": dist},
            metadata={"source": row.metadata.get("source"), "label": label},
        ))
    return out, dataset.info(rows, split)
