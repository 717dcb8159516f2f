"""The refusal direction (Arditi et al. 2024, "Refusal in language models is mediated by a single
direction"; used across 14 languages by PolyRefuse, Wang et al. 2025).

Candidates: ``mean(harmful) − mean(harmless)`` of ``blocks.{i}.resid_pre`` (the input of
decoder layer i) at each post-instruction position of the chat template (the tokens after the
user's text, e.g. ``<|im_end|>\\n<|im_start|>assistant\\n``), on *train* prompts: one candidate
per (layer, position). The method is a ``DirectionMethod`` like DiffMean; what differs is
where it reads (several template positions instead of one vector per prompt). Which candidate
is used is the benchmark's selection rule (``plurieval_polyrefuse.selection``: lowest refusal
score under ablation with a KL limit on harmless prompts); ``fit(model, examples)`` applies that
same rule on its own.

Interventions: directional ablation ``x ← x − (x·r̂)r̂`` at every layer's resid_pre, attn_out
and mlp_out (bypass), and activation addition ``x ← x + r`` at the selected layer's resid_pre,
all positions (induce).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from plurieval.api import (
    ActivationRequest,
    Candidate,
    Contrast,
    DirectionMethod,
    Example,
    PluriError,
    SteeringTask,
    post_instruction_positions,
)
from plurieval_polyrefuse.config import RefusalDirectionConfig, RefusalSelectionConfig


@dataclass
class Selection:
    """Everything a standalone ``fit`` computed (tests and notebooks inspect it)."""

    candidates: list[Candidate]
    positions: list[int]
    layer: int
    position: int
    direction: Any  # [d], the raw mean difference (its norm matters for addition)
    baseline_refusal: float
    scores: list[dict[str, Any]] = field(default_factory=list)  # one per scored candidate
    filters_passed: bool = True

    def ablation(self, card: dict[str, Any] | None = None) -> Any:
        from plurieval.api import DirectionalAblation

        return DirectionalAblation(self.direction, points="all", card=card)

    def addition(self, alpha: float = 1.0, card: dict[str, Any] | None = None) -> Any:
        from plurieval.api import AddVector

        return AddVector(self.direction, layers=[self.layer], alpha=alpha, point="resid_pre", positions="all", card=card)


class RefusalDirection(DirectionMethod):
    estimator = "refusal_direction"

    def __init__(self, config: RefusalDirectionConfig):
        super().__init__(config)
        self.selection: Selection | None = None

    def unsupported(self, task: SteeringTask) -> str | None:
        if not task.reading.chat:
            return ("refusal_direction reads the chat template's post-instruction positions, and "
                    f"{task.benchmark} reads its prompts without a chat template (use diffmean, pca, lda, probe or sae)")
        return None

    def positions(self, task: SteeringTask) -> tuple[int, ...]:
        n = task.suffix_positions
        if self.config.positions:
            n = min(n, self.config.positions)
        return tuple(range(-n, 0))

    def needs(self, task: SteeringTask) -> ActivationRequest:
        return ActivationRequest(positions=self.positions(task), layers=tuple(self.layers(task)))

    def direction(self, positive: Any, negative: Any, *, acts: Any, layer: int, contrast: Contrast) -> Any:
        raise NotImplementedError  # prepare reads positions itself

    def prepare(self, acts: Any, contrast: Contrast, task: SteeringTask) -> dict[tuple[int, int], Any]:
        from plurieval.api import diff_mean

        out = {}
        for layer in self.layers(task):
            for position in acts.positions:
                pos = acts.group_at(layer, contrast.positive, position)
                neg = acts.group_at(layer, contrast.negative, position)
                raw = diff_mean(pos, neg)
                norm = float(raw.double().norm())
                if norm > 0:  # identical groups give no direction at this point
                    d = self.make_direction(raw / norm, pos, neg, layer, acts)
                    d.scale = norm
                    out[(layer, position)] = d
        if not out:
            raise PluriError("refusal_direction: every candidate direction is zero "
                             "(identical harmful and harmless activations?)")
        return out

    def candidates(self, state: dict[tuple[int, int], Any], acts: Any, contrast: Contrast,
                   task: SteeringTask) -> list[Candidate]:
        if task.application == "ablate":
            return [Candidate({"layer": layer, "position": position}, self.ablation(d, contrast), d)
                    for (layer, position), d in state.items()]
        return [Candidate({"layer": layer, "position": position, "alpha": alpha}, self.addition(d, alpha, contrast), d)
                for (layer, position), d in state.items() for alpha in self.config.alphas]

    # --- on its own ---------------------------------------------------------------------------

    def fit(self, model: Any, examples: Sequence[Example], run: Any = None,
            selection: RefusalSelectionConfig | None = None) -> Any:
        """Select the refusal direction from harmful/harmless ``examples`` (``metadata`` kind,
        split and lang) with PolyRefuse's selection rule and return its directional-ablation
        intervention; ``self.selection`` keeps the candidates and their scores."""
        from plurieval.api import ModelWork, Reading, fit_candidates

        from .selection import select_refusal

        cfg = selection or RefusalSelectionConfig()
        groups: dict[tuple[str, str], list[Example]] = {}
        for ex in examples:
            kind = ex.metadata.get("kind", ex.target)
            if kind not in ("harmful", "harmless"):
                raise PluriError(f"refusal_direction: example {ex.id!r} is neither harmful nor harmless "
                                 "(set metadata['kind'] or target)")
            groups.setdefault((ex.metadata.get("split", "train"), kind), []).append(ex)
        train_h, train_n = groups.get(("train", "harmful"), []), groups.get(("train", "harmless"), [])
        if not train_h or not train_n:
            raise PluriError("refusal_direction needs harmful and harmless train examples "
                             f"(got {len(train_h)} harmful, {len(train_n)} harmless)")
        val_h = (groups.get(("val", "harmful")) or train_h)[: cfg.prompts]
        val_n = (groups.get(("val", "harmless")) or train_n)[: cfg.prompts]
        cands = fit_candidates(self, model, {"harmful": [e.input for e in train_h], "harmless": [e.input for e in train_n]},
                               Contrast(("harmful",), ("harmless",)), kind="behaviour", application="ablate",
                               reading=Reading(chat=True, position="last"),
                               layers=refusal_layers(model.num_layers, cfg),
                               extract=run.model.extract if run is not None else None)
        work = ModelWork(model, run.config.batch_size if run is not None else 8)
        result = select_refusal(work, cands, val_h, val_n, cfg, num_layers=model.num_layers)
        best = cands[result.index]
        d = best.direction
        self.selection = Selection(candidates=cands, positions=sorted({c.settings["position"] for c in cands}),
                                   layer=d.layer, position=best.settings["position"], direction=d.vector * d.scale,
                                   baseline_refusal=result.card["baseline_refusal"], scores=result.table,
                                   filters_passed=result.card["filters_passed"])
        sel = self.selection
        return sel.ablation(card={
            "method": "refusal_direction", "model": getattr(model, "name", None), "layer": sel.layer,
            "position": sel.position, "baseline_refusal": sel.baseline_refusal,
            "languages": sorted({e.metadata.get("lang", "?") for e in train_h}),
            "filters_passed": sel.filters_passed,
        })

def refusal_layers(num_layers: int, cfg: RefusalSelectionConfig) -> list[int]:
    """The layers whose candidates the selection rule may pick: every ``layer_stride``-th
    below the last ``prune_layer_fraction`` of the network."""
    max_layer = int(num_layers * (1.0 - cfg.prune_layer_fraction))
    return list(range(0, max(1, max_layer), cfg.layer_stride))


def make_refusal_direction(config: RefusalDirectionConfig) -> RefusalDirection:
    return RefusalDirection(config)


__all__ = ["RefusalDirection", "Selection", "make_refusal_direction", "post_instruction_positions", "refusal_layers"]
