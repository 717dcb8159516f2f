"""The component registry: every spec the loaded plugins registered, looked up by name.

A bare name that two distributions both register is ambiguous (an error naming both);
``package/name`` picks one. The one exception: a name plurieval itself registers keeps meaning
the first-party component, so installing a third-party plugin cannot break a first-party
benchmark (the host reports the clash at load time). Unknown names answer with the closest
matches.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from plurieval.errors import AmbiguousComponentError, UnknownComponentError
from plurieval.specs import KINDS, ComponentSpec, Kind, ResourceSpec

FIRST_PARTY = "plurieval"  # the distribution of the first-party plugins


class DuplicateComponentError(ValueError):
    pass


class Registry:
    def __init__(self) -> None:
        self._specs: dict[Kind, dict[str, list[ComponentSpec]]] = {k: defaultdict(list) for k in KINDS}

    def add(self, spec: ComponentSpec) -> None:
        entries = self._specs[spec.kind][spec.name]
        for other in entries:
            if other.package == spec.package:
                raise DuplicateComponentError(
                    f"{spec.kind} {spec.name!r} registered twice by distribution {spec.package!r} "
                    f"(plugins {other.plugin!r} and {spec.plugin!r})"
                )
        entries.append(spec)

    def same_name(self, spec: ComponentSpec) -> list[ComponentSpec]:
        """Every registered spec of ``spec``'s kind and name (itself included)."""
        return list(self._specs[spec.kind].get(spec.name, []))

    def remove_plugin(self, plugin: str) -> None:
        """Drop everything one plugin registered (used when its hook fails half-way)."""
        for by_name in self._specs.values():
            for name in list(by_name):
                by_name[name] = [s for s in by_name[name] if s.plugin != plugin]
                if not by_name[name]:
                    del by_name[name]

    def get(self, kind: Kind, name: str) -> ComponentSpec:
        package, sep, bare = name.rpartition("/")
        entries = self._specs[kind].get(bare if sep else name, [])
        if sep:
            entries = [s for s in entries if s.package == package]
        if not entries:
            raise UnknownComponentError(kind, name, self.names(kind, qualified=bool(sep)))
        if len(entries) > 1 and not sep:
            first_party = [s for s in entries if s.package == FIRST_PARTY]
            if len(first_party) == 1:
                return first_party[0]
        if len(entries) > 1:
            raise AmbiguousComponentError(kind, name, [s.package for s in entries])
        return entries[0]

    def names(self, kind: Kind, qualified: bool = False) -> list[str]:
        out = set()
        for name, entries in self._specs[kind].items():
            out.add(name)
            if qualified or len(entries) > 1:
                out.update(s.qualified_name for s in entries)
        return sorted(out)

    def all(self, kind: Kind | None = None) -> Iterator[ComponentSpec]:
        for k in [kind] if kind else KINDS:
            for name in sorted(self._specs[k]):
                yield from self._specs[k][name]

    def resources(self, provides: str) -> list[ResourceSpec]:
        return [s for s in self.all("resource") if isinstance(s, ResourceSpec) and s.provides == provides]
