"""Torch-free pydantic configs of the faithfulness plugin (``plugin.py`` imports them)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Convention = Literal["eraser", "ferret"]


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- methods -------------------------------------------------------------------------------------

_TARGET = Field("log_prob", description="what is explained: log_prob = log p(predicted option) under the "
                                        "softmax over the options' letter log-probabilities; prob = that "
                                        "probability; score = the letter's raw next-token log-probability")
_FIELDS = Field(None, description="input fields whose words are explained (default: premise and hypothesis "
                                  "for NLI items, every text field for other option items, 'prompt' otherwise)")
_CHAT = Field(True, description="wrap prompts in the model's chat template (as option-logits does)")
_WORDS = Field("sum", description="token scores → word score: sum (default), mean, or max (largest magnitude)")


class AttributionConfig(_Config):
    target: Literal["log_prob", "prob", "score"] = _TARGET
    fields: list[str] | None = _FIELDS
    chat: bool = _CHAT


class IntegratedGradientsConfig(AttributionConfig):
    steps: int = Field(16, ge=1, le=1000, description="interpolation steps between baseline and input (captum "
                                                       "n_steps; captum's default is 50, see docs/faithfulness.md for "
                                                       "the time/accuracy trade-off and the recorded convergence delta)")
    integration: Literal["gausslegendre", "riemann_trapezoid", "riemann_middle", "riemann_left",
                         "riemann_right"] = Field("gausslegendre", description="captum's integral approximation")
    baseline: Literal["auto", "zero", "pad", "unk", "mask"] = Field(
        "auto", description="baseline embedding of every explained token: auto (default) = the embedding of the "
                            "tokenizer's mask token, else its unknown token, else its pad token, else zero; or one of "
                            "them explicitly (zero = captum's default, a poor start for RMS-normalised models: their "
                            "output barely changes along most of the path, see docs/faithfulness.md)")
    word_aggregation: Literal["sum", "mean", "max"] = _WORDS
    examples_per_call: int | None = Field(None, ge=1, description="examples attributed together in one captum "
                                                                  "call (default 1: each item's steps are batched, "
                                                                  "batch size steps per forward pass)")


class InputXGradientConfig(AttributionConfig):
    word_aggregation: Literal["sum", "mean", "max"] = _WORDS
    examples_per_call: int | None = Field(None, ge=1, description="examples per captum call (default: batch size)")


class GradientConfig(InputXGradientConfig):
    absolute: bool = Field(True, description="|gradient| (captum Saliency abs=True); a token's score is then the "
                                             "L1 norm of its embedding gradient")


class PerturbationConfig(AttributionConfig):
    baseline: Literal["auto", "zero", "pad", "unk", "mask"] = Field(
        "auto", description="embedding that replaces a removed word's tokens: auto (default) = the mask token's, "
                            "else the unknown token's, else the pad token's, else zero; or one of them explicitly")


class ShapleyConfig(PerturbationConfig):
    samples: int = Field(4, ge=1, le=1000, description="random permutations of the words (captum n_samples; costs "
                                                       "samples × (words + 1) forward passes per item)")


class RandomConfig(AttributionConfig):
    seed: int | None = Field(None, description="default: the run seed; scores also depend on the example id")


# --- metrics -------------------------------------------------------------------------------------

JSONL_FORM = """{"prediction": {"distribution": [p_1, ..., p_K], "label": "<predicted option>",
                "extra": {"target": {"kind": "option", "index": j, ...}, "features": [{"field", "index", "word"}, ...],
                          "attribution": [one score per feature], "item": {"fields": [...], "chat": true}},
                "queries": {"<metric name>": {"settings": {"metric": ..., "convention": ..., "removal": ...},
                                              "masks": ["1101...", ...],      # one character per feature, 1 = kept
                                              "outputs": [[p_1, ..., p_K], ...]}}},   # the model's option distribution per mask
 "reference": {"label": "<gold>", "rationale": [0/1 per feature] | null, ...}}
