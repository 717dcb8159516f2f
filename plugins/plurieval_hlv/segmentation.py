"""Discourse segmentation of a chain of thought into statements.

A light, deterministic segmenter (no parser, no model): split into sentences, then split each
sentence before a discourse connective ("but", "because", "so", "however", ...), keeping the
connective with the statement it introduces, since the connective carries the relation
(contrast, cause, conclusion) the judge needs to see. Fragments shorter than ``min_words``
are merged into the previous statement so that "Yes." or "so" alone never becomes a statement.
"""

from __future__ import annotations

import re

# Multi-word connectives first so that "on the other hand" wins over "on".
CONNECTIVES = (
    "on the other hand", "in other words", "as a result", "even though", "in contrast", "for example",
    "that means", "which means", "in addition", "because of", "this means",
    "however", "therefore", "although", "though", "because", "whereas", "while", "since", "thus", "hence",
    "so", "but", "yet", "moreover", "furthermore", "also", "instead", "otherwise", "consequently", "meanwhile",
)
_CONN = re.compile(
    r"(?:(?<=[,;:])\s*|\s+)(?=\b(?:" + "|".join(re.escape(c) for c in CONNECTIVES) + r")\b)", re.IGNORECASE
)
_SENT = re.compile(r"(?<=[.!?])[\"')\]]*\s+|\n+")
_LIST_MARK = re.compile(r"^\s*(?:[-*•]|\d+[.)]|step \d+:?)\s*", re.IGNORECASE)


def sentences(text: str) -> list[str]:
    """Sentence split on ., !, ? followed by whitespace, and on line breaks (list items)."""
    out = []
    for part in _SENT.split(text or ""):
        part = _LIST_MARK.sub("", part).strip()
        if part:
            out.append(part)
    return out


def segment(text: str, *, min_words: int = 3) -> list[str]:
    """Statements of ``text``: sentences split before discourse connectives.

    >>> segment("The man is outside, but he may not be at the beach because nothing says so.")
    ['The man is outside,', 'but he may not be at the beach', 'because nothing says so.']
    """
    statements: list[str] = []
    for sent in sentences(text):
        pieces = [p.strip() for p in _CONN.split(sent) if p and p.strip()]
        for piece in pieces:
            if statements and len(piece.split()) < min_words:
                statements[-1] = f"{statements[-1]} {piece}"
            else:
                statements.append(piece)
    # A short first fragment has nothing before it to merge into: merge it forward instead.
    if len(statements) > 1 and len(statements[0].split()) < min_words:
        statements[1] = f"{statements[0]} {statements[1]}"
        statements.pop(0)
    return statements
