"""``plurieval quantization-study`` (filled in below)."""

from __future__ import annotations

from typing import Any


def register(cli: Any) -> None:
    return None
