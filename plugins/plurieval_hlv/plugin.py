"""Hook implementations of the hlv plugin (kept import-light: no torch at module level)."""

from plurieval.hookspecs import hookimpl  # noqa: F401
