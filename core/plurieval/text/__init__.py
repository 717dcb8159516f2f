"""Text checks shared by every generation metric (no torch, no model: pure Python)."""

from plurieval.text.degenerate import (
    DegenerateConfig,
    DegenerateVerdict,
    check_degenerate,
    is_degenerate,
    script_of,
    scripts_for,
    text_features,
)

__all__ = ["DegenerateConfig", "DegenerateVerdict", "check_degenerate", "is_degenerate", "script_of",
           "scripts_for", "text_features"]
