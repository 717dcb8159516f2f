"""Script-aware text normalisation for matching names in generated text.

Matching happens on a *normalised* copy of the text that keeps, for every character, the span
of the original text it came from, so a link records the surface exactly as the model wrote it.

Rules (each one a reason a name would otherwise be missed or matched wrongly):

- Text is cut into clusters (a base character plus the combining marks after it) and each
  cluster is normalised as a unit (NFKC), so a decomposed "é" matches a composed one.
- Case folding for every cased script (``str.casefold``: "ß" → "ss"); Turkish and Azeri map
  "I" → "ı" and "İ" → "i" first, as their orthography requires.
- Diacritics are folded (combining marks on *Latin* letters removed) only for the languages in
  ``fold_languages``: in German, French, Spanish, ... "creme brulee" is a plain misspelling of
  "crème brûlée", but in Turkish "ç" and "c" are different letters. Marks on other scripts are
  never removed: in Devanagari and Thai they are vowels, in Japanese they are the voicing marks
  (が ≠ か), in Cyrillic "й" ≠ "и".
- Arabic script: short vowels (harakat) and tatweel are dropped and letter variants unified
  (ي/ى/ی, ك/ک, أ/إ/آ/ٱ → ا, ة → ه), the usual normalisation of Arabic and Persian text, where
  the same word is written with or without them.
- Punctuation variants are unified (’ → ', dashes and hyphens → space) and runs of white space
  collapse to one space.

Word boundaries: scripts written with spaces need a boundary at both ends of a match; scripts
written without (Han, Hiragana, Katakana, Thai, Lao, Khmer, Myanmar) need none, so a name is
found as a substring ("寿司" in "お寿司を"). A change of script is a boundary ("日本のsushi").
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

# Languages whose Latin diacritics may be folded without merging distinct words.
DEFAULT_FOLD_LANGUAGES = ("en", "de", "fr", "es", "it", "pt", "nl", "ca", "sv", "da", "no", "id", "ms", "yo", "ha")
# Languages that attach suffixes (case endings, particles) to names: only the left boundary counts.
DEFAULT_SUFFIXING_LANGUAGES = ("tr", "az", "ko", "fi", "hu", "et")
# Arabic proclitics that attach to the next word: و (and), ف (so), ب (with), ك (like), ل (for),
# and the article ال with their combinations.
ARABIC_PREFIXES = frozenset({"و", "ف", "ب", "ك", "ل", "ال", "وال", "فال", "بال", "كال", "لل", "ولل", "وب", "ول", "فب"})

_CONTINUOUS_RANGES = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x2E80, 0x2FDF),  # CJK radicals
    (0x3005, 0x3007),  # 々 〆 〇
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x31F0, 0x31FF),  # Katakana extensions
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0xFF66, 0xFF9F),  # half-width Katakana
    (0x20000, 0x3134F),  # CJK extensions B-H
)

_ARABIC_DROP = {chr(c) for c in range(0x064B, 0x0660)} | {"\u0670", "\u0640"}
_ARABIC_MAP = {"ى": "ي", "ی": "ي", "ئ": "ي", "ک": "ك", "أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ة": "ه", "ۀ": "ه", "ؤ": "و"}
_PUNCT_MAP = {"’": "'", "‘": "'", "ʼ": "'", "`": "'", "´": "'", "-": " ", "‐": " ", "‑": " ", "‒": " ", "–": " ", "—": " ",
              "―": " ", "_": " ", "·": " ", "・": " "}


_ASCII_TABLE = str.maketrans({k: v for k, v in _PUNCT_MAP.items() if k.isascii()})


def is_continuous(ch: str) -> bool:
    """True for characters of scripts written without spaces between words."""
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in _CONTINUOUS_RANGES)


def is_word_char(ch: str) -> bool:
    """Letters, marks and digits (``\\w`` in ``re`` misses combining vowels such as Devanagari matras)."""
    return unicodedata.category(ch)[0] in "LMN"


def _is_arabic(ch: str) -> bool:
    return 0x0600 <= ord(ch) <= 0x06FF or 0x0750 <= ord(ch) <= 0x077F or 0xFB50 <= ord(ch) <= 0xFEFF


def _is_latin(ch: str) -> bool:
    return ch.isascii() and ch.isalpha() or 0x00C0 <= ord(ch) <= 0x024F or 0x1E00 <= ord(ch) <= 0x1EFF


@dataclass(frozen=True)
class NormalizedText:
    """``text`` is the normalised string; ``starts[i]``/``ends[i]`` the span of the original
    string that normalised character ``i`` came from."""

    original: str
    text: str
    starts: tuple[int, ...]
    ends: tuple[int, ...]

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Original (start, end) of the normalised slice ``text[start:end]``."""
        return self.starts[start], self.ends[end - 1]


