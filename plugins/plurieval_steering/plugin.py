"""Hook implementations of the steering plugin (kept import-light: no torch at module level)."""

from plurieval.hookspecs import hookimpl  # noqa: F401
