"""Config of a direction-steering method (torch-free: plugins' ``plugin.py`` import it).

``DirectionMethod`` (``plurieval.steering.methods``) reads these fields; a direction method's
own config subclasses :class:`DirectionConfig` and adds its estimator's knobs."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class DirectionConfig(BaseModel):
    """The grid of a direction method. ``layers``/``alphas`` are what a benchmark searches
    (chosen by its selection rule); ``layer``/``alpha`` are what a single standalone ``fit``
    uses. On a benchmark that ablates directions (PolyRefuse) α is not swept: an ablation has
    no strength, and an addition uses the direction's natural magnitude."""

    model_config = ConfigDict(extra="forbid")
    layers: list[int] | None = Field(None, description="layers to sweep (default: the benchmark's layer grid)")
    alphas: list[float] = Field(default_factory=lambda: [3.0, 5.0, 8.0], description="steering strengths to sweep")
    layer: int | None = Field(None, description="layer for a single fit outside a sweep (default: middle layer)")
    alpha: float = Field(5.0, description="strength for a single fit outside a sweep")
    alpha_unit: Literal["norm", "absolute"] = Field(
        "norm", description="'norm': α is in units of the layer's median token-residual norm / 10 (comparable across "
        "layers and models); 'absolute': the unit direction is added times α")
    positions: Literal["all", "prompt", "generated"] = Field("all", description="token positions the vector is added at")


__all__ = ["DirectionConfig"]