class Normalizer:
    """Normalisation rules for one language (see the module docstring)."""

    def __init__(self, language: str, *, fold_case: bool = True, fold_languages: tuple[str, ...] = DEFAULT_FOLD_LANGUAGES,
                 fold_arabic: bool = True):
        self.language = language
        base = language.split("-")[0].lower()
        self.turkic = base in ("tr", "az")
        self.fold_case = fold_case
        self.fold_diacritics = base in {x.split("-")[0].lower() for x in fold_languages}
        self.fold_arabic = fold_arabic
        self._memo: dict[str, str] = {}

    def _cluster(self, cluster: str) -> str:
        done = self._memo.get(cluster)
        if done is None:
            done = self._memo[cluster] = self._cluster_uncached(cluster)
        return done

    def _cluster_uncached(self, cluster: str) -> str:
        out = unicodedata.normalize("NFKC", cluster)
        if self.fold_case:
            if self.turkic:
                out = out.replace("I", "ı").replace("İ", "i")
            out = out.casefold()
        if self.fold_diacritics and out and _is_latin(out[0]):
            out = "".join(c for c in unicodedata.normalize("NFD", out) if not unicodedata.combining(c))
            out = unicodedata.normalize("NFC", out)
        if self.fold_arabic and any(_is_arabic(c) for c in out):
            out = "".join(_ARABIC_MAP.get(c, c) for c in out if c not in _ARABIC_DROP)
        return "".join(_PUNCT_MAP.get(c, " " if c.isspace() else c) for c in out)

    def normalize(self, text: str) -> NormalizedText:
        chars: list[str] = []
        starts: list[int] = []
        ends: list[int] = []
        i, n = 0, len(text)
        while i < n:
            j = i + 1
            while j < n and unicodedata.combining(text[j]):
                j += 1
            for c in self._cluster(text[i:j]):
                if c == " " and (not chars or chars[-1] == " "):
                    if chars:
                        ends[-1] = j  # a run of spaces is one space spanning the whole run
                    continue
                chars.append(c)
                starts.append(i)
                ends.append(j)
            i = j
        while chars and chars[-1] == " ":
            chars.pop()
            starts.pop()
            ends.pop()
        return NormalizedText(text, "".join(chars), tuple(starts), tuple(ends))

    def key(self, label: str) -> str:
        """The normalised form of a name (what the index is keyed by): ``normalize(label).text``,
        computed without the offsets."""
        if label.isascii():
            out = (label.casefold() if self.fold_case and not self.turkic else self._cluster_all(label))
            out = out.translate(_ASCII_TABLE)
        else:
            out = self._cluster_all(label)
        return " ".join(out.split())

    def _cluster_all(self, label: str) -> str:
        parts = []
        i, n = 0, len(label)
        while i < n:
            j = i + 1
            while j < n and unicodedata.combining(label[j]):
                j += 1
            parts.append(self._cluster(label[i:j]))
            i = j
        return "".join(parts)


def boundary_ok(text: str, start: int, end: int, *, suffixing: bool = False, arabic_prefixes: bool = False) -> bool:
    """May ``text[start:end]`` be a match? Both ends must be word boundaries unless the
    characters at that end belong to a script written without spaces; in a suffixing language
    the right end may run into a suffix; in Arabic the left end may follow a proclitic."""
    if start < 0 or end > len(text) or start >= end:
        return False

    def closed(a: str, b: str) -> bool:  # True when a|b is NOT a boundary
        return is_word_char(a) and is_word_char(b) and not is_continuous(a) and not is_continuous(b)

    left = start == 0 or not closed(text[start - 1], text[start])
    if not left and arabic_prefixes:
        ws = start
        while ws > 0 and is_word_char(text[ws - 1]):
            ws -= 1
        left = text[ws:start] in ARABIC_PREFIXES
    if not left:
        return False
    return suffixing or end == len(text) or not closed(text[end - 1], text[end])


def script_min_length(key: str, *, continuous: int, other: int) -> bool:
    """Is a normalised name long enough to be matched? Scripts without spaces need fewer
    characters (one Han character carries a morpheme; three Latin letters barely do)."""
    if not key.strip():
        return False
    if key.isascii():
        return sum(c.isalnum() for c in key) >= other
    letters = [c for c in key if is_word_char(c)]
    if letters and all(is_continuous(c) for c in letters):
        return len(letters) >= continuous
    if letters and all(0xAC00 <= ord(c) <= 0xD7AF for c in letters):  # Hangul syllables
        return len(letters) >= continuous
    return len(letters) >= other
