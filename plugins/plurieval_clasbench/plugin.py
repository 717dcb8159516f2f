"""Hook implementations of the clasbench plugin (kept import-light: no torch at module level)."""

from plurieval.hookspecs import hookimpl  # noqa: F401
