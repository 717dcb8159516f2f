"""MAKIEval-style cultural awareness for plurieval: open-ended prompts per (language, country,
topic), entity linking against a knowledge base (offline ``culture-kb`` gazetteer or Wikidata),
and the four metrics (granularity, diversity, cultural specificity, cross-lingual consensus).
See docs/makieval.md."""
