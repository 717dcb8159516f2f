"""Loaders for the LiTEx annotation files (e-SNLI, LiveNLI, VariErr) and the IAA files.

One example per annotated explanation::

    input  = {"premise", "hypothesis", "label", "highlights": {"premise": [...], "hypothesis": [...]} | None,
              "category": canonical category name (None if unannotated), "explanation": the human explanation}
    target = {"explanation", "references": [all explanations of the same pair and label],
              "category": category key, "categories": [keys]}   # LiveNLI rows may have several

Labels are normalised to entailment/neutral/contradiction (LiveNLI's true/either/false; its
multi-labels "true | either" become "entailment | neutral"); VariErr rows without a gold label
keep ``label=None`` (the prompt then omits it) rather than being dropped. Highlights are e-SNLI
token indices over whitespace tokens, turned into the highlighted words; the indices themselves
are kept in ``metadata["highlight_index"]`` (words repeat, indices do not).

Licence: LiTEx annotations Apache-2.0; texts from e-SNLI (MIT), LiveNLI and VariErr NLI (MNLI).
"""

from __future__ import annotations

import ast
import math
from pathlib import Path
from typing import Any

from plurieval.api import DataError, Dataset, Example, data_path, read_jsonl
from plurieval_litex.taxonomy import TAXONOMY

FILES = {
    "esnli": "esnli/annotations_esnli.jsonl",
    "livenli": "livenli/annotations_livenli.jsonl",
    "varierr": "varierr/annotations_varierr.jsonl",
}
SAMPLE = Path(__file__).parent / "data"
_LIVENLI = {"true": "entailment", "either": "neutral", "false": "contradiction"}
_NLI = {"entailment", "neutral", "contradiction"}
LICENSE = "Apache-2.0 (LiTEx annotations); texts from e-SNLI (MIT), LiveNLI, VariErr NLI (MNLI)"


def read_rows(path: Path) -> list[dict[str, Any]]:
    """JSONL rows (``read_jsonl``: an empty, undecodable or malformed file is a ``DataError``
    naming it); the e-SNLI files write a bare ``NaN`` for empty notes, which Python's json
    accepts (it becomes float nan and is cleaned to None)."""
    return [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
            for row in read_jsonl(path, what="litex file")]


def normalize_label(value: Any, where: str) -> str | None:
    if value is None or value == "":
        return None
    parts = [p.strip().strip("】").strip() for p in str(value).split("|")]
    out = []
    for p in parts:
        lab = _LIVENLI.get(p.lower(), p.lower())
        if lab not in _NLI:
            raise DataError(f"{where}: unknown gold label {value!r}")
        out.append(lab)
    return " | ".join(out)


def highlight_indices(spec: Any) -> list[int]:
    """The e-SNLI highlight indices ("3,6,4,5" → [3, 4, 5, 6]; "{}" = none)."""
    if spec in (None, "", "{}"):
        return []
    return sorted({int(i) for i in str(spec).split(",") if i.strip()})


def highlighted(text: str, spec: Any) -> list[str]:
    """Words of ``text`` (whitespace tokens) at the e-SNLI highlight indices ("3,6,4,5"; "{}" = none)."""
    tokens = text.split()
    return [tokens[i] for i in highlight_indices(spec) if 0 <= i < len(tokens)]


def categories_of(row: dict[str, Any], where: str) -> list[str]:
    raw = row.get("explanation_category")
    if raw == []:  # one LiveNLI row was left unannotated: kept, with no category (label metrics skip it)
        return []
    values = raw if isinstance(raw, list) else [raw]
    if any(v is None for v in values):
        raise DataError(f"{where}: missing explanation_category")
    try:
        return [TAXONOMY.key(v) for v in values]
    except DataError as err:
        raise DataError(f"{where}: {err}") from None


