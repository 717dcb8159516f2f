"""Errors users see. Each one names the bad input and, where there is one, the fix."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class PluriError(Exception):
    """Base class: an error whose message is meant for the person running plurieval."""


class UnknownComponentError(PluriError, LookupError):
    def __init__(self, kind: str, name: str, known: Iterable[str]):
        self.kind, self.name = kind, name
        known = sorted(set(known))
        self.suggestions = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        msg = f"unknown {kind} {name!r}."
        if self.suggestions:
            msg += " Did you mean: " + ", ".join(self.suggestions) + "?"
        elif known:
            msg += " Available: " + ", ".join(known[:20]) + (" ..." if len(known) > 20 else "")
        else:
            msg += f" No {kind}s are registered."
        msg += f" (`plurieval list {kind}s` shows them all.)"
        super().__init__(msg)


class AmbiguousComponentError(PluriError, LookupError):
    def __init__(self, kind: str, name: str, packages: Iterable[str]):
        packages = sorted(packages)
        choices = " or ".join(f"'{p}/{name}'" for p in packages)
        super().__init__(
            f"{kind} {name!r} is registered by more than one distribution "
            f"({', '.join(packages)}); say which one you mean: {choices}."
        )


class PluginLoadError(PluriError):
    """A plugin failed to import or one of its hooks raised. The host records it and goes on."""

    def __init__(self, plugin: str, distribution: str | None, stage: str, error: BaseException):
        self.plugin, self.distribution, self.stage, self.error = plugin, distribution, stage, error
        where = f"plugin {plugin!r}" + (f" (distribution {distribution})" if distribution else "")
        super().__init__(f"{where} failed during {stage}: {type(error).__name__}: {error}")


class NameClashWarning(PluriError):
    """Two distributions register one component name. Reported when the second one loads, so
    nobody learns of it only after a benchmark's generation work, from an ambiguous-name error."""

    def __init__(self, spec: object, other: object):
        self.plugin = getattr(spec, "plugin", "")
        kind, name = getattr(spec, "kind", "component"), getattr(spec, "name", "?")
        package, other_package = getattr(spec, "package", "?"), getattr(other, "package", "?")
        where = f"plugin {self.plugin!r} (distribution {package})"
        if other_package == "plurieval":
            msg = (f"{where} registers {kind} {name!r}, which plurieval itself provides: the bare name "
                   f"{name!r} keeps meaning plurieval's; use '{package}/{name}' for this one")
        else:
            msg = (f"{where} registers {kind} {name!r}, which distribution {other_package} registers too: "
                   f"the bare name is ambiguous; use '{package}/{name}' or '{other_package}/{name}'")
        super().__init__(msg)


class ConfigError(PluriError, ValueError):
    """A configuration did not validate. `problems` holds (field path, message) pairs."""

    def __init__(self, source: str, problems: list[tuple[str, str]]):
        self.source, self.problems = source, problems
        lines = [f"invalid {source}:"] + [f"  {path}: {msg}" for path, msg in problems]
        super().__init__("\n".join(lines))


class DataError(PluriError, ValueError):
    """A data file or row is malformed; the message names the file, the row and the field."""
