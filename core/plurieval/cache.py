"""A content-addressed cache of model work: generations, activations and fitted directions.

Why content-addressed: the classic harness bug is a cache keyed on the prompt that returns
another model's (or another intervention's) outputs. Here every entry's key is the hash of
*everything that determines the value*: the model identity (weights hash or id + revision,
dtype, quantisation, device type), the intervention (a hash of its tensors and settings, or its
artifact hash), the method config, the prompt, the full generation settings (defaults filled in
from the model's signature, so passing a default explicitly or not gives the same key) and the
benchmark name + spec version. Nothing is ever looked up by prompt alone.

Storage is one SQLite file (WAL mode, so parallel runs can share it). Values are JSON or
safetensors blobs, never pickle: a cache file is data, not code. Every entry carries a checksum
(sha256 over key, kind, encoding and blob); an entry that fails it, or does not decode, is
dropped with a warning and recomputed, and a cache file SQLite cannot open is moved aside
(``cache.sqlite.corrupt-<time>``) for a fresh one. ``plurieval cache verify`` checks every
entry. Location:
``$PLURIEVAL_CACHE_DIR/cache.sqlite``, default the user cache dir
(``~/.cache/plurieval`` on Linux). ``RunConfig.cache = false`` / ``--no-cache`` turns it off.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import logging
import os
import re
import sqlite3
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from plurieval.hashing import canonical_json, content_hash

# Bump when the stored encoding or the key recipe changes: old entries then simply miss.
CACHE_FORMAT = 1
KINDS = ("generation", "activation", "direction")


def default_cache_dir() -> Path:
    from plurieval.datafiles import cache_root

    return cache_root()


# --- hashing the things a value depends on ----------------------------------------------------

def tensor_digest(t: Any) -> str:
    """sha256 over dtype, shape and the raw bytes (works for every dtype, bfloat16 included).
    A tensor subclass that stores its data in inner tensors (torchao's quantised weights, which
    have no raw bytes of their own) is hashed through them: its type, its flattening metadata
    and the digest of each inner tensor."""
    import torch

    h = hashlib.sha256(f"{t.dtype}|{tuple(t.shape)}|".encode())
    if type(t) not in (torch.Tensor, torch.nn.Parameter) and hasattr(t, "__tensor_flatten__"):
        names, meta = t.__tensor_flatten__()
        h.update(f"{type(t).__module__}.{type(t).__qualname__}|{meta!r}|".encode())
        for name in names:
            h.update(f"{name}:{tensor_digest(getattr(t, name))}|".encode())
        return "sha256:" + h.hexdigest()
    t = t.detach().cpu().contiguous()
    h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return "sha256:" + h.hexdigest()


def state_dict_digest(module: Any) -> str:
    """sha256 over every parameter and buffer (name, dtype, shape, bytes) of a torch module."""
    h = hashlib.sha256()
    for name, t in sorted(module.state_dict().items()):
        h.update(f"{name}:{tensor_digest(t)}".encode())
    return "sha256:" + h.hexdigest()


def describe_value(obj: Any, _depth: int = 0) -> Any:
    """A JSON-able description of ``obj`` in which every tensor is replaced by its digest.

    Used to key interventions: two ``AddVector`` objects with the same vector, layers and alpha
    describe (and hash) the same; a different vector or alpha does not. Objects that know their
    own identity (``digest()`` or ``content_hash()`` method) are trusted to provide it.
    """
    if _depth > 20:
        raise ValueError("value too deeply nested to describe for a cache key")
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if type(obj).__module__ == "torch" and type(obj).__name__ in ("Tensor", "Parameter"):
        return {"tensor": tensor_digest(obj)}
    if hasattr(obj, "tolist") and hasattr(obj, "dtype"):  # numpy arrays and scalars
        return {"array": content_hash(obj.tolist()), "dtype": str(obj.dtype)}
    if isinstance(obj, dict):
        return {str(k): describe_value(v, _depth + 1) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, (list, tuple)):
        return [describe_value(v, _depth + 1) for v in obj]
    if isinstance(obj, (set, frozenset)):
        return sorted(canonical_json(describe_value(v, _depth + 1)) for v in obj)
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "model_dump"):
        return {"type": type(obj).__qualname__, "config": obj.model_dump(mode="json")}
    for attr in ("digest", "content_hash"):
        fn = getattr(obj, attr, None)
        if callable(fn):
            return {"type": type(obj).__qualname__, attr: fn()}
    if callable(getattr(obj, "tensors", None)) and callable(getattr(obj, "params", None)):
        # plurieval interventions: what they compute is type + params + tensors (the card is
        # provenance only, so it stays out of the key)
        return {"type": getattr(obj, "type_name", "") or type(obj).__qualname__,
                "params": describe_value(obj.params(), _depth + 1),
                "tensors": {k: tensor_digest(v) for k, v in sorted(obj.tensors().items())}}
    if hasattr(obj, "__dict__"):
        state = {k: v for k, v in vars(obj).items() if not k.startswith("_") and not callable(v)}
        return {"type": f"{type(obj).__module__}.{type(obj).__qualname__}", "state": describe_value(state, _depth + 1)}
    raise TypeError(f"cannot describe a {type(obj).__name__} for a cache key; give it a digest() method")


def model_identity(description: dict[str, Any]) -> dict[str, Any]:
    """The parts of ``LanguageModel.describe()`` that change outputs. A weights hash, when the
    loader provides one, is the strongest identity; id + revision is the fallback."""
    device = str(description.get("device") or "")
    return {
        "id": description.get("id"),
        "revision": description.get("revision"),
        "weights_hash": description.get("weights_hash"),
        "dtype": description.get("dtype"),
        "quantization": description.get("quantization"),
        "device_type": device.split(":")[0],
        # how bfloat16 products are accumulated (plurieval.models.bf16); absent for other models
        **({"matmul": description["matmul"]} if description.get("matmul") else {}),
    }


def cache_key(kind: str, **parts: Any) -> str:
    return content_hash({"format": CACHE_FORMAT, "kind": kind, **{k: describe_value(v) for k, v in parts.items()}})


NOT_KEYED_SETTINGS = ("progress", "lanes", "share_prefix")
"""``generate`` arguments that change how a row is computed or reported, never its tokens
(decoding lanes and the shared prompt prefix are tested token for token): not in its key."""


def full_settings(fn: Callable[..., Any], settings: dict[str, Any], skip: Sequence[str]) -> dict[str, Any]:
    """``settings`` with the function's own defaults filled in, so ``max_new_tokens=64`` passed
    explicitly and left at its default give the same key."""
    out: dict[str, Any] = {}
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        params = {}
    for name, p in params.items():
        if name in skip or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.default is p.empty:
            continue
        out[name] = p.default
    out.update(settings)
    return {k: v for k, v in out.items() if k not in skip}


# --- value encodings (JSON or safetensors; never pickle) --------------------------------------

def encode_tensors(tensors: dict[str, Any]) -> bytes:
    from safetensors.torch import save

    # clone: rows of one batch tensor share storage, which safetensors refuses to write
    return save({k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()})


def decode_tensors(blob: bytes) -> dict[str, Any]:
    from safetensors.torch import load

    return load(blob)


def encode_value(value: Any) -> tuple[str, bytes]:
    """(encoding, bytes) for what ``RunContext.cached`` may store: a tensor, a dict of tensors,
    an intervention (anything with ``save(dir)`` that ``load_intervention`` reads back), or a
    JSON-able value."""
    if _is_tensor(value):
        return "tensor", encode_tensors({"value": value})
    if isinstance(value, dict) and value and all(_is_tensor(v) for v in value.values()):
        return "tensors", encode_tensors({str(k): v for k, v in value.items()})
    if callable(getattr(value, "save", None)) and not isinstance(value, (dict, list)):
        import torch

        with tempfile.TemporaryDirectory() as tmp:
            value.save(tmp)
            files = {p.relative_to(tmp).as_posix(): torch.frombuffer(bytearray(p.read_bytes()), dtype=torch.uint8)
                     for p in sorted(Path(tmp).rglob("*")) if p.is_file()}
        return "intervention", encode_tensors(files)
    return "json", canonical_json(value).encode()


class CorruptEntry(ValueError):
    """A cache entry that fails its checksum or does not decode into what it claims to be."""


_MEMBER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")


def _member_path(root: Path, rel: str) -> Path:
    """Where a stored intervention file goes: ``rel`` must be a relative path of plain names
    (no ``..``, no absolute path, no backslash, no dot-file), so a crafted entry cannot make the
    decoder write outside its temporary folder. Checked for every name before anything is written."""
    parts = rel.split("/")
    if not rel or len(parts) > 4 or not all(_MEMBER.match(p) and p not in (".", "..") for p in parts):
        raise CorruptEntry(f"stored intervention file {rel!r} is not a plain file name")
    path = (root / Path(*parts)).resolve()
    if not path.is_relative_to(root.resolve()):
        raise CorruptEntry(f"stored intervention file {rel!r} is not a plain file name")
    return path


def decode_value(encoding: str, blob: bytes) -> Any:
    if encoding == "tensor":
        return decode_tensors(blob)["value"]
    if encoding == "tensors":
        return decode_tensors(blob)
    if encoding == "intervention":
        from plurieval.models.interventions import load_intervention

        with tempfile.TemporaryDirectory() as tmp:
            files = decode_tensors(blob)
            targets = {rel: _member_path(Path(tmp), rel) for rel in files}  # every name, before any write
            for rel, data in files.items():
                targets[rel].parent.mkdir(parents=True, exist_ok=True)
                targets[rel].write_bytes(data.numpy().tobytes())
            return load_intervention(tmp)
    if encoding == "json":
        return json.loads(blob)
    raise ValueError(f"unknown cache encoding {encoding!r} (written by a newer plurieval?)")


def _is_tensor(v: Any) -> bool:
    return type(v).__module__ == "torch" and type(v).__name__ in ("Tensor", "Parameter")


def generation_to_json(g: Any) -> dict[str, Any]:
    data = dataclasses.asdict(g) if dataclasses.is_dataclass(g) else dict(vars(g))
    return json.loads(canonical_json(data))


def generation_from_json(data: dict[str, Any]) -> Any:
    from plurieval.models import Generation

    return Generation(**data)


# --- the store ----------------------------------------------------------------------------------

@dataclasses.dataclass
class CacheStats:
    hits: dict[str, int] = dataclasses.field(default_factory=dict)
    misses: dict[str, int] = dataclasses.field(default_factory=dict)

    def hit(self, kind: str, n: int = 1) -> None:
        self.hits[kind] = self.hits.get(kind, 0) + n

    def miss(self, kind: str, n: int = 1) -> None:
        self.misses[kind] = self.misses.get(kind, 0) + n

    def to_dict(self) -> dict[str, Any]:
        kinds = sorted(set(self.hits) | set(self.misses))
        return {
            "hits": sum(self.hits.values()),
            "misses": sum(self.misses.values()),
            "by_kind": {k: {"hits": self.hits.get(k, 0), "misses": self.misses.get(k, 0)} for k in kinds},
        }

    def line(self) -> str:
        d = self.to_dict()
        total = d["hits"] + d["misses"]
        if not total:
            return "cache: not used"
        parts = ", ".join(f"{k} {v['hits']}/{v['hits'] + v['misses']}" for k, v in d["by_kind"].items())
        return f"cache: {d['hits']} hits, {d['misses']} misses ({parts})"


log = logging.getLogger("plurieval")


def entry_checksum(key: str, kind: str, encoding: str, blob: bytes) -> str:
    h = hashlib.sha256(f"{key}\0{kind}\0{encoding}\0".encode())
    h.update(blob)
    return h.hexdigest()


class Cache:
    """One SQLite file of ``key -> (kind, encoding, blob, checksum)``. Safe to share between
    processes; heals itself: what fails its checksum or does not decode is dropped (a miss, so
    the value is recomputed), and a file SQLite cannot read is moved aside for a fresh one."""

    def __init__(self, directory: str | Path | None = None):
        self.directory = Path(directory) if directory else default_cache_dir()
        self.path = self.directory / "cache.sqlite"
        self.stats = CacheStats()
        self._db: sqlite3.Connection | None = None

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            try:
                self._db = self._open()
            except sqlite3.DatabaseError as err:  # not a database, or a malformed one
                self._quarantine(err)
                self._db = self._open()
        return self._db

    def _open(self) -> sqlite3.Connection:
        self.directory.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(
                "CREATE TABLE IF NOT EXISTS entries (key TEXT PRIMARY KEY, kind TEXT NOT NULL, "
                "encoding TEXT NOT NULL, value BLOB NOT NULL, size INTEGER NOT NULL, created REAL NOT NULL, "
                "checksum TEXT)"
            )
            columns = {row[1] for row in db.execute("PRAGMA table_info(entries)")}
            if "checksum" not in columns:  # a cache written before entries carried checksums
                try:
                    db.execute("ALTER TABLE entries ADD COLUMN checksum TEXT")
                except sqlite3.OperationalError as err:  # another process added it just now
                    if "duplicate column" not in str(err):
                        raise
        except BaseException:
            db.close()
            raise
        return db

    def _quarantine(self, err: Exception) -> None:
        """Move an unreadable cache file aside (kept for inspection) and start an empty one."""
        if self._db is not None:
            self._db.close()
            self._db = None
        stamp = time.strftime("%Y%m%d-%H%M%S")
        moved = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{os.getpid()}")
        for suffix in ("", "-wal", "-shm"):
            part = self.path.with_name(self.path.name + suffix)
            if part.exists():
                os.replace(part, moved.with_name(moved.name + suffix))
        log.warning("the cache file %s is corrupt (%s): moved it to %s and started an empty cache; results are "
                    "recomputed as needed (`plurieval cache clear` deletes the moved copy)", self.path, err, moved)

    def _query(self, fn: Any) -> Any:
        """Run ``fn(db)``; a database found malformed half-way is quarantined and tried once more."""
        try:
            return fn(self.db)
        except sqlite3.DatabaseError as err:
            if isinstance(err, sqlite3.OperationalError) and "locked" in str(err):
                raise
            self._quarantine(err)
            return fn(self.db)

    def _drop(self, key: str, kind: str, why: str) -> None:
        self._query(lambda db: db.execute("DELETE FROM entries WHERE key = ?", (key,)))
        log.warning("cache entry %s… (%s) is corrupt (%s): dropped it, recomputing", key[:16], kind or "?", why)

    @staticmethod
    def _problem(key: str, kind: str, encoding: str, blob: bytes, checksum: str | None) -> str | None:
        """Why a stored row cannot be trusted, or ``None``. Rows with a checksum are checked
        against it; rows from before checksums existed are decoded once to prove they can be."""
        if checksum is not None:
            return None if checksum == entry_checksum(key, kind, encoding, blob) else "checksum mismatch"
        try:
            decode_value(encoding, blob)
        except Exception as err:  # anything a broken blob makes a decoder raise
            return f"{type(err).__name__}: {err}"
        return None

    def get_many(self, keys: Sequence[str]) -> dict[str, tuple[str, bytes]]:
        """``{key: (encoding, blob)}`` of the keys present and sound; corrupt ones are dropped."""
        found: dict[str, tuple[str, bytes]] = {}
        unique = list(dict.fromkeys(keys))
        for i in range(0, len(unique), 500):  # SQLite's bound-parameter limit
            chunk = unique[i:i + 500]
            rows = self._query(lambda db, chunk=chunk: db.execute(
                f"SELECT key, kind, encoding, value, checksum FROM entries WHERE key IN ({','.join('?' * len(chunk))})",
                chunk).fetchall())
            for k, kind, enc, v, checksum in rows:
                blob = bytes(v)
                why = self._problem(k, kind, enc, blob, checksum)
                if why is None:
                    found[k] = (enc, blob)
                else:
                    self._drop(k, kind, why)
        return found

    def put_many(self, items: Sequence[tuple[str, str, str, bytes]]) -> None:
        """Store ``(key, kind, encoding, blob)`` entries in one transaction."""
        if not items:
            return
        now = time.time()
        rows = [(k, kind, enc, sqlite3.Binary(b), len(b), now, entry_checksum(k, kind, enc, b))
                for k, kind, enc, b in items]

        def write(db: sqlite3.Connection) -> None:
            with db:  # one transaction: a killed process leaves all or none of the batch
                db.execute("BEGIN")
                db.executemany("INSERT OR REPLACE INTO entries (key, kind, encoding, value, size, created, checksum) "
                               "VALUES (?,?,?,?,?,?,?)", rows)

        self._query(write)

    def get(self, kind: str, key: str) -> Any:
        """The decoded value, or ``None`` on a miss (counted in ``stats``); an entry that does
        not decode is dropped and counts as a miss."""
        row = self.get_many([key]).get(key)
        value = None
        if row is not None:
            try:
                value = decode_value(*row)
            except Exception as err:  # a blob whose checksum is right but whose content lies
                self._drop(key, kind, f"{type(err).__name__}: {err}")
        if value is None:
            self.stats.miss(kind)
            return None
        self.stats.hit(kind)
        return value

    def put(self, kind: str, key: str, value: Any) -> None:
        enc, blob = encode_value(value)
        self.put_many([(key, kind, enc, blob)])

    def info(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": str(self.path), "exists": self.path.exists(), "entries": 0, "bytes": 0,
                               "by_kind": {}}
        if not self.path.exists():
            return out
        rows = self._query(lambda db: db.execute(
            "SELECT kind, COUNT(*), COALESCE(SUM(size),0) FROM entries GROUP BY kind").fetchall())
        for kind, n, size in rows:
            out["by_kind"][kind] = {"entries": n, "bytes": size}
            out["entries"] += n
            out["bytes"] += size
        return out

    def verify(self, repair: bool = False) -> dict[str, Any]:
        """Check every entry: its checksum and that it decodes. ``repair`` drops the corrupt
        ones and adds checksums to sound entries written before checksums existed."""
        report: dict[str, Any] = {"path": str(self.path), "ok": 0, "corrupt": 0, "unchecked_before": 0,
                                  "dropped": 0, "problems": []}
        if not self.path.exists():
            return report
        integrity = self._query(lambda db: db.execute("PRAGMA quick_check").fetchone()[0])
        if integrity != "ok":
            report["problems"].append(f"sqlite: {integrity}")
        keys = [k for (k,) in self._query(lambda db: db.execute("SELECT key FROM entries").fetchall())]
        for key in keys:
            row = self._query(lambda db, key=key: db.execute(
                "SELECT kind, encoding, value, checksum FROM entries WHERE key = ?", (key,)).fetchone())
            if row is None:
                continue
            kind, enc, v, checksum = row
            blob = bytes(v)
            why = None if checksum is None else self._problem(key, kind, enc, blob, checksum)
            if why is None:
                try:
                    decode_value(enc, blob)
                except Exception as err:
                    why = f"{type(err).__name__}: {err}"
            if why is None:
                report["ok"] += 1
                if checksum is None:
                    report["unchecked_before"] += 1
                    if repair:
                        self._query(lambda db, key=key, kind=kind, enc=enc, blob=blob: db.execute(
                            "UPDATE entries SET checksum = ? WHERE key = ?",
                            (entry_checksum(key, kind, enc, blob), key)))
                continue
            report["corrupt"] += 1
            report["problems"].append(f"{kind} entry {key[:16]}…: {why}")
            if repair:
                self._query(lambda db, key=key: db.execute("DELETE FROM entries WHERE key = ?", (key,)))
                report["dropped"] += 1
        return report

    def clear(self, kind: str | None = None) -> int:
        if kind is None:  # copies of corrupt cache files moved aside go too
            for stale in self.directory.glob(f"{self.path.name}.corrupt-*"):
                stale.unlink(missing_ok=True)
        if not self.path.exists():
            return 0
        cur = self._query(lambda db: db.execute("DELETE FROM entries" + (" WHERE kind = ?" if kind else ""),
                                                (kind,) if kind else ()))
        n = cur.rowcount
        self._query(lambda db: db.execute("VACUUM"))
        return n

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


# --- the key scope: what every cache key of a run shares ---------------------------------------

@dataclasses.dataclass(frozen=True)
class CacheScope:
    """The part of a cache key a run contributes to every entry: the model identity, the
    benchmark (name + spec version) and the method (name + config). Small and plain, so cached
    work never needs the whole run context; ``model`` is None for entries that do not depend on
    the model (``RunContext.cached(include_model=False)``)."""

    model: dict[str, Any] | None
    benchmark: dict[str, Any]
    method_name: str | None = None
    method: dict[str, Any] | None = None

    @classmethod
    def of(cls, model_description: dict[str, Any] | None, components: Any) -> CacheScope:
        spec = components["benchmark"][0]
        method = components["method"] if "method" in components else None
        return cls(model=model_identity(model_description) if model_description is not None else None,
                   benchmark={"name": spec.name, "spec_version": getattr(spec, "spec_version", None)},
                   method_name=method[0].name if method else None,
                   method=method[1].model_dump(mode="json") if method else None)

    def base(self) -> dict[str, Any]:
        return {"model": self.model, "benchmark": self.benchmark}


_warned: set[str] = set()


def _uncacheable(err: Exception) -> None:
    import logging

    if str(err) not in _warned:
        _warned.add(str(err))
        logging.getLogger("plurieval").warning("not caching this call: %s", err)


def _row_interventions(n: int, intervention: Any, settings: dict[str, Any]) -> tuple[list[Any], bool]:
    """Each row's intervention (``interventions=``, one per prompt, or the shared one) and
    whether the call was per row. Every row is keyed with its own intervention only, so a
    row of a mixed batch and the same prompt under that setting alone share one entry."""
    per_row = settings.pop("interventions", None)
    if per_row is None:
        return [intervention] * n, False
    rows = list(per_row)
    if len(rows) != n:
        from plurieval.errors import PluriError

        raise PluriError(f"interventions= has {len(rows)} entries for {n} prompts (one per prompt; None = plain)")
    return rows, True


def _row_keys(kind: str, prompts: list[str], ivs: list[Any], base: dict[str, Any], **extra: Any) -> list[str]:
    described: dict[int, Any] = {}  # one description (tensor hashes) per distinct intervention
    keys = []
    for p, iv in zip(prompts, ivs, strict=True):
        if id(iv) not in described:
            described[id(iv)] = describe_value(iv)
        keys.append(cache_key(kind, prompt=p, intervention=described[id(iv)], **base, **extra))
    return keys


def cached_generate(cache: Cache, scope: CacheScope, model: Any, prompts: list[str], intervention: Any,
                    settings: dict[str, Any]) -> list[Any]:
    """Per-prompt cache entries: a partly cached batch generates only the missing prompts.
    ``settings["progress"]`` (optional) is told the rows served from the cache as well."""
    settings = dict(settings)
    ivs, per_row = _row_interventions(len(prompts), intervention, settings)
    full = full_settings(model.generate, settings, skip=("prompts", "intervention", "interventions", "self",
                                                          *NOT_KEYED_SETTINGS))
    if full.get("do_sample"):
        full["sampler"] = "per-row-generators"  # samples drawn before this sampler are not reused

    def compute(idx: list[int]) -> list[Any]:
        if per_row:
            return model.generate([prompts[i] for i in idx], interventions=[ivs[i] for i in idx], **settings)
        return model.generate([prompts[i] for i in idx], intervention=intervention, **settings)

    try:
        keys = _row_keys("generation", prompts, ivs, {**scope.base(), "settings": full})
    except TypeError as err:  # something we cannot key safely: compute, never guess
        _uncacheable(err)
        return compute(list(range(len(prompts))))
    found = cache.get_many(keys)
    out: list[Any] = [None] * len(prompts)
    todo = []
    for i, k in enumerate(keys):
        if k in found:
            out[i] = generation_from_json(decode_value(*found[k]))
        else:
            todo.append(i)
    cache.stats.hit("generation", len(prompts) - len(todo))
    cache.stats.miss("generation", len(todo))
    progress = settings.get("progress")
    if progress is not None and len(prompts) > len(todo):
        progress(len(prompts) - len(todo))
    if todo:
        fresh = compute(todo)
        items = []
        for i, g in zip(todo, fresh, strict=True):
            out[i] = g
            items.append((keys[i], "generation", *encode_value(generation_to_json(g))))
        cache.put_many(items)
    return out


def cached_extract(cache: Cache, scope: CacheScope, model: Any, prompts: list[str], points: list[str],
                   kw: dict[str, Any]) -> dict[str, Any]:
    """Per-prompt activation entries (one safetensors blob per prompt holding every point)."""
    import torch

    kw = dict(kw)
    ivs, per_row = _row_interventions(len(prompts), kw.get("intervention"), kw)
    full = full_settings(model.extract, kw, skip=("prompts", "points", "intervention", "interventions", "progress", "self"))

    def compute(idx: list[int]) -> dict[str, Any]:
        extra = {"interventions": [ivs[i] for i in idx]} if per_row else {}
        return model.extract([prompts[i] for i in idx], points, **kw, **extra)

    try:
        keys = _row_keys("activation", prompts, ivs, {**scope.base(), "settings": full}, points=list(points))
    except TypeError as err:
        _uncacheable(err)
        return compute(list(range(len(prompts))))
    found = cache.get_many(keys)
    rows: list[dict[str, Any] | None] = [decode_tensors(found[k][1]) if k in found else None for k in keys]
    todo = [i for i, r in enumerate(rows) if r is None]
    cache.stats.hit("activation", len(prompts) - len(todo))
    cache.stats.miss("activation", len(todo))
    as_list = full.get("reduce") == "all"
    if todo:
        fresh = compute(todo)
        as_list = isinstance(next(iter(fresh.values())), list) if fresh else as_list
        items = []
        for j, i in enumerate(todo):
            row = {p: fresh[p][j] for p in points}
            rows[i] = row
            items.append((keys[i], "activation", "tensors", encode_tensors(row)))
        cache.put_many(items)
    if not prompts:
        return compute([])
    return {p: [r[p] for r in rows] if as_list else torch.stack([r[p] for r in rows]) for p in points}  # type: ignore[index]


def cached_value(cache: Cache, scope: CacheScope, kind: str, key_parts: Any, compute: Callable[[], Any]) -> Any:
    """``compute()`` or its cached value; the key is ``kind`` + ``key_parts`` + ``scope``."""
    parts: dict[str, Any] = {"parts": key_parts, "benchmark": scope.benchmark if scope.model is None else None}
    if scope.model is not None:
        parts.update(scope.base())
    if scope.method_name is not None:
        parts["method"] = scope.method
        parts["method_name"] = scope.method_name
    try:
        key = cache_key(kind, **parts)
    except TypeError as err:
        _uncacheable(err)
        return compute()
    value = cache.get(kind, key)
    if value is None:
        value = compute()
        cache.put(kind, key, value)
    return value