def steps_of(row: dict[str, Any]) -> list[dict[str, Any]]:
    """``selected_steps`` is a Python-repr string in the e-SNLI files and a real list elsewhere."""
    steps = row.get("selected_steps") or []
    if isinstance(steps, str):
        steps = ast.literal_eval(steps)  # literal_eval: data only, never code
    return list(steps)


def load_source(folder: Path, source: str, relpath: str) -> list[Example]:
    path = folder / relpath
    if not path.is_file():
        raise DataError(f"litex: {path} does not exist")
    rows = read_rows(path)
    parsed = []
    for i, row in enumerate(rows):
        where = f"{path}:{i + 1}"
        for f in ("premise", "hypothesis", "explanation"):
            if not isinstance(row.get(f), str):
                raise DataError(f"{where}: field {f!r} missing or not a string")
        cats = categories_of(row, where)
        label = normalize_label(row.get("gold_label"), where)
        hl = hl_index = None
        if "Sentence1_Highlighted" in row:
            hl = {"premise": highlighted(row["premise"], row.get("Sentence1_Highlighted")),
                  "hypothesis": highlighted(row["hypothesis"], row.get("Sentence2_Highlighted"))}
            hl_index = {"premise": highlight_indices(row.get("Sentence1_Highlighted")),
                        "hypothesis": highlight_indices(row.get("Sentence2_Highlighted"))}
        parsed.append((i, row, cats, label, hl, hl_index))
    groups: dict[tuple[str, str | None], list[str]] = {}
    for _, row, _, label, _, _ in parsed:
        groups.setdefault((str(row.get("pairID")), label), []).append(row["explanation"].strip())
    out = []
    for i, row, cats, label, hl, hl_index in parsed:
        refs = groups[(str(row.get("pairID")), label)]
        out.append(Example(
            id=f"{source}-{i:05d}",
            input={"premise": row["premise"], "hypothesis": row["hypothesis"], "label": label, "highlights": hl,
                   "category": TAXONOMY.get(cats[0]).name if cats else None,
                   "explanation": row["explanation"].strip()},
            target={"explanation": row["explanation"].strip(), "references": refs, "category": cats[0] if cats else None,
                    "categories": cats},
            metadata={"source": source, "pair_id": row.get("pairID"),
                      **({"highlight_index": hl_index} if hl_index is not None else {})},
        ))
    return out


class LitexDataset(Dataset):
    """LiTEx-annotated NLI explanations (one example per explanation) from e-SNLI, LiveNLI and
    VariErr; categories normalised to the eight-category taxonomy (``plurieval_litex.taxonomy``)."""

    dataset_id = "litex"
    revision = "mainlp/LiTEx@4734196a016d16b22458f7a420335110460cb66e"
    license = LICENSE
    source = str(SAMPLE)

    def load(self, split: str | None = None) -> list[Example]:
        sources = list(self.config.sources)
        if sources == ["sample"]:
            return load_source(SAMPLE, "sample", "litex_sample.jsonl")
        folder, is_sample = data_path(self.config.data_dir, "litex", marker="SOURCE.md", sample=SAMPLE, what="litex")
        if is_sample:
            return load_source(SAMPLE, "sample", "litex_sample.jsonl")
        self.folder = folder
        self.source = str(folder)
        out: list[Example] = []
        for s in sources:
            if s == "sample":
                out += load_source(SAMPLE, "sample", "litex_sample.jsonl")
            else:
                out += load_source(folder, s, FILES[s])
        return out


def load_iaa(folder: Path) -> tuple[list[str], list[str]]:
    """Category keys of the two annotators of the 201-explanation IAA sample, in file order."""
    base = folder / "iaa" / "classification_iaa"
    pair = []
    for name in ("annotator0_iaa.jsonl", "annotator1_iaa.jsonl"):
        path = base / name
        pair.append([TAXONOMY.key(r["explanation_category"]) for r in read_rows(path)])
    if len(pair[0]) != len(pair[1]):
        raise DataError(f"{base}: the two annotator files have {len(pair[0])} and {len(pair[1])} rows")
    return pair[0], pair[1]
