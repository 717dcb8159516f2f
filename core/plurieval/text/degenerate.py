"""A degenerate-text detector shared by every generation metric.

Steered small models often produce text that is not an answer at all: repetition loops
("Cette fois, cette fois, cette fois, ..."), runs of U+FFFD replacement characters (byte-level
BPE cut inside a multi-byte character), runs of punctuation or symbols ("！！！！",
"........"), or text in another script than the language it is scored as. Embedding
similarity and language identifiers are blind to that: a loop of on-topic words is close to
the question in embedding space, and py3langid calls "！！！！" Chinese. This module measures
such text with a few cheap, explainable features and flags it.

Features (``text_features``), over the text with surrounding whitespace stripped:

- ``content_chars``: letters, combining marks and digits (Unicode categories L*, M*, N*);
  ``content_share`` = that / non-space characters (punctuation- or symbol-only text → ~0).
- ``replacement_chars``: count of U+FFFD, *not* counting one at the very end (a generation cut
  by the token limit inside a multi-byte character ends in one such character).
- ``compression_ratio``: ``len(zlib(text)) / len(text)`` on UTF-8 bytes (level 9); a loop
  compresses far better than prose. Only defined from ``compression_min_bytes`` bytes on.
- ``repeated_ngram_share``: share of word n-grams (``ngram`` units; in unspaced scripts, Han,
  kana, Thai, ..., each character is a unit) that already occurred earlier in the text. Only
  defined from ``ngram_min_units`` units on.
- ``longest_char_run``: the longest run of one repeated non-space character ("עקקקקקקקק").
- ``char_entropy``: Shannon entropy (bits) of the non-space character distribution ("aaaa" → 0).
  Only defined from ``entropy_min_chars`` characters on.
- ``script_share`` (only when a language is given and its script is known): share of letters
  written in one of the language's scripts (``scripts_for``).

``check_degenerate`` flags a text when any feature crosses its threshold (``DegenerateConfig``;
``None`` switches a rule off) and says which rules fired. The default thresholds were chosen
on the calibration part of the labelled judge-validation set only (see docs/judges.md).
"""

from __future__ import annotations

import math
import re
import unicodedata
import zlib
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

REPLACEMENT = "\ufffd"

# Languages whose script is not Latin (ISO 639-1 → Unicode script names as ``script_of`` gives them).
_NON_LATIN: dict[str, frozenset[str]] = {
    **{c: frozenset({"ARABIC"}) for c in ("ar", "fa", "ur", "ps", "ug", "sd", "ks")},
    **{c: frozenset({"DEVANAGARI"}) for c in ("hi", "mr", "ne", "sa")},
    **{c: frozenset({"BENGALI"}) for c in ("bn", "as")},
    **{c: frozenset({"CYRILLIC"}) for c in ("ru", "uk", "bg", "be", "sr", "mk", "kk", "ky", "mn", "tg", "tt", "ba")},
    **{c: frozenset({"HEBREW"}) for c in ("he", "yi")},
    "ja": frozenset({"HIRAGANA", "KATAKANA", "HAN"}),
    "zh": frozenset({"HAN"}),
    "ko": frozenset({"HANGUL", "HAN"}),
    "th": frozenset({"THAI"}), "el": frozenset({"GREEK"}), "ka": frozenset({"GEORGIAN"}),
    "hy": frozenset({"ARMENIAN"}), "ta": frozenset({"TAMIL"}), "te": frozenset({"TELUGU"}),
    "kn": frozenset({"KANNADA"}), "ml": frozenset({"MALAYALAM"}), "gu": frozenset({"GUJARATI"}),
    "pa": frozenset({"GURMUKHI"}), "or": frozenset({"ORIYA"}), "si": frozenset({"SINHALA"}),
    "km": frozenset({"KHMER"}), "lo": frozenset({"LAO"}), "my": frozenset({"MYANMAR"}),
    "am": frozenset({"ETHIOPIC"}), "ti": frozenset({"ETHIOPIC"}), "bo": frozenset({"TIBETAN"}),
    "dv": frozenset({"THAANA"}),
}
_LATIN_LANGUAGES = frozenset(
    "af az bs ca cs cy da de en eo es et eu fi fo fr ga gd gl ha hr ht hu id ig is it jv la lb lt lv mg mi ms mt "
    "nb nl nn no ny oc om pl pt qu ro rw sk sl sm sn so sq st su sv sw tk tl tn tr ts uz vi wo xh yo zu".split())
