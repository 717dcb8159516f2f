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
from plurieval.text.echo import strip_echo

__all__ = ["DegenerateConfig", "DegenerateVerdict", "check_degenerate", "is_degenerate", "script_of",
           "scripts_for", "strip_echo", "text_features"]
