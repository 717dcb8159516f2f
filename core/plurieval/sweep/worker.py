"""What a worker does with one task of a sweep, whichever executor carries it there.

A task is plain JSON (the run config, the plugins to load, where to write) and comes back as
plain JSON plus file contents, so the same function serves the in-process executor, a local
process pool and a Ray worker on another machine. Everything a run computes goes through
``runner.execute``: a task is resumable and its run id comes from its config, so a task that is
started again after its worker died continues the run instead of redoing it.

Two things are decided here, on the worker, because only the worker can tell:

- **the output folder**: a worker that can read the driver's probe file in it writes the run
  directory there directly; one that cannot stages it locally and sends its files back;
- **the content-addressed cache**: a worker that sees the driver's cache on a local file system
  shares it (SQLite in WAL mode is safe between processes of one machine). One that cannot see
  it, or sees it over a network file system (where SQLite's locking is unreliable), uses its own
  cache: slower, never corrupted.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import secrets
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

from plurieval.errors import PluriError
from plurieval.hookspecs import hookimpl

Report = Callable[[dict[str, Any]], None]

PROBE_NAME = ".plurieval-probe"
# File systems on which SQLite's WAL mode (shared memory, POSIX locks) must not be shared.
NETWORK_FS = {"nfs", "nfs4", "cifs", "smb3", "smbfs", "lustre", "gpfs", "beegfs", "ceph", "fuse.ceph",
              "glusterfs", "fuse.glusterfs", "fuse.sshfs", "9p", "afs", "pvfs2", "fuse.s3fs", "fuse.gcsfuse",
              "fuse.juicefs", "davfs"}


# --- the driver side: what travels with a task --------------------------------------------------

def host_recipe(host: Any) -> list[dict[str, Any]]:
    """The driver's plugins as importable references, so a worker loads exactly the same set
    (a plugin module, or ``module:Class`` for a plugin object built without arguments)."""
    recipe = []
    for name, info in sorted(host.plugins.items()):
        obj = host.pm.get_plugin(name)
        if obj is None:  # failed to load on the driver: the worker does without it too
            continue
        ref = obj.__name__ if isinstance(obj, ModuleType) else f"{type(obj).__module__}:{type(obj).__qualname__}"
        recipe.append({"name": name, "ref": ref, "distribution": info.distribution, "version": info.version})
    return recipe


def write_probe(folder: Path) -> dict[str, str]:
    """Leave a random token in ``folder`` for workers to read back; returns where and what. A
    token already there is reused (several drivers may share a cache folder)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / PROBE_NAME
    if not path.is_file() or not path.read_text(encoding="utf-8").strip():
        tmp = path.with_name(f"{PROBE_NAME}.{os.getpid()}.tmp")
        tmp.write_text(secrets.token_hex(16), encoding="utf-8")
        os.replace(tmp, path)
    return {"path": str(folder.resolve()), "token": path.read_text(encoding="utf-8").strip()}


# --- the worker side ----------------------------------------------------------------------------

def sees(probe: dict[str, str] | None) -> bool:
    """True when this process reads the driver's token in the driver's folder."""
    if not probe:
        return False
    try:
        return (Path(probe["path"]) / PROBE_NAME).read_text(encoding="utf-8").strip() == probe["token"]
    except OSError:
        return False


def filesystem_type(path: str | Path) -> str | None:
    """The type of the file system holding ``path`` (Linux ``/proc/mounts``; None elsewhere)."""
    try:
        mounts = Path("/proc/mounts").read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    target = os.path.realpath(path)
    best, kind = "", None
    for line in mounts:
        parts = line.split()
        if len(parts) < 3:
            continue
        point = parts[1].replace("\\040", " ")
        if (target == point or target.startswith(point.rstrip("/") + "/")) and len(point) >= len(best):
            best, kind = point, parts[2]
    return kind


def choose_cache(mode: str, probe: dict[str, str] | None) -> tuple[str, str | None, str]:
    """(``shared`` or ``private``, the cache folder to use or None for the worker's own, why)."""
    if mode == "private":
        return "private", None, "private cache requested"
    if not sees(probe):
        if mode == "shared":
            raise PluriError(f"this worker ({socket.gethostname()}) cannot see the shared cache "
                             f"{probe['path'] if probe else '?'}; mount it on every node or use cache: auto")
        return "private", None, "the driver's cache folder is not visible here"
    fs = filesystem_type(probe["path"])  # type: ignore[index]
    if fs in NETWORK_FS and mode == "auto":
        return "private", None, f"the driver's cache is on {fs}, where SQLite locking is not safe to share"
    return "shared", probe["path"], "visible on a local file system"  # type: ignore[index]


