"""Counts for docs/reliability.md: per target, inputs tried, faults injected, records lost."""

from __future__ import annotations

STATS: dict[str, dict[str, int]] = {}


def count(target: str, **numbers: int) -> None:
    entry = STATS.setdefault(target, {"inputs": 0})
    entry["inputs"] += 1
    for key, value in numbers.items():
        entry[key] = entry.get(key, 0) + value
