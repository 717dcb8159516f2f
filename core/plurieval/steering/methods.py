"""``DirectionMethod``: the steering protocol implemented once for every method that estimates
one direction per layer from a contrast (DiffMean, PCA, LDA, probes, SAE features, the refusal
direction, a third party's baseline).

A subclass writes ``direction(positive, negative, ...)`` (a unit vector pointing from the
negative towards the positive group); this class turns it into the candidates a benchmark's
task asks for:

- ``application="add"`` (CLaS-Bench): ``x ← x + α·unit·v`` at ``blocks.{layer}.resid_pre``
  for every (layer, α) of the grid, ``unit`` = the layer's median token norm / 10 with
  ``alpha_unit="norm"``;
- ``application="ablate"`` (PolyRefuse): ``x ← x − (x·v)v`` at every layer (one candidate per
  layer; the benchmark may also add ``scale·v`` back at the direction's layer to induce).
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, ClassVar

import torch

from plurieval.components import ActivationRequest, Candidate, Contrast, Direction, SteeringMethod, SteeringTask
from plurieval.errors import PluriError


class DirectionMethod(SteeringMethod):
    """Config: a ``plurieval.steering.config.DirectionConfig`` (``layers``, ``alphas``,
    ``alpha_unit``, ``positions``). ``estimator`` names the method in intervention cards;
    ``needs_tokens``: also extract token-level residuals (for dictionary learning)."""

    estimator: ClassVar[str] = "direction"
    needs_tokens: ClassVar[bool] = False

    def layers(self, task: SteeringTask) -> list[int]:
        layers = list(self.config.layers or task.layers)
        bad = [x for x in layers if not 0 <= x < task.num_layers]
        if bad:
            raise PluriError(f"{self.estimator}: layers {bad} out of range for a {task.num_layers}-layer model")
        if not layers:
            raise PluriError(f"{self.estimator}: no layers to fit at (set method.layers=[...])")
        return layers

    def needs(self, task: SteeringTask) -> ActivationRequest:
        return ActivationRequest(features=True, tokens=self.needs_tokens, layers=tuple(self.layers(task)))

    @abstractmethod
    def direction(self, positive: torch.Tensor, negative: torch.Tensor, *, acts: Any, layer: int,
                  contrast: Contrast) -> torch.Tensor:
        """Unit ``[d]`` direction from ``[n, d]`` per-prompt activations of the two groups."""

    def prepare(self, acts: Any, contrast: Contrast, task: SteeringTask) -> dict[int, Direction]:
        """One direction per layer; a layer where the two groups are indistinguishable (equal
        means: at layer 0 both groups' last token is the same template token) has none."""
        out: dict[int, Direction] = {}
        for layer in self.layers(task):
            pos, neg = acts.group(layer, contrast.positive), acts.group(layer, contrast.negative)
            if float((pos.double().mean(0) - neg.double().mean(0)).norm()) == 0.0:
                continue
            vector = self.direction(pos, neg, acts=acts, layer=layer, contrast=contrast)
            norm = float(vector.double().norm())
            if norm > 0 and norm == norm:
                out[layer] = self.make_direction(vector, pos, neg, layer, acts)
        if not out:
            raise PluriError(f"{self.estimator}: the groups {list(contrast.positive)} and {list(contrast.negative)} "
                             f"have identical activations at every layer {self.layers(task)}; nothing to steer along")
        return out

    @staticmethod
    def make_direction(vector: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor, layer: int,
                       acts: Any) -> Direction:
        """A :class:`Direction` whose ``scale`` is the group-mean gap projected on ``vector``."""
        gap = float((positive.double().mean(0) - negative.double().mean(0)) @ vector.double())
        return Direction(vector=vector, layer=layer, scale=gap, unit=acts.norms.get(layer, 10.0) / 10)

    def candidates(self, state: dict[int, Direction], acts: Any, contrast: Contrast,
                   task: SteeringTask) -> list[Candidate]:
        if task.application == "ablate":
            return [Candidate({"layer": layer}, self.ablation(d, contrast), d) for layer, d in state.items()]
        return [Candidate({"layer": layer, "alpha": alpha}, self.addition(d, alpha, contrast), d)
                for layer, d in state.items() for alpha in self.config.alphas]

    def addition(self, d: Direction, alpha: float, contrast: Contrast) -> Any:
        from plurieval.models.interventions import AddVector

        scale = d.unit if self.config.alpha_unit == "norm" else 1.0
        return AddVector(d.vector.float(), layers=[d.layer], alpha=float(alpha) * scale, point=d.point,
                         positions=self.config.positions,
                         card={"method": self.estimator, "target": contrast.target, "layer": d.layer, "alpha": alpha,
                               "alpha_unit": self.config.alpha_unit})

    def ablation(self, d: Direction, contrast: Contrast) -> Any:
        from plurieval.models.interventions import DirectionalAblation

        return DirectionalAblation(d.vector.float(), points="all",
                                   card={"method": self.estimator, "layer": d.layer, "scale": d.scale})


def induce(d: Direction) -> Any:
    """``x ← x + scale·v`` at the direction's layer, every position: the direction added back
    with its natural magnitude (Arditi et al.'s "activation addition")."""
    from plurieval.models.interventions import AddVector

    return AddVector(d.vector.float() * d.scale, layers=[d.layer], point=d.point, positions="all",
                     card={"layer": d.layer, "scale": d.scale})


__all__ = ["DirectionMethod", "induce"]