_HOSTS: dict[str, Any] = {}


def host_from_recipe(recipe: list[dict[str, Any]]) -> Any:
    """A plugin host with exactly the driver's plugins (built once per worker process). A
    plugin installed here in another version than on the driver is refused: the runs would not
    compute what the driver's manifest says."""
    from plurieval.hashing import content_hash
    from plurieval.host import PluginHost

    key = content_hash(recipe)
    if key in _HOSTS:
        return _HOSTS[key]
    host = PluginHost(autoload=False)
    for item in recipe:
        dist, version = item.get("distribution"), item.get("version")
        if dist and version:
            try:
                here = metadata.version(dist)
            except metadata.PackageNotFoundError:
                here = None
            if here is not None and here != version:
                raise PluriError(f"plugin {item['name']!r}: {dist} {here} is installed on {socket.gethostname()} but "
                                 f"the driver has {version}; install the same version on every node")
        module_name, _, attr = item["ref"].partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as err:
            raise PluriError(f"plugin {item['name']!r}: cannot import {module_name!r} on {socket.gethostname()} "
                             f"({err}); install it on every node (or ship it with the executor's "
                             f"runtime_env py_modules)") from None
        plugin = module
        if attr:
            obj: Any = module
            for part in attr.split("."):
                obj = getattr(obj, part)
            plugin = obj()
        host.add_plugin(plugin, name=item["name"], distribution=dist, version=version)
    if host.errors:
        raise PluriError("plugins failed to load on this worker: " + "; ".join(str(e) for e in host.errors))
    _HOSTS[key] = host
    return host


@contextlib.contextmanager
def _env(name: str, value: str | None) -> Iterator[None]:
    old = os.environ.get(name)
    if value is not None:
        os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


@contextlib.contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    """The run's torch thread count (float reductions may depend on it), restored afterwards."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


class _ExampleCounter:
    """Reports examples scored to the driver, at most every ``every`` seconds. Registered on the
    host's hook manager only for the task (not as a plugin, so manifests do not list it)."""

    def __init__(self, report: Report, every: float = 2.0):
        self.report, self.every, self.count, self.last = report, every, 0, 0.0

    @hookimpl
    def example_scored(self, run: Any, key: str, record: dict[str, Any]) -> None:
        self.count += 1
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            self.report({"type": "examples", "done": self.count})


def node_id() -> str:
    try:
        import ray

        if ray.is_initialized():
            return ray.get_runtime_context().get_node_id()
    except Exception:  # ray missing, or not inside a Ray worker
        pass
    return socket.gethostname()


_lock = threading.Lock()


