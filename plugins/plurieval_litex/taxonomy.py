"""The LiTEx taxonomy of NLI explanations (Hong et al., EMNLP 2025): eight categories.

The released files name the categories in three schemes plus a typo:

- short (e-SNLI main file, LiveNLI): "Coreference", "Semantic", "Syntactic", "Pragmatic",
  "Absence of Mention", "Logic Conflict", "Factual Knowledge", "Inferential Knowledge";
- long (e-SNLI subsets): "Coreference Resolution", "Semantic-level Inference", ...,
  "Logical Structure Conflict", "World-Informed Knowledge";
- VariErr / IAA: "Pragmatic-Level Inference", "World-Informed Logical Reasoning", and the
  step types "Paraphrastic Inference (Semantic|Syntactic)", "Logical Conflict";
- the typo "Word-Informed Knowledge" (IAA files).

``TAXONOMY.normalize(name)`` maps every one of them (case- and whitespace-insensitively) to a
canonical :class:`Category`; anything else raises ``UnknownCategoryError`` naming the string and
the allowed categories, so a new spelling is noticed instead of silently becoming "other".
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from plurieval.api import DataError


@dataclass(frozen=True)
class Category:
    key: str  # stable identifier used in results and metrics
    name: str  # canonical display name (the paper's)
    group: str  # "text-based" or "world-knowledge"
    definition: str
    aliases: tuple[str, ...] = ()


class UnknownCategoryError(DataError, KeyError):
    def __init__(self, value: object, allowed: Iterable[str]):
        self.value = value
        super().__init__(f"unknown LiTEx category {value!r}; allowed: {', '.join(allowed)} "
                         "(spelling variants of these are accepted too)")

    def __str__(self) -> str:  # KeyError would wrap the message in quotes
        return self.args[0]


CATEGORIES: tuple[Category, ...] = (
    Category("coreference", "Coreference Resolution", "text-based",
             "The explanation links expressions in premise and hypothesis that refer to the same entity "
             "(e.g. 'the man' = 'he').", ("Coreference",)),
    Category("semantic", "Semantic-level Inference", "text-based",
             "The explanation relies on word meaning: synonyms, hypernyms, antonyms or paraphrase of key concepts.",
             ("Semantic", "Semantic-level", "Paraphrastic Inference (Semantic)")),
    Category("syntactic", "Syntactic-level Inference", "text-based",
             "The explanation relies on sentence structure: rephrasing, reordering, voice change, or dropping "
             "modifiers and clauses.",
             ("Syntactic", "Syntactic-level", "Paraphrastic Inference (Syntactic)")),
    Category("pragmatic", "Pragmatic-level Inference", "text-based",
             "The explanation relies on what is implied rather than said: implicature, presupposition, "
             "speaker intent.",
             ("Pragmatic", "Pragmatic-level", "Pragmatic-Level Inference")),
    Category("absence_of_mention", "Absence of Mention", "text-based",
             "The explanation points out that the premise does not mention information the hypothesis adds.",
             ()),
    Category("logical_conflict", "Logical Structure Conflict", "text-based",
             "The explanation points to a structural contradiction between premise and hypothesis "
             "(exclusivity, quantifiers, negation, incompatible states).",
             ("Logic Conflict", "Logical Conflict")),
    Category("factual_knowledge", "Factual Knowledge", "world-knowledge",
             "The explanation uses commonsense, factual or domain knowledge not stated in the text.",
             ()),
    Category("world_reasoning", "World-Informed Logical Reasoning", "world-knowledge",
             "The explanation uses real-world logical or causal reasoning (what plausibly follows) beyond the text.",
             ("Inferential Knowledge", "World-Informed Knowledge", "Word-Informed Knowledge")),
)


def _fold(text: str) -> str:
    return re.sub(r"[\s_\-]+", " ", text.strip().lower())


class Taxonomy:
    """The eight categories, with lookup by any accepted spelling."""

    def __init__(self, categories: Iterable[Category] = CATEGORIES):
        self.categories = tuple(categories)
        self._index: dict[str, Category] = {}
        for c in self.categories:
            for alias in (c.key, c.name, *c.aliases):
                self._index[_fold(alias)] = c

    def __iter__(self):
        return iter(self.categories)

    def __len__(self) -> int:
        return len(self.categories)

    @property
    def keys(self) -> list[str]:
        return [c.key for c in self.categories]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.categories]

    def normalize(self, value: str) -> Category:
        if isinstance(value, str):
            cat = self._index.get(_fold(value))
            if cat is not None:
                return cat
        raise UnknownCategoryError(value, self.names)

    def key(self, value: str) -> str:
        return self.normalize(value).key

    def get(self, key: str) -> Category:
        return self.normalize(key)


TAXONOMY = Taxonomy()

__all__ = ["CATEGORIES", "TAXONOMY", "Category", "Taxonomy", "UnknownCategoryError"]