Made by `plurieval run faithfulness --method <attribution method>`; a results.jsonl row has this form."""

PLAUSIBILITY_FORM = """{"prediction": {"extra": {"attribution": [one score per feature], ...}, ...},
 "reference": {"rationale": [0/1 per feature, the human highlights], ...}}   (rationale null: no score)"""



_CONVENTION = Field("eraser", description="eraser (default) or ferret: ranking, ties, thresholds, empty/full "
                                          "rationales (see `plurieval show` description and docs/faithfulness.md)")
_REMOVAL = Field(None, description="how removed words are removed: delete (default of both conventions) or mask "
                                   "(the tokenizer's mask token, else unk, else pad)")


class SingleRationaleConfig(_Config):
    convention: Convention = _CONVENTION
    removal: Literal["delete", "mask"] | None = _REMOVAL
    k: int | float | None = Field(None, description="rationale size: an int (words) or a float (fraction of the words); "
                                                    "default: eraser = the item's human rationale length (0.2 of the "
                                                    "words without one), ferret = 5")


class AOPCConfig(_Config):
    convention: Convention = _CONVENTION
    removal: Literal["delete", "mask"] | None = _REMOVAL
    thresholds: list[float] | None = Field(None, description="fractions of the words; default: eraser 0.01, 0.05, 0.1, "
                                                             "0.2, 0.5; ferret 0.1, 0.2, ..., 1.0")


class TauLOOConfig(_Config):
    convention: Convention = _CONVENTION
    removal: Literal["delete", "mask"] | None = _REMOVAL


class PlausibilityConfig(_Config):
    discretise: Literal["top_k", "fraction", "threshold"] = Field(
        "top_k", description="hard rationale from the scores: top_k words (ferret), a fraction of the words, or "
                             "every word with score > threshold")
    k: int = Field(5, ge=1, description="top_k: number of words (ferret's top_k_rationale default 5)")
    fraction: float = Field(0.2, gt=0, le=1, description="fraction: share of the words (⌊fraction·n⌋)")
    threshold: float = Field(0.0, description="threshold: keep words whose score is above it")
    only_pos: bool = Field(True, description="only positive scores can enter the rationale (ferret's default); "
                                             "False ranks by |score| as ferret does")


class AUPRCConfig(_Config):
    only_pos: bool = Field(True, description="negative scores count as 0 (ferret's default)")


# --- data and benchmark ----------------------------------------------------------------------------

Source = Literal["esnli", "chaosnli", "varierr", "sample"]


class ESNLIConfig(_Config):
    data_dir: str | None = Field(None, description="shared data root holding litex/ (or the litex folder); default "
                                                   "$PLURIEVAL_DATA_DIR, else the self-written sample shipped here")
    rationale: Literal["majority", "any", "all"] = Field(
        "majority", description="human rationale of a pair from its annotators' e-SNLI highlights: words highlighted "
                                "by at least half (majority), by anyone (any) or by everyone (all)")
    order: Literal["file", "spread"] = Field(
        "file", description="file: the data file's order; spread: the faithfulness benchmark's fixed pseudo-random "
                            "order (sha256 of the item id), so the first N are what `--limit N` evaluates (the "
                            "leaderboard pins this)")


class FaithfulnessBenchmarkConfig(ESNLIConfig):
    source: Source | None = Field(None, description="esnli (default: e-SNLI pairs with human highlights, via LiTEx); "
                                                    "chaosnli / varierr (ChaosNLI-MNLI test / VariErr items, no "
                                                    "highlights: plausibility is skipped; CC BY-NC); sample")
    split: Literal["dev", "test"] = Field("test", description="ChaosNLI split (source=chaosnli)")
    order: Literal["spread", "file"] = Field(
        "spread", description="spread: a fixed pseudo-random order (sha256 of the item id), so --limit N samples "
                              "across premises and labels; file: the data file's order")
    report: bool = Field(True, description="write artifacts/attributions.html (words coloured by attribution, "
                                           "human highlights underlined)")