def run_task(payload: dict[str, Any], report: Report, host: Any = None) -> dict[str, Any]:
    """Execute one run of a sweep. ``host`` is given by the in-process executor; other workers
    build theirs from ``payload["host"]``. Returns the summary and, when this worker cannot
    write into the output folder, the run directory's files."""
    began = time.monotonic()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch is imported (see docs/models.md)
    from plurieval.config import RunConfig
    from plurieval.runner import execute

    in_process = host is not None
    host = host or host_from_recipe(payload["host"])
    config = RunConfig.model_validate(payload["config"])
    files = payload["files"]
    shared_output = files == "shared" or (files == "auto" and sees(payload["output_probe"]))
    if files == "shared" and not sees(payload["output_probe"]):
        raise PluriError(f"this worker ({socket.gethostname()}) cannot see the output folder {config.output_dir}; "
                         f"use files: auto or copy")
    # Staged runs are keyed by the output folder's probe token too: a retry on this node resumes
    # its run, while a sweep into another output folder never picks up this one's leftovers.
    stage = None if shared_output else (Path(tempfile.gettempdir()) / "plurieval-sweeps"
                                        / payload["output_probe"]["token"][:12] / payload["sweep"]["id"])
    cache_mode, cache_dir, why = ("shared", None, "in the driver's process") if in_process else \
        choose_cache(payload["cache"], payload.get("cache_probe"))
    run_root, sweep = stage, payload["sweep"]
    parts, seeds = payload.get("parts"), payload.get("seed")
    if parts:  # one part of a steering run split into its units (see plurieval.sweep.split)
        from plurieval.runner import run_id_for
        from plurieval.sweep.split import part_root

        run_root = part_root(stage or Path(config.output_dir), run_id_for(config), "+".join(parts))
        config = config.model_copy(update={"tracking": config.tracking.model_copy(update={"enabled": False})})
        sweep = {**sweep, "parts": list(parts)}
    report({"type": "started", "pid": os.getpid(), "node": node_id(), "hostname": socket.gethostname(),
            "files": "shared" if shared_output else "copy", "cache": cache_mode, "cache_reason": why})
    counter = _ExampleCounter(report)
    with _lock:  # one run at a time per process: the environment below is process-wide
        with _env("PLURIEVAL_CACHE_DIR", cache_dir), _torch_threads(payload["threads"]):
            host.pm.register(counter, name=f"sweep-progress-{id(counter)}")
            try:
                force = _force_once(payload.get("force"), stage or config.output_dir, payload.get("key") or
                                    payload["config"])
                if seeds:  # the merge of a split run: its parts' records first
                    from plurieval.runner import run_id_for
                    from plurieval.sweep.split import seed_run

                    seed_run(Path(stage or config.output_dir) / run_id_for(config), seeds)
                outcome = execute(config, host, force=force, sweep=sweep, run_root=run_root)
            finally:
                host.pm.unregister(counter)
    result: dict[str, Any] = {"run_id": outcome.run_dir.name, "summary": outcome.summary,
                              "resumed": outcome.resumed, "reused": outcome.reused, "pid": os.getpid(),
                              "cache": cache_mode, "files_mode": "shared" if shared_output else "copy"}
    if stage is not None:
        result["files"] = collect_files(outcome.run_dir)
        shutil.rmtree(outcome.run_dir, ignore_errors=True)  # the driver has it now
    result["seconds"] = round(time.monotonic() - began, 3)
    return result


def _force_once(nonce: str | None, root: str | Path, task: str | dict[str, Any]) -> bool:
    """True the first time a forced task runs; False when it is started again (its worker died),
    so the retry resumes the forced run instead of discarding it once more. ``task``: the task
    key (``RUN-ID`` or ``RUN-ID/PART``), or the run config of a payload that has none."""
    if not nonce:
        return False
    if isinstance(task, dict):
        from plurieval.config import RunConfig
        from plurieval.runner import run_id_for

        task = run_id_for(RunConfig.model_validate(task))
    marker = Path(root) / ".plurieval-forced" / f"{re.sub(r'[^A-Za-z0-9._-]+', '-', task)}-{nonce}"
    if marker.exists():
        return False
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()
    return True


def collect_files(run_dir: Path) -> dict[str, bytes]:
    """Every file of a finished run directory, by path relative to it (temporary files left
    out)."""
    return {p.relative_to(run_dir).as_posix(): p.read_bytes()
            for p in sorted(run_dir.rglob("*")) if p.is_file() and not p.name.endswith(".tmp")}


def write_files(run_dir: Path, files: dict[str, bytes]) -> None:
    """Write what a worker sent back into ``run_dir``. The names come from another machine, so
    each must be a plain relative path that stays inside ``run_dir``; results.jsonl and
    summary.json land last, each atomically, so a driver killed halfway leaves a run that
    resumes rather than one that looks complete."""
    root = run_dir.resolve()
    checked: list[tuple[Path, bytes]] = []
    for rel, data in files.items():
        parts = Path(rel).parts
        if not rel or Path(rel).is_absolute() or ".." in parts or "\\" in rel or rel.startswith("/"):
            raise PluriError(f"a worker sent back a file named {rel!r}, which is not a plain relative path; refused")
        target = (root / rel).resolve()
        if not target.is_relative_to(root):
            raise PluriError(f"a worker sent back {rel!r}, which points outside {run_dir}; refused")
        if not isinstance(data, (bytes, bytearray)):
            raise PluriError(f"a worker sent back {rel!r} as {type(data).__name__}, not bytes; refused")
        checked.append((target, bytes(data)))
    last = {"summary.json": 2, "results.jsonl": 1}
    for target, data in sorted(checked, key=lambda item: last.get(item[0].name if item[0].parent == root else "", 0)):
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + f".{os.getpid()}.part")
        tmp.write_bytes(data)
        os.replace(tmp, target)


def print_line(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
