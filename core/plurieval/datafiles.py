"""Where plurieval keeps files it fetched or converted, and fetching a data file once.

Every loader that accepts a URL goes through :func:`download`, so all of them cache in one
place (``$PLURIEVAL_CACHE_DIR``, else the user cache dir), write atomically, and fail with the
same message when there is no network. Standard library only: listing components must stay fast.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from plurieval.errors import DataError, PluriError
from plurieval.redact import redact_uri


def cache_root() -> Path:
    """The plurieval cache directory: ``$PLURIEVAL_CACHE_DIR``, else the platform's user cache
    dir (``~/.cache/plurieval`` on Linux). Converted models, fetched data and the result cache
    live under it."""
    env = os.environ.get("PLURIEVAL_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("plurieval"))


def read_text(path: str | os.PathLike[str], what: str = "file", error: type[PluriError] = DataError) -> str:
    """The text of a file someone handed plurieval, or one error naming the file and what is
    wrong with it: missing, a directory, unreadable, or not UTF-8 (with the line). A leading
    byte-order mark is dropped."""
    path = Path(path)
    if not path.exists():
        raise error(f"{what} {str(path)!r} does not exist")
    if path.is_dir():
        raise error(f"{what} {str(path)!r} is a directory; give a file")
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise error(f"{what} {str(path)!r} cannot be read: {err.strerror or err}") from None
    try:
        return raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as err:
        line = raw[:err.start].count(b"\n") + 1
        raise error(f"{what} {str(path)!r} is not UTF-8 text (line {line}: {err.reason}); save it as UTF-8") from None


def atomic_write(path: str | os.PathLike[str], data: str | bytes, *, encoding: str = "utf-8") -> Path:
    """Write ``data`` to ``path`` through a temporary file of a unique name in the same folder,
    then rename it over ``path``: readers see the old file or the new one, never half of one,
    and two processes writing the same file at once cannot collide on a shared temp name (a
    fixed ``path.tmp`` made one of two identical runs crash)."""
    import tempfile

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, _file_mode(path))  # mkstemp makes it private (0600); keep what a plain write gives
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode(encoding) if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def _file_mode(path: Path) -> int:
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def is_url(source: str | os.PathLike[str] | None) -> bool:
    return isinstance(source, str) and urllib.parse.urlparse(source).scheme in ("http", "https")


def download(url: str, namespace: str, *, missing_ok: bool = False, timeout: float = 60) -> Path | None:
    """Fetch ``url`` into ``<cache>/<namespace>/`` once and return the local file; later calls
    (and offline runs) use the cached copy. With ``missing_ok`` a 404 returns ``None`` (a file
    the upstream layout does not have); every other failure is a ``DataError`` naming the URL
    and the offline fix."""
    name = os.path.basename(urllib.parse.urlparse(url).path) or "index"
    target = cache_root() / namespace / f"{hashlib.sha256(url.encode()).hexdigest()[:24]}-{name}"
    if target.is_file():
        return target
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - the user's own URL
            data = resp.read()
    except urllib.error.HTTPError as err:
        if err.code == 404 and missing_ok:
            return None
        raise DataError(f"could not download {redact_uri(url)}: HTTP {err.code}") from None
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise DataError(f"could not download {redact_uri(url)} ({redact_uri(str(reason))}); without network access point the loader "
                        f"at a local copy (a folder, or $PLURIEVAL_DATA_DIR)") from None
    return atomic_write(target, data)
