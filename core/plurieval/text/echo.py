"""Strip an echo of the prompt from a model's output.

Small models often answer a question by repeating it ("Wie viele Minuten hat eine Stunde?" →
"Wie viele Minuten hat eine Stunde?"). A similarity judge then finds the output as close to
the question as anything can be, although repeating a question does not answer it. ``strip_echo``
removes every stretch of the output that repeats most of the prompt (by default 80 % of it: an
answer that restates the question, "The main ingredient of bread is flour.", keeps it), so a judge
sees only what the model added.
"""

from __future__ import annotations

import difflib

_EDGE = " \t\n\r\"'“”„«»「」『』()（）[]:：,，.。?？!！¿¡-–—"


def strip_echo(output: str, prompt: str, *, min_share: float = 0.8, min_chars: int = 8) -> str:
    """``output`` without the stretches that repeat at least ``min_share`` of ``prompt`` (and at
    least ``min_chars`` characters), compared case-insensitively; what is left, stripped of
    surrounding punctuation. Prompts shorter than ``min_chars`` are never stripped."""
    core = (prompt or "").strip(_EDGE)
    if len(core) < min_chars or not output:
        return output
    need = max(min_chars, int(min_share * len(core) + 0.999))
    text, stripped = output, False
    key = core.casefold()
    for _ in range(32):  # an output echoes a question a few times at most; bounded anyway
        low = text.casefold()
        if len(low) != len(text):  # case folding changed lengths (ß → ss): compare as is
            low, key = text, core
        match = difflib.SequenceMatcher(None, low, key, autojunk=False).find_longest_match(0, len(low), 0, len(key))
        if match.size < need:
            break
        text, stripped = text[:match.a] + " " + text[match.a + match.size:], True
    return text.strip(_EDGE) if stripped else output


__all__ = ["strip_echo"]
