"""HLV datasets: a generic "item + options + annotator counts" loader and ChaosNLI.

Every example has the same shape, whatever the source:
``input = {"options": [...], <text fields>}``, ``target = [p_1, ..., p_K]`` (the human
distribution in option order), ``metadata`` with the raw counts where the source has them.

ChaosNLI (Nie, Zhou & Bansal 2020) is licensed **CC BY-NC 4.0 (non-commercial use only)**; the
files read here come from the MJD-Estimator repository (Apache-2.0 code, ChaosNLI data). The
package ships a small *self-written* sample (not ChaosNLI text) so the default run works without
the shared data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from plurieval.api import DataError, Dataset, Example, data_path, read_jsonl

NLI_OPTIONS = ["entailment", "neutral", "contradiction"]
_LETTER = {"e": "entailment", "n": "neutral", "c": "contradiction"}
SAMPLE = Path(__file__).parent / "data"
CHAOSNLI_LICENSE = "CC-BY-NC-4.0 (ChaosNLI data: non-commercial use only); MJD-Estimator code Apache-2.0"


def _distribution(values: Any, path: Path, line: int, field: str, k: int) -> list[float]:
    if not isinstance(values, list) or len(values) != k or not all(isinstance(v, int | float) for v in values):
        raise DataError(f"{path}:{line}: field {field!r} must be a list of {k} numbers, got {values!r}")
    total = float(sum(values))
    if total <= 0 or any(v < 0 for v in values):
        raise DataError(f"{path}:{line}: field {field!r} must be non-negative with a positive sum, got {values!r}")
    return [float(v) / total for v in values]


class ItemCountsDataset(Dataset):
    """Any JSONL of items with answer options and annotator counts (or probabilities).

    Example row (with the default config)::

        {"id": "q1", "text": "Is a tomato a fruit?", "options": ["yes", "no"], "counts": [7, 3]}

    ``target`` becomes the counts divided by their sum; ``metadata.counts`` keeps the raw counts.
    """

    def load(self, split: str | None = None) -> list[Example]:
        cfg = self.config
        path = Path(cfg.path).expanduser()
        if not path.is_file():
            raise DataError(f"item-counts dataset: {path} does not exist (config field 'path')")
        out = []
        for i, row in enumerate(read_jsonl(path, what="hlv data file"), 1):
            options = cfg.options or row.get("options")
            if not options:
                raise DataError(f"{path}:{i}: no options (set the config field 'options' or give an 'options' field)")
            if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
                raise DataError(f"{path}:{i}: field 'options' must be a list of option strings, got {options!r}")
            missing = [f for f in cfg.input_fields + [cfg.counts_field] if f not in row]
            if missing:
                raise DataError(f"{path}:{i}: missing field(s) {', '.join(missing)}")
            counts = row[cfg.counts_field]
            target = _distribution(counts, path, i, cfg.counts_field, len(options))
            ident = str(row[cfg.id_field]) if cfg.id_field and cfg.id_field in row else f"{i:05d}"
            inputs = {f: row[f] for f in cfg.input_fields}
            out.append(Example(ident, {**inputs, "options": list(options)}, target, {"counts": counts}))
        return out


class ChaosNLIDataset(Dataset):
    """ChaosNLI-MNLI human label distributions (~100 crowd labels per item), option order
    [entailment, neutral, contradiction]. Splits: ``dev``/``test`` (629 items each), ``varierr``
    (341 items that VariErr re-annotated, with VariErr label counts, the 5 original MNLI labels
    and the VariErr annotators' explanations in ``metadata``), ``sample`` (the packaged
    self-written sample). **Licence: CC BY-NC 4.0, non-commercial use only.**"""

    dataset_id = "chaosnli-mnli"
    revision = "mainlp/MJD-Estimator@a939ed0892c7007d946ba286e691dc797e3a8fb0"
    license = CHAOSNLI_LICENSE
    source = ""

    def splits(self) -> list[str]:
        return ["dev", "test", "varierr", "sample"]

    def folder(self, split: str) -> tuple[Path, str]:
        if split == "sample":
            return SAMPLE, "chaosnli_sample.jsonl"
        name = {"dev": "dev.json", "test": "test.json", "varierr": "NLI_explanations.json"}[split]
        folder, is_sample = data_path(self.config.data_dir, "hlv/mjd-chaosnli", marker=name, sample=SAMPLE,
                                      what="chaosnli")
        return folder, ("chaosnli_sample.jsonl" if is_sample else name)

    def load(self, split: str | None = None) -> list[Example]:
        split = split or self.config.split
        if split not in self.splits():
            raise DataError(f"chaosnli: unknown split {split!r}; choose one of {', '.join(self.splits())}")
        folder, name = self.folder(split)
        path = folder / name
        self.source = str(path)
        # The shipped sample is self-written text: its record must not claim ChaosNLI's id and
        # revision, or a sample run would look like a run on the real data to anyone reading it.
        used_sample = name.startswith("chaosnli_sample")
        self.dataset_id = "chaosnli-sample" if used_sample else type(self).dataset_id
        self.revision = None if used_sample else type(self).revision
        out = []
        for i, row in enumerate(read_jsonl(path, what="hlv data file"), 1):
            for f in ("premise", "hypothesis"):
                if not isinstance(row.get(f), str):
                    raise DataError(f"{path}:{i}: field {f!r} missing or not a string")
            inputs = {"premise": row["premise"], "hypothesis": row["hypothesis"], "options": list(NLI_OPTIONS)}
            if "chaos probs" in row:  # the VariErr subset
                target = _distribution(row["chaos probs"], path, i, "chaos probs", 3)
                mnli_label, mnli_counts = row.get("mnli labels", [None, None])
                meta = {
                    "source": "chaosnli-mnli/varierr",
                    "mnli_label": _LETTER.get(mnli_label, mnli_label),
                    "mnli_counts": mnli_counts,
                    "varierr_counts": row.get("varierr labels"),
                    "explanations": [{"text": t, "label": _LETTER.get(lab, lab)} for t, lab in row.get("comments", [])],
                }
            else:
                target = _distribution(row.get("label"), path, i, "label", 3)
                meta = {"source": "sample" if name.startswith("chaosnli_sample") else "chaosnli-mnli"}
            out.append(Example(f"{split if name != 'chaosnli_sample.jsonl' else 'sample'}-{i - 1:04d}", inputs, target, meta))
        return out


def uniform_target(k: int) -> list[float]:
    return [1.0 / k] * k
