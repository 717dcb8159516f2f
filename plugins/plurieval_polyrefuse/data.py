"""PolyRefuse loader: harmful and harmless prompts in 14 languages, train/val/test.

Data: Wang, Wang, Liu, Schuetze, Plank, "Refusal Direction is Universal Across Safety-Aligned
Languages" (NeurIPS 2025), https://github.com/mainlp/Multilingual-Refusal (Apache-2.0). The
harmless prompts are Alpaca instructions (tatsu-lab/alpaca, **CC BY-NC 4.0**): they carry a
non-commercial condition upstream even though the repository is Apache-2.0. The harmful prompts
come from AdvBench, TDC2023, MaliciousInstruct, HarmBench, JailbreakBench and StrongREJECT. The
translations are Google Translate output, not human-verified.

Layout (as released, and as copied into the shared folder):

- test: ``{kind}_test_translated_{lang}.json``; the prompt is ``instruction_translated`` and
  ``instruction`` is the English original (English files carry only ``instruction``);
- train/val: ``{kind}_{split}_translated_{lang}.json``, where ``instruction`` already holds the
  *translated* prompt; English train/val are the source splits of the original repository
  (``dataset/splits/``, copied to ``en_source_splits/`` in the shared folder);
- gaps: there is no Chinese harmless test file.

A missing file is reported, not fatal: :meth:`PolyRefuse.coverage` lists which
(language, split, kind) files exist, and :meth:`PolyRefuse.prompts` raises a ``DataError``
naming the file only when a caller *requires* it (``required=False`` returns ``None``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from plurieval.api import DataError, Dataset, Example, file_hash
from plurieval_polyrefuse.config import LANGUAGES, REPO_URL, PolyRefuseDataConfig

SPLITS = ("train", "val", "test")
KINDS = ("harmful", "harmless")
SAMPLE_DIR = Path(__file__).parent / "data" / "sample"
LICENSE = "Apache-2.0 (repository); harmless prompts from Alpaca: CC BY-NC 4.0 (non-commercial)"
CITATION = (
    "Wang, Wang, Liu, Schuetze, Plank. Refusal Direction is Universal Across Safety-Aligned Languages. "
    "NeurIPS 2025. https://github.com/mainlp/Multilingual-Refusal"
)

_EN_SOURCE = {
    ("harmful", "train"): "harmful_train.json",
    ("harmful", "val"): "harmful_val.json",
    ("harmless", "train"): "harmless_train_200_sampled.json",
    ("harmless", "val"): "harmless_val_200_sampled.json",
}


def relative_path(lang: str, split: str, kind: str, *, repository: bool = False) -> str:
    """Path of one file inside the shared folder (``repository=False``) or the original
    repository (``repository=True``, where PolyRefuse files sit under ``PolyRefuse/`` and the
    English train/val splits under ``dataset/splits/``)."""
    if split not in SPLITS or kind not in KINDS:
        raise ValueError(f"split must be one of {SPLITS} and kind one of {KINDS}, got {split!r}, {kind!r}")
    if lang == "en" and split != "test":
        folder = "dataset/splits" if repository else "en_source_splits"
        return f"{folder}/{_EN_SOURCE[(kind, split)]}"
    name = f"{kind}_{split}_translated_{lang}.json"
    return f"PolyRefuse/{name}" if repository else name


def default_source() -> str:
    """``$PLURIEVAL_DATA_DIR/polyrefuse`` when that folder exists, else the shipped sample."""
    root = os.environ.get("PLURIEVAL_DATA_DIR")
    if root and (Path(root) / "polyrefuse").is_dir():
        return str(Path(root) / "polyrefuse")
    return "sample"


@dataclass
class Prompts:
    """The prompts of one (language, split, kind) file plus where they came from."""

    lang: str
    split: str
    kind: str
    texts: list[str]
    english: list[str | None]
    categories: list[str | None]
    location: str
    sha256: str


class PolyRefuseSource:
    """Reads the layout from a folder, the shipped sample, or the original repository URL.

    URL files are downloaded once into ``<cache>/polyrefuse/<commit-or-host>/`` (the cache dir is
    ``$PLURIEVAL_CACHE_DIR``, else ``~/.cache/plurieval``); a 404 counts as a missing file.
    """

    def __init__(self, source: str | None = None):
        source = source or default_source()
        if source == "github":
            source = REPO_URL
        self.source = source
        self.is_url = source.startswith(("http://", "https://"))
        if source == "sample":
            self.root: Path | None = SAMPLE_DIR
        elif self.is_url:
            self.root = None
        else:
            self.root = Path(source).expanduser()
            if not self.root.is_dir():
                raise DataError(
                    f"PolyRefuse source folder {str(self.root)!r} does not exist; point 'source' (or "
                    "$PLURIEVAL_DATA_DIR, which must contain polyrefuse/) at the shared copy, use "
                    f"source='github' to read {REPO_URL}, or source='sample'"
                )
        self._missing: set[str] = set()

    # --- files ------------------------------------------------------------------------------

    def location(self, lang: str, split: str, kind: str) -> str:
        if self.is_url:
            return f"{self.source.rstrip('/')}/{relative_path(lang, split, kind, repository=True)}"
        assert self.root is not None
        return str(self.root / relative_path(lang, split, kind))

    def exists(self, lang: str, split: str, kind: str) -> bool:
        if not self.is_url:
            return Path(self.location(lang, split, kind)).is_file()
        return self._fetch(self.location(lang, split, kind)) is not None

    def _fetch(self, url: str) -> Path | None:
        """Download ``url`` into the cache once; ``None`` when the server says it is not there."""
        from plurieval.api import download

        if url in self._missing:
            return None
        path = download(url, "polyrefuse", missing_ok=True)
        if path is None:
            self._missing.add(url)
        return path

    def coverage(self, languages: list[str] | tuple[str, ...] = LANGUAGES) -> dict[str, Any]:
        """Which (language, split, kind) files exist: ``{"present": [...], "missing": [...]}``,
        each entry ``"lang/split/kind"``."""
        present, missing = [], []
        for lang in languages:
            for split in SPLITS:
                for kind in KINDS:
                    (present if self.exists(lang, split, kind) else missing).append(f"{lang}/{split}/{kind}")
        return {"present": present, "missing": missing}

    # --- prompts ----------------------------------------------------------------------------

    def prompts(self, lang: str, split: str, kind: str, *, required: bool = True) -> Prompts | None:
        """The prompts of one file. Missing file: ``DataError`` if ``required``, else ``None``."""
        if lang not in LANGUAGES:
            raise DataError(f"unknown PolyRefuse language {lang!r}; known: {', '.join(LANGUAGES)}")
        where = self.location(lang, split, kind)
        path = self._fetch(where) if self.is_url else Path(where)
        if path is None or not path.is_file():
            if required:
                raise DataError(
                    f"PolyRefuse has no {kind} {split} prompts for {lang!r}: {where} is missing "
                    f"(known gap of the release: zh/test/harmless); drop {lang!r} from 'languages' or supply the file"
                )
            return None
        try:
            rows = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise DataError(f"{where} is not valid JSON: {err}") from None
        except RecursionError:
            raise DataError(f"{where} is nested too deeply to be a prompt file") from None
        if not isinstance(rows, list):
            raise DataError(f"{where}: expected a JSON array of objects, got {type(rows).__name__}")
        if not rows:
            raise DataError(f"{where} holds no prompts (an empty array)")
        texts, english, categories = [], [], []
        # Test files keep the English original in 'instruction' and the prompt in
        # 'instruction_translated' (absent for English); train/val files hold the translated
        # prompt in 'instruction' itself.
        field = "instruction_translated" if split == "test" and lang != "en" else "instruction"
        for i, row in enumerate(rows):
            if not isinstance(row, dict) or not isinstance(row.get(field), str) or not row[field].strip():
                raise DataError(f"{where}: row {i} has no text in field {field!r}")
            texts.append(row[field].strip())
            english.append(row.get("instruction") if split == "test" else (row["instruction"] if lang == "en" else None))
            categories.append(row.get("category"))
        return Prompts(lang, split, kind, texts, english, categories, where, file_hash(path))


class PolyRefuse(Dataset[PolyRefuseDataConfig]):
    """PolyRefuse as ``Example``s: ``input`` = prompt, ``target`` = "harmful"/"harmless",
    ``metadata`` = {lang, split, kind, english, category}. Missing files are skipped and listed
    in ``self.missing`` (a language with no file at all for a split raises)."""

    dataset_id = "polyrefuse"
    revision = REPO_URL.rsplit("/", 1)[-1]
    license = LICENSE

    def __init__(self, config: PolyRefuseDataConfig):
        super().__init__(config)
        self.src = PolyRefuseSource(config.source)
        self.source = self.src.source
        self.missing: list[str] = []

    def splits(self) -> list[str]:
        return list(SPLITS)

    def load(self, split: str | None = None) -> list[Example]:
        split = split or "test"
        kinds = KINDS if self.config.kind == "both" else (self.config.kind,)
        out: list[Example] = []
        for lang in self.config.languages:
            got = 0
            for kind in kinds:
                p = self.src.prompts(lang, split, kind, required=False)
                if p is None:
                    self.missing.append(f"{lang}/{split}/{kind}")
                    continue
                got += 1
                for i, text in enumerate(p.texts):
                    out.append(Example(
                        id=f"{lang}-{split}-{kind}-{i}", input=text, target=kind,
                        metadata={"lang": lang, "split": split, "kind": kind,
                                  "english": p.english[i], "category": p.categories[i]},
                    ))
            if not got:
                raise DataError(f"PolyRefuse has no {split} files for {lang!r} at {self.src.source}")
        return out


def make_dataset(config: PolyRefuseDataConfig) -> PolyRefuse:
    return PolyRefuse(config)
