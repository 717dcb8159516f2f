"""Configs of the steering methods (torch-free: ``plugin.py`` imports this module)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from plurieval.api import CommaList, DirectionConfig


class LanguageFields(BaseModel):
    """What a standalone ``fit(model, examples)`` needs to know about a language contrast; on a
    benchmark the contrast comes from the benchmark, and ``source_languages`` (when set)
    narrows its negative side."""

    model_config = ConfigDict(extra="forbid")
    target_language: str | None = Field(None, description="language to steer towards (standalone fit; benchmarks set it per unit)")
    source_languages: CommaList | None = Field(
        None, description="languages to steer away from (default: the benchmark's source languages)")


class DiffMeanConfig(DirectionConfig, LanguageFields):
    """DiffMean: unit(mean(positive) − mean(negative))."""


class PCAConfig(DirectionConfig, LanguageFields):
    """First principal component of pooled positive+negative activations."""


class LDAConfig(DirectionConfig, LanguageFields):
    shrinkage: float | Literal["auto"] = Field("auto", description="covariance shrinkage ('auto' = Ledoit–Wolf)")


class ProbeConfig(DirectionConfig, LanguageFields):
    C: float = Field(1.0, gt=0, description="inverse L2 strength of the logistic-regression probe")


class SAEConfig(DirectionConfig, LanguageFields):
    expansion: int = Field(4, ge=1, description="SAE width = expansion × hidden size")
    l1: float = Field(3e-3, ge=0, description="L1 sparsity coefficient")
    steps: int = Field(600, ge=1, description="Adam steps")
    batch_size: int = Field(256, ge=1)
    lr: float = Field(1e-3, gt=0)
    top_k: int = Field(4, ge=1, description="number of positive-selective features whose decoder rows are added")
    seed: int = 0


class LAPEConfig(LanguageFields):
    """LAPE (Tang et al. 2024). α multiplies the target neurons' mean active value."""

    alphas: list[float] = Field(default_factory=lambda: [1.0, 2.0, 4.0], description="multipliers of target-neuron values")
    alpha: float = 2.0
    top_rate: float = Field(0.01, gt=0, le=1, description="share of neurons kept (lowest entropy)")
    filter_rate: float = Field(0.95, gt=0, lt=1, description="dismiss neurons below this probability quantile in every language")
    activation_bar_ratio: float = Field(0.95, gt=0, lt=1, description="quantile a kept neuron's probability must pass to belong to a language")
    deactivate_source: bool = Field(True, description="zero the source languages' neurons")


class PromptingConfig(LanguageFields):
    template: str = Field("{prompt}\n\nAnswer in {language}.", description="{prompt} and {language} (English name)")