# Scripts written without spaces between words: there every character is an n-gram unit.
_UNSPACED = frozenset({"HAN", "HIRAGANA", "KATAKANA", "THAI", "LAO", "KHMER", "MYANMAR", "TIBETAN"})
_NAME_ALIASES = {"CJK": "HAN", "IDEOGRAPHIC": "HAN", "KATAKANA-HIRAGANA": "KATAKANA", "FULLWIDTH": None,
                 "HALFWIDTH": None}
_WORD = re.compile(r"\w+", re.UNICODE)


class DegenerateConfig(BaseModel):
    """Thresholds of the degenerate-text detector; ``None`` switches a rule off."""

    model_config = ConfigDict(extra="forbid")
    min_content_chars: int | None = Field(
        1, ge=0, description="fewer letters/digits than this → 'no_content' (empty, whitespace- or symbol-only output)")
    max_replacement_chars: int | None = Field(
        1, ge=0, description="more U+FFFD characters than this (one at the very end not counted) → 'replacement_chars'")
    min_content_share: float | None = Field(
        0.5, ge=0, le=1, description="letters+digits below this share of non-space characters → 'symbols'")
    min_compression_ratio: float | None = Field(
        0.4, ge=0, le=2, description="zlib-compressed/raw UTF-8 size below this → 'repetition' (loops compress well)")
    compression_min_bytes: int = Field(80, ge=1, description="texts shorter than this (UTF-8 bytes) skip the compression rule")
    max_repeated_ngram_share: float | None = Field(
        0.2, ge=0, le=1, description="share of word n-grams already seen earlier in the text above this → 'repetition'")
    max_char_run: int | None = Field(
        10, ge=1, description="a run of one non-space character longer than this → 'repetition'")
    ngram: int = Field(3, ge=1, description="n of the repeated-n-gram rule (words; characters in unspaced scripts)")
    ngram_min_units: int = Field(8, ge=1, description="texts with fewer units skip the repeated-n-gram rule")
    min_char_entropy: float | None = Field(
        2.5, ge=0, description="Shannon entropy (bits) of the character distribution below this → 'low_diversity'")
    entropy_min_chars: int = Field(12, ge=1, description="texts with fewer non-space characters skip the entropy rule")
    min_script_share: float | None = Field(
        0.5, ge=0, le=1, description="with a language: share of letters in that language's script below this → "
                                     "'script_mismatch' (languages whose script is unknown skip the rule)")


@dataclass(frozen=True)
class DegenerateVerdict:
    """``degenerate`` is True when at least one rule fired; ``reasons`` names them; ``features``
    holds every measured value (None where a rule does not apply)."""

    degenerate: bool
    reasons: tuple[str, ...] = ()
    features: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"degenerate": self.degenerate, "reasons": list(self.reasons), "features": self.features}


@lru_cache(maxsize=8192)
def script_of(ch: str) -> str | None:
    """The Unicode script of a letter, from its character name ("LATIN", "CYRILLIC", "HAN",
    "HIRAGANA", ...); None for characters without a script word (digits, punctuation)."""
    try:
        name = unicodedata.name(ch)
    except ValueError:
        return None
    word = name.split(" ", 1)[0]
    if word in _NAME_ALIASES:
        alias = _NAME_ALIASES[word]
        if alias is None:  # FULLWIDTH LATIN CAPITAL LETTER A, HALFWIDTH KATAKANA LETTER ...
            parts = name.split(" ")
            return _NAME_ALIASES.get(parts[1], parts[1]) if len(parts) > 1 else None
        return alias
    return word


def scripts_for(language: str | None) -> frozenset[str] | None:
    """The scripts a language is written in (ISO 639-1; region suffixes ignored), or None when
    plurieval does not know (the script rule is then skipped, never guessed)."""
    if not language:
        return None
    code = language.lower().replace("_", "-").split("-", 1)[0]
    if code in _NON_LATIN:
        return _NON_LATIN[code]
    return frozenset({"LATIN"}) if code in _LATIN_LANGUAGES else None


def _units(text: str) -> list[str]:
    units: list[str] = []
    for word in _WORD.findall(text.casefold()):
        if any(script_of(c) in _UNSPACED for c in word):
            units.extend(word)
        else:
            units.append(word)
    return units


