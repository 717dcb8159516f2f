"""A steering run split into its units, each a task of its own, merged into one run directory.

Core's steering loop structures a run as plan → baseline → independent units → merge →
summary, and a unit's records depend only on the run config and seed. A sweep whose executor
runs several tasks at once uses that (``executor.split``: ``auto``, the default, splits when
the executor has more than one slot; ``units`` always; ``runs`` never):

1. the **baseline part** (task ``RUN-ID/baseline``): plans the run, extracts the activations
   (stored where later tasks on a shared file system find them), generates and scores the
   unsteered baselines, and reports the plan's unit names;
2. one **unit part** per unit (``RUN-ID/UNIT``), all at once: fit, select, test;
3. the **merge** (task ``RUN-ID``): the ordinary run, started with every part's records (rows,
   unit choices) in its run directory, so it resumes: nothing is generated again, each unit's
   choice is taken as saved; it saves the chosen interventions, measures side effects and
   writes the summary. Its ``summary.json`` metrics are byte for byte the unsplit run's.

Parts are ordinary runs of the same config (same run id) in a directory of their own,
``OUTPUT/.plurieval-parts/RUN-ID/PART/RUN-ID/`` (on the worker, then sent back, when the worker
cannot see the output folder); a part whose worker died resumes like any run, a part already
finished is reused when the sweep starts again, and the folder is removed once the run is
merged. Parts run with tracking off: the merged run is the one tracked.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from plurieval.errors import PluriError
from plurieval.hashing import content_hash, short

PARTS_DIR = ".plurieval-parts"
BASELINE = "baseline"
# What a part contributes to the merged run: its rows and its units' choices. Artifacts and
# plots are made again by the merge from those (the chosen interventions are refitted exactly).
RECORD_FILES = re.compile(r"^(results\.jsonl|conditions/[A-Za-z0-9_-]+\.jsonl|units/[^/]+\.json)$")


def part_slug(part: str) -> str:
    """A folder name for a part (unit names are the benchmark's; keep them file-system safe)."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", part).strip("-.") or "unit"
    return slug if slug == part else f"{slug}-{short(content_hash(part), 6)}"


def part_root(base: Path, run_id: str, part: str) -> Path:
    """Where a part's run directory (``<root>/<run-id>``) lives under ``base``."""
    return Path(base) / PARTS_DIR / run_id / part_slug(part)


def is_steering(config: Any, host: Any) -> bool:
    """Whether the run's benchmark goes through core's steering loop (and so has units)."""
    from plurieval.components import SteeringBenchmark
    from plurieval.specs import _resolve

    spec = host.get("benchmark", config.benchmark.name)
    try:
        factory = _resolve(spec.factory) if isinstance(spec.factory, str) else spec.factory
    except (ImportError, AttributeError):
        return False  # the worker will report the broken plugin; run it whole
    return isinstance(factory, type) and issubclass(factory, SteeringBenchmark)


def record_files(run_dir: Path) -> dict[str, bytes]:
    """The files of a part's run directory that the merge takes over."""
    if not run_dir.is_dir():
        return {}
    return {rel: p.read_bytes() for p in sorted(run_dir.rglob("*"))
            if p.is_file() and RECORD_FILES.match(rel := p.relative_to(run_dir).as_posix())}


def seed_run(run_dir: Path, seeds: list[dict[str, bytes]]) -> int:
    """Merge the parts' records into ``run_dir`` before the merge task runs it; returns the
    number of rows added. Rows are re-read with their checksums (a damaged one is dropped and
    the run computes it again), recorded in part order (the order the unsplit run records
    them), and a row or unit choice the run already has is kept. A finished run is left alone."""
    from plurieval.datafiles import atomic_write
    from plurieval.results import ResultsFile

    if (run_dir / "summary.json").exists():
        return 0
    added = 0
    targets: dict[str, ResultsFile] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="plurieval-seed-") as tmp:
            for i, files in enumerate(seeds):
                for rel, data in files.items():
                    if not RECORD_FILES.match(rel) or ".." in rel.split("/"):
                        raise PluriError(f"a part of run {run_dir.name} sent {rel!r}, which is not a record file; refused")
                    if rel.endswith(".json"):
                        try:
                            json.loads(data)
                        except ValueError:
                            continue  # a torn choice: the merge selects that unit again
                        if not (run_dir / rel).exists():
                            (run_dir / rel).parent.mkdir(parents=True, exist_ok=True)
                            atomic_write(run_dir / rel, data.decode("utf-8"))
                        continue
                    copy = Path(tmp) / str(i) / rel
                    copy.parent.mkdir(parents=True, exist_ok=True)
                    copy.write_bytes(data)
                    source = ResultsFile(copy)
                    try:
                        if rel not in targets:
                            targets[rel] = ResultsFile(run_dir / rel)
                        target = targets[rel]
                        for row in source.rows():
                            if not target.done(row["key"]):
                                target.record(row["key"], {k: v for k, v in row.items() if k != "key"})
                                added += 1
                    finally:
                        source.close()
    finally:
        for target in targets.values():
            target.close()
    return added


@dataclass
class SplitRun:
    """The driver's view of one split run: which parts are out, which are in."""

    run_id: str
    output_dir: Path
    units: list[str] | None = None  # known once the baseline part is in
    done: dict[str, bool] = field(default_factory=dict)  # part -> finished
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def parts(self) -> list[str]:
        return [BASELINE, *(self.units or [])]

    def part_dir(self, part: str) -> Path:
        return part_root(self.output_dir, self.run_id, part) / self.run_id

    def seeds(self) -> list[dict[str, bytes]]:
        return [record_files(self.part_dir(p)) for p in self.parts]

    def status(self) -> dict[str, str]:
        return {p: "failed" if p in self.errors else "complete" if self.done.get(p) else "pending"
                for p in (self.parts if self.units is not None else [BASELINE])}

    def cleanup(self) -> None:
        shutil.rmtree(Path(self.output_dir) / PARTS_DIR / self.run_id, ignore_errors=True)
        try:
            (Path(self.output_dir) / PARTS_DIR).rmdir()  # the last split run of the folder
        except OSError:
            pass


def units_of(value: dict[str, Any]) -> list[str]:
    """The unit names a baseline part reported (from its partial summary)."""
    parts = ((value or {}).get("summary") or {}).get("parts") or {}
    units = parts.get("units")
    if not isinstance(units, list) or not all(isinstance(u, str) for u in units):
        raise PluriError("the baseline part did not report the run's units (is the benchmark a steering benchmark?)")
    return units
