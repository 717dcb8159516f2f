"""CLaS-Bench data: parallel questions, one ``Example`` per (question, language).

Published layout (the CLaS-Bench release): one UTF-8 file per language, one question per line,
line i the same question in every language. Readable from a local folder or a URL (files are
fetched into the plurieval cache once). Also: any ``datasets``-loadable table (wide: one column
per language; long: id/language/question rows), and CLaS-style sets built from parallel corpora
under ``PLURIEVAL_DATA_DIR`` (PolyRefuse harmless prompts, 13 languages; MGSM, 11 languages).

Splits are made over *question indices* (seeded shuffle → train/dev/test), so the translations
of one question are always in the same split: directions are fitted on train questions, the
layer/α sweep is scored on dev questions, and numbers are reported on test questions.

Example: ``id = "q{index}.{lang}"``, ``input`` = the question, ``metadata = {"language", "qid",
"split"}``; ``target`` = None (CLaS-Bench has no reference answers; J is judged).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import random
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

from plurieval.api import DataError, Dataset, Example, PluriError

from .config import ClasDatasetConfig, HFParallelConfig, ParallelCorpusConfig, SplitConfig

SAMPLE_DIR = Path(__file__).resolve().parent / "data" / "sample"
SPLITS = ("train", "dev", "test")


def split_indices(n: int, cfg: SplitConfig) -> dict[str, list[int]]:
    """Seeded shuffle of question indices, then train/dev/test by the configured shares."""
    if cfg.train + cfg.dev >= 1:
        raise PluriError(f"split shares train={cfg.train} + dev={cfg.dev} leave no test questions")
    order = list(range(n))
    random.Random(cfg.seed).shuffle(order)
    n_train, n_dev = round(n * cfg.train), round(n * cfg.dev)
    return {"train": sorted(order[:n_train]), "dev": sorted(order[n_train:n_train + n_dev]),
            "test": sorted(order[n_train + n_dev:])}


def check_parallel(table: Mapping[str, Sequence[str]], where: Mapping[str, str]) -> None:
    """Every language must have the same number of non-empty questions."""
    counts = {lang: len(qs) for lang, qs in table.items()}
    if len(set(counts.values())) > 1:
        raise DataError("parallel files differ in length (line i must be the same question in every language): "
                        + ", ".join(f"{where.get(k, k)}: {v} lines" for k, v in sorted(counts.items())))


def read_question_file(path: Path | str, text: str | None = None) -> list[str]:
    """One question per line. Empty lines, tabs (a TSV pasted by mistake) and undecodable bytes
    are errors naming the file and line: a silently shifted line breaks parallelism."""
    if text is None:
        raw = Path(path).read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            line = raw[:err.start].count(b"\n") + 1
            raise DataError(f"{path}:{line}: not valid UTF-8 ({err.reason})") from None
    lines = text.removeprefix("\ufeff").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    out = []
    for i, line in enumerate(lines, 1):
        line = line.rstrip("\r")
        if not line.strip():
            raise DataError(f"{path}:{i}: empty line; each line must hold one question (line i parallel across languages)")
        if "\t" in line:
            raise DataError(f"{path}:{i}: contains a tab; the published layout is one plain question per line")
        out.append(line.strip())
    if not out:
        raise DataError(f"{path}: no questions")
    return out


def _fetch(url: str) -> str:
    """Download a file once into the plurieval cache and return its text."""
    from plurieval.api import download

    path = download(url, "clasbench")
    assert path is not None  # missing_ok is off: a failure raises
    return path.read_bytes().decode("utf-8")


class ParallelDataset(Dataset):
    """Shared machinery: subclasses implement ``table()`` → ``{lang: [questions]}``."""

    def table(self) -> dict[str, list[str]]:
        raise NotImplementedError

    def splits(self) -> list[str]:
        return list(SPLITS)

    def _table(self) -> dict[str, list[str]]:
        if not hasattr(self, "_cached_table"):
            table = self.table()
            wanted = getattr(self.config, "languages", None)
            if wanted:
                missing = [lang for lang in wanted if lang not in table]
                if missing:
                    raise PluriError(f"{self.config.id}: no questions for language(s) {missing}; available: {sorted(table)}")
                table = {lang: table[lang] for lang in wanted}
            self._cached_table = table
        return self._cached_table

    @property
    def languages(self) -> list[str]:
        return sorted(self._table())

    def load(self, split: str | None = None) -> list[Example]:
        table = self._table()
        n = len(next(iter(table.values())))
        if split is None or split == "all":
            chosen = [(i, s) for s, idx in split_indices(n, self.config.splits).items() for i in idx]
        elif split in SPLITS:
            chosen = [(i, split) for i in split_indices(n, self.config.splits)[split]]
        else:
            raise PluriError(f"{self.config.id}: unknown split {split!r}; choose train, dev, test or all")
        return [Example(id=f"q{i}.{lang}", input=table[lang][i], metadata={"language": lang, "qid": i, "split": s})
                for lang in sorted(table) for i, s in sorted(chosen)]


class ClasDataset(ParallelDataset):
    """Published layout from a folder or URL; default: the sample shipped with the plugin
    (32 simple questions in 10 languages, written for plurieval; Apache-2.0)."""

    def __init__(self, config: ClasDatasetConfig):
        super().__init__(config)
        # The shipped sample is named by package, not by where this checkout happens to live.
        self.source = config.source or "plurieval_clasbench:data/sample"
        self.license = "Apache-2.0 (plurieval sample)" if config.source is None else None

    def table(self) -> dict[str, list[str]]:
        cfg = self.config
        source = cfg.source or str(SAMPLE_DIR)
        is_url = urllib.parse.urlparse(source).scheme in ("http", "https")
        if is_url:
            if not cfg.languages:
                raise PluriError(f"{source}: a URL cannot be listed; give languages=... explicitly")
            base = source if source.endswith("/") else source + "/"
            texts = {lang: (base + cfg.file_pattern.format(lang=lang)) for lang in cfg.languages}
            table = {lang: read_question_file(url, _fetch(url)) for lang, url in texts.items()}
            check_parallel(table, texts)
            return table
        folder = Path(source).expanduser()
        if not folder.is_dir():
            raise PluriError(f"CLaS-Bench source folder {str(folder)!r} does not exist")
        if cfg.languages:
            paths = {lang: folder / cfg.file_pattern.format(lang=lang) for lang in cfg.languages}
            missing = [str(p) for p in paths.values() if not p.is_file()]
            if missing:
                raise PluriError(f"missing question file(s): {', '.join(missing)}")
        else:
            prefix, _, suffix = cfg.file_pattern.partition("{lang}")
            paths = {p.name[len(prefix):len(p.name) - len(suffix)]: p
                     for p in sorted(folder.glob(cfg.file_pattern.format(lang="*")))}
            if not paths:
                raise PluriError(f"no files matching {cfg.file_pattern!r} in {folder}")
        table = {lang: read_question_file(p) for lang, p in paths.items()}
        check_parallel(table, {k: str(v) for k, v in paths.items()})
        return table


class HFParallelDataset(ParallelDataset):
    """Any ``datasets.load_dataset`` source (json/csv/parquet files work offline)."""

    def __init__(self, config: HFParallelConfig):
        super().__init__(config)
        self.source = f"{config.path}:{config.data_files or ''}"

    def table(self) -> dict[str, list[str]]:
        from datasets import load_dataset

        cfg = self.config
        ds = load_dataset(cfg.path, data_files=cfg.data_files, split=cfg.split, revision=cfg.revision)
        where = f"{cfg.path} {cfg.data_files or ''}".strip()
        if cfg.layout == "wide":
            langs = cfg.languages or [c for c in ds.column_names if c != cfg.id_column]
            table: dict[str, list[str]] = {lang: [] for lang in langs}
            for row_no, row in enumerate(ds, 1):
                for lang in langs:
                    value = row.get(lang)
                    if not isinstance(value, str) or not value.strip():
                        raise DataError(f"{where}: row {row_no}: column {lang!r} is empty or not text ({value!r})")
                    table[lang].append(value.strip())
            return table
        rows: dict[str, dict[str, str]] = {}
        for row_no, row in enumerate(ds, 1):
            for col in (cfg.id_column, cfg.language_column, cfg.text_column):
                if row.get(col) in (None, ""):
                    raise DataError(f"{where}: row {row_no}: missing {col!r}")
            rows.setdefault(row[cfg.language_column], {})[str(row[cfg.id_column])] = str(row[cfg.text_column]).strip()
        ids = sorted(set().union(*(set(v) for v in rows.values())))
        for lang, by_id in rows.items():
            missing = [i for i in ids if i not in by_id]
            if missing:
                raise DataError(f"{where}: language {lang!r} lacks question id(s) {missing[:5]}; the set must be parallel")
        return {lang: [by_id[i] for i in ids] for lang, by_id in rows.items()}


def data_dir() -> Path:
    value = os.environ.get("PLURIEVAL_DATA_DIR")
    if not value:
        raise PluriError("set PLURIEVAL_DATA_DIR to the shared data folder (or give root=...)")
    return Path(value)


class ParallelCorpusDataset(ParallelDataset):
    """CLaS-style questions from a parallel corpus.

    - ``polyrefuse-harmless``: PolyRefuse harmless test prompts (Alpaca instructions, Google-
      translated; 500 × ar de en es fr it ja ko nl pl ru th yo). **CC BY-NC 4.0 upstream
      (Alpaca): non-commercial use only**, although the PolyRefuse repository is Apache-2.0.
    - ``mgsm``: MGSM math word problems (250 × bn de en es fr ja ru sw te th zh), CC BY 4.0.
    """

    FOLDERS = {"polyrefuse-harmless": "polyrefuse", "mgsm": "parallel-questions/mgsm"}
    LICENSES = {"polyrefuse-harmless": "CC BY-NC 4.0 (Alpaca instructions; non-commercial) / Apache-2.0 (PolyRefuse)",
                "mgsm": "CC BY 4.0"}

    def __init__(self, config: ParallelCorpusConfig):
        super().__init__(config)
        self.license = self.LICENSES[config.corpus]

    @property
    def root(self) -> Path:
        root = Path(self.config.root) if self.config.root else data_dir() / self.FOLDERS[self.config.corpus]
        if not root.is_dir():
            raise PluriError(f"{self.config.corpus}: folder {str(root)!r} not found (set PLURIEVAL_DATA_DIR or root=...)")
        self.source = str(root)
        return root

    def table(self) -> dict[str, list[str]]:
        root = self.root
        table: dict[str, list[str]] = {}
        where: dict[str, str] = {}
        if self.config.corpus == "polyrefuse-harmless":
            for path in sorted(root.glob("harmless_test_translated_*.json")):
                lang = path.stem.rsplit("_", 1)[-1]
                try:
                    rows = json.loads(path.read_text(encoding="utf-8"))
                except json.JSONDecodeError as err:
                    raise DataError(f"{path}:{err.lineno}: not valid JSON ({err.msg})") from None
                qs = []
                for i, row in enumerate(rows, 1):
                    text = row.get("instruction_translated") if isinstance(row, dict) else None
                    if not isinstance(text, str) or not text.strip():
                        raise DataError(f"{path}: row {i}: missing 'instruction_translated'")
                    qs.append(" ".join(text.split()))
                table[lang], where[lang] = qs, str(path)
        else:
            for path in sorted(root.glob("mgsm_*.tsv")):
                lang = path.stem.split("_", 1)[1]
                qs = []
                with open(path, encoding="utf-8", newline="") as f:
                    for i, row in enumerate(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE), 1):
                        if len(row) != 2 or not row[0].strip():
                            raise DataError(f"{path}:{i}: expected 'question<TAB>answer', got {len(row)} field(s)")
                        qs.append(row[0].strip())
                table[lang], where[lang] = qs, str(path)
        if not table:
            raise PluriError(f"{self.config.corpus}: no files found in {root}")
        check_parallel(table, where)
        if self.config.max_questions:
            table = {k: v[: self.config.max_questions] for k, v in table.items()}
        return table


def load_questions(dataset: ParallelDataset, split: str) -> dict[str, list[Example]]:
    """Examples of one split grouped by language."""
    out: dict[str, list[Example]] = {}
    for ex in dataset.load(split):
        out.setdefault(ex.metadata["language"], []).append(ex)
    return out


def dataset_fingerprint(table: Mapping[str, Sequence[str]]) -> str:
    return hashlib.sha256(json.dumps(table, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


__all__ = ["ClasDataset", "HFParallelDataset", "ParallelCorpusDataset", "load_questions", "read_question_file",
           "split_indices"]