def text_features(text: str, language: str | None = None, config: DegenerateConfig | None = None) -> dict[str, Any]:
    """Every feature the detector uses (see the module docstring)."""
    cfg = config or DegenerateConfig()
    t = (text or "").strip()
    chars = [c for c in t if not c.isspace()]
    content = sum(1 for c in chars if unicodedata.category(c)[0] in "LMN")
    replacement = t.count(REPLACEMENT) - (1 if t.endswith(REPLACEMENT) and not t.endswith(REPLACEMENT * 2) else 0)
    raw = t.encode("utf-8")
    compression = len(zlib.compress(raw, 9)) / len(raw) if len(raw) >= cfg.compression_min_bytes else None
    units = _units(t)
    repeated = None
    if len(units) >= cfg.ngram_min_units and len(units) >= cfg.ngram:
        seen: set[tuple[str, ...]] = set()
        grams = [tuple(units[i:i + cfg.ngram]) for i in range(len(units) - cfg.ngram + 1)]
        again = 0
        for g in grams:
            again += g in seen
            seen.add(g)
        repeated = again / len(grams)
    longest, run, prev = 0, 0, None
    for c in t:
        run = run + 1 if c == prev and not c.isspace() else 1
        prev = c
        longest = max(longest, run if not c.isspace() else 0)
    entropy = None
    if len(chars) >= cfg.entropy_min_chars:
        counts = Counter(chars)
        entropy = -sum(n / len(chars) * math.log2(n / len(chars)) for n in counts.values())
    script_share = None
    wanted = scripts_for(language)
    if wanted is not None:
        letters = [c for c in chars if unicodedata.category(c).startswith("L")]
        if letters:
            script_share = sum(1 for c in letters if script_of(c) in wanted) / len(letters)
    return {
        "chars": len(chars),
        "content_chars": content,
        "content_share": content / len(chars) if chars else 0.0,
        "replacement_chars": replacement,
        "compression_ratio": compression,
        "repeated_ngram_share": repeated,
        "longest_char_run": longest,
        "char_entropy": entropy,
        "script_share": script_share,
    }


def check_degenerate(text: str, language: str | None = None, config: DegenerateConfig | None = None) -> DegenerateVerdict:
    """Is ``text`` degenerate? With ``language`` (ISO 639-1) the script rule applies too."""
    cfg = config or DegenerateConfig()
    return verdict_from_features(text_features(text, language, cfg), cfg)


def verdict_from_features(f: dict[str, Any], config: DegenerateConfig | None = None) -> DegenerateVerdict:
    """The verdict for features measured by ``text_features`` (threshold searches measure once
    and try many thresholds; the measuring fields of the config must be the same)."""
    cfg = config or DegenerateConfig()
    reasons = []
    if cfg.min_content_chars is not None and f["content_chars"] < cfg.min_content_chars:
        reasons.append("no_content")
    if cfg.max_replacement_chars is not None and f["replacement_chars"] > cfg.max_replacement_chars:
        reasons.append("replacement_chars")
    if cfg.min_content_share is not None and f["chars"] and f["content_share"] < cfg.min_content_share:
        reasons.append("symbols")
    rep = ((cfg.min_compression_ratio is not None and f["compression_ratio"] is not None
            and f["compression_ratio"] < cfg.min_compression_ratio)
           or (cfg.max_repeated_ngram_share is not None and f["repeated_ngram_share"] is not None
               and f["repeated_ngram_share"] > cfg.max_repeated_ngram_share)
           or (cfg.max_char_run is not None and f["longest_char_run"] > cfg.max_char_run))
    if rep:
        reasons.append("repetition")
    if cfg.min_char_entropy is not None and f["char_entropy"] is not None and f["char_entropy"] < cfg.min_char_entropy:
        reasons.append("low_diversity")
    if cfg.min_script_share is not None and f["script_share"] is not None and f["script_share"] < cfg.min_script_share:
        reasons.append("script_mismatch")
    return DegenerateVerdict(bool(reasons), tuple(reasons), f)


def is_degenerate(text: str, language: str | None = None, config: DegenerateConfig | None = None) -> bool:
    return check_degenerate(text, language, config).degenerate


__all__ = ["DegenerateConfig", "DegenerateVerdict", "check_degenerate", "is_degenerate", "script_of", "scripts_for",
           "text_features", "verdict_from_features"]
