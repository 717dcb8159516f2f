"""Configs of the language-steering methods (torch-free: ``plugin.py`` imports this module)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from plurieval.api import CommaList


class SteeringBaseConfig(BaseModel):
    """Fields every language-steering method shares. ``layers``/``alphas`` are the sweep grid a
    benchmark searches (best on dev, reported on test); ``layer``/``alpha`` are what a single
    ``fit`` uses outside a sweep."""

    model_config = ConfigDict(extra="forbid")
    target_language: str | None = Field(None, description="language to steer towards (set by the benchmark per target)")
    source_languages: CommaList | None = Field(
        None, description="languages to steer away from (default: the benchmark's prompt languages)")
    layers: list[int] | None = Field(None, description="layers to sweep (default: the benchmark's layer grid)")
    alphas: list[float] = Field(default_factory=lambda: [3.0, 5.0, 8.0], description="steering strengths to sweep")
    layer: int | None = Field(None, description="layer for a single fit outside a sweep (default: middle layer)")
    alpha: float = Field(5.0, description="strength for a single fit outside a sweep")


class DirectionConfig(SteeringBaseConfig):
    alpha_unit: Literal["norm", "absolute"] = Field(
        "norm", description="'norm': α is in units of the layer's median token-residual norm / 10 (comparable across "
        "layers and models); 'absolute': the unit direction is added times α")
    positions: Literal["all", "prompt", "generated"] = Field("all", description="token positions the vector is added at")


class DiffMeanConfig(DirectionConfig):
    """DiffMean: unit(mean(target) − mean(source))."""


class PCAConfig(DirectionConfig):
    """First principal component of pooled target+source activations."""


class LDAConfig(DirectionConfig):
    shrinkage: float | Literal["auto"] = Field("auto", description="covariance shrinkage ('auto' = Ledoit–Wolf)")


class ProbeConfig(DirectionConfig):
    C: float = Field(1.0, gt=0, description="inverse L2 strength of the logistic-regression probe")


class SAEConfig(DirectionConfig):
    expansion: int = Field(4, ge=1, description="SAE width = expansion × hidden size")
    l1: float = Field(3e-3, ge=0, description="L1 sparsity coefficient")
    steps: int = Field(600, ge=1, description="Adam steps")
    batch_size: int = Field(256, ge=1)
    lr: float = Field(1e-3, gt=0)
    top_k: int = Field(4, ge=1, description="number of target-selective features whose decoder rows are added")
    seed: int = 0


class LAPEConfig(SteeringBaseConfig):
    """LAPE (Tang et al. 2024). α multiplies the target neurons' mean active value."""

    alphas: list[float] = Field(default_factory=lambda: [1.0, 2.0, 4.0], description="multipliers of target-neuron values")
    alpha: float = 2.0
    top_rate: float = Field(0.01, gt=0, le=1, description="share of neurons kept (lowest entropy)")
    filter_rate: float = Field(0.95, gt=0, lt=1, description="dismiss neurons below this probability quantile in every language")
    activation_bar_ratio: float = Field(0.95, gt=0, lt=1, description="quantile a kept neuron's probability must pass to belong to a language")
    deactivate_source: bool = Field(True, description="zero the source languages' neurons")


class PromptingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    target_language: str | None = None
    source_languages: CommaList | None = None
    template: str = Field("{prompt}\n\nAnswer in {language}.", description="{prompt} and {language} (English name)")
