"""Steering methods: DiffMean, PCA, LDA, linear probe, SAE features (all direction methods, on
every steering benchmark), LAPE neurons and the prompting baseline (language contrasts only).

They implement core's steering protocol (``plurieval.api.SteeringMethod``): the direction
methods through ``plurieval.api.DirectionMethod``, which turns a direction per layer into the
candidates a benchmark asks for (added × α for CLaS-Bench, ablated for PolyRefuse). Each also
works on its own: ``fit(model, examples)`` with ``target_language`` (and ``layer``/``alpha``)
in its config and examples carrying ``metadata["language"]``. The math lives in
``plurieval.steering``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from plurieval.api import (
    ActivationRequest,
    Candidate,
    Contrast,
    DirectionMethod,
    Example,
    PluriError,
    SteeringMethod,
    SteeringTask,
    fit_standalone,
)

from .config import DiffMeanConfig, LAPEConfig, LDAConfig, PCAConfig, ProbeConfig, PromptingConfig, SAEConfig


def group_by_language(examples: Sequence[Example]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for ex in examples:
        lang = ex.metadata.get("language")
        if not lang:
            raise PluriError(f"example {ex.id!r} has no metadata['language']; language steering needs it")
        groups.setdefault(lang, []).append(ex.input if isinstance(ex.input, str) else str(ex.input))
    return groups


class LanguageContrasts:
    """What the language methods share: ``source_languages`` narrows a language contrast's
    negative side, and ``fit(model, examples)`` runs the method on its own."""

    config: Any

    def narrowed(self, contrast: Contrast, task: SteeringTask) -> Contrast:
        sources = self.config.source_languages
        if not sources or task.kind != "language":
            return contrast
        by_language = {task.group_languages.get(g, g): g for g in task.groups}
        missing = [s for s in sources if s not in by_language]
        if missing:
            raise PluriError(f"source_languages {missing} have no fit prompts (have {sorted(by_language)})")
        negative = tuple(by_language[s] for s in sources if by_language[s] not in contrast.positive)
        return Contrast(contrast.positive, negative, contrast.target)

    def fit(self, model: Any, examples: Sequence[Example], run: Any = None) -> Any:
        """The intervention for ``config.target_language`` vs the other languages of
        ``examples`` (or ``source_languages``), at ``config.layer`` (default: middle) and
        ``config.alpha``."""
        cfg = self.config
        if not cfg.target_language:
            raise PluriError(f"{type(self).__name__}.fit needs config.target_language")
        groups = group_by_language(examples)
        target = cfg.target_language
        sources = [s for s in (cfg.source_languages or sorted(groups)) if s != target]
        missing = [lang for lang in [target, *sources] if lang not in groups]
        if missing:
            raise PluriError(f"no training examples for language(s) {missing}; have {sorted(groups)}")
        layer = getattr(cfg, "layer", None)
        layer = layer if layer is not None else model.num_layers // 2
        # The grid narrowed to the one setting of the config: the loop's code path, one candidate.
        single = type(self)(cfg.model_copy(update={"alphas": [cfg.alpha], "source_languages": None,
                                                   **({"layers": [layer]} if "layers" in type(cfg).model_fields else {})}))
        extract = run.model.extract if run is not None else None
        return fit_standalone(single, model, {k: groups[k] for k in [target, *sources]},  # type: ignore[arg-type]
                              Contrast((target,), tuple(sources), target), layers=[layer], extract=extract).intervention


class LanguageDirection(LanguageContrasts, DirectionMethod):
    """A direction method with the language conveniences (every estimator below)."""

    def prepare(self, acts: Any, contrast: Contrast, task: SteeringTask) -> Any:
        return super().prepare(acts, self.narrowed(contrast, task), task)


class EstimatorDirection(LanguageDirection):
    """A direction from ``plurieval.steering.directions.direction_for`` by estimator name."""

    def direction(self, positive: Any, negative: Any, *, acts: Any, layer: int, contrast: Contrast) -> Any:
        from plurieval.api import direction_for

        return direction_for(self.estimator, positive, negative, **self.estimator_kw())

    def estimator_kw(self) -> dict[str, Any]:
        return {}


class DiffMean(EstimatorDirection):
    estimator = "diffmean"


class PCASteering(EstimatorDirection):
    estimator = "pca"


class LDASteering(EstimatorDirection):
    estimator = "lda"

    def estimator_kw(self) -> dict[str, Any]:
        return {"shrinkage": self.config.shrinkage}


class ProbeSteering(EstimatorDirection):
    estimator = "probe"

    def estimator_kw(self) -> dict[str, Any]:
        return {"C": self.config.C}


class SAESteering(LanguageDirection):
    """Train a small ReLU SAE on the layer's token activations (every group of the run), pick
    the ``top_k`` features most active on the positive group relative to the negative one, and
    use their (activation-weighted) decoder directions."""

    estimator = "sae"
    needs_tokens = True

    def direction(self, positive: Any, negative: Any, *, acts: Any, layer: int, contrast: Contrast) -> Any:
        import torch

        from plurieval.api import feature_direction, select_features, train_sae

        cfg: SAEConfig = self.config
        key = (layer, tuple(acts.labels))
        cache = self.__dict__.setdefault("_saes", {})
        if key not in cache:  # one SAE per layer, shared by every unit
            x = torch.cat([acts.tokens[layer][g] for g in acts.labels])
            cache[key] = train_sae(x, cfg.expansion * x.shape[1], l1=cfg.l1, steps=cfg.steps,
                                   batch_size=cfg.batch_size, lr=cfg.lr, seed=cfg.seed)
        sae = cache[key]
        pos, neg = acts.group(layer, contrast.positive, "tokens"), acts.group(layer, contrast.negative, "tokens")
        return feature_direction(sae, select_features(sae, pos, neg, k=cfg.top_k), pos)


def _language_only(name: str, what: str, task: SteeringTask) -> str | None:
    if task.kind != "language":
        return (f"{name} {what}, so it needs a contrast between languages; {task.benchmark}'s contrast is "
                f"{task.kind} (use a direction method: diffmean, pca, lda, probe or sae)")
    if task.application != "add":
        return f"{name} {what} and has no direction for {task.benchmark} to {task.application}"
    return None


class LAPESteering(LanguageContrasts, SteeringMethod):
    """Deactivate the source languages' LAPE neurons (set to 0) and activate the target's (set
    to α × their mean active value on target-language text), at every layer that has any."""

    def unsupported(self, task: SteeringTask) -> str | None:
        return _language_only("lape", "edits language-specific MLP neurons found by their activation entropy "
                                      "across languages", task)

    def needs(self, task: SteeringTask) -> ActivationRequest:
        return ActivationRequest(lape=True)

    def prepare(self, acts: Any, contrast: Contrast, task: SteeringTask) -> Any:
        from plurieval.api import select_language_neurons

        contrast = self.narrowed(contrast, task)
        cfg: LAPEConfig = self.config
        stats = acts.lape
        cache = self.__dict__.setdefault("_selection", {})
        key = tuple(stats.languages)
        if key not in cache:
            cache[key] = select_language_neurons(stats.probabilities(), stats.languages, top_rate=cfg.top_rate,
                                                 filter_rate=cfg.filter_rate,
                                                 activation_bar_ratio=cfg.activation_bar_ratio)
        selection = cache[key]
        (target,) = contrast.positive
        values = stats.mean_active_value()[..., stats.languages.index(target)]  # [layers, neurons]
        return {"target": selection.get(target, {}), "sources": [selection.get(s, {}) for s in contrast.negative],
                "values": values, "name": contrast.target or target}

    def candidates(self, state: Any, acts: Any, contrast: Contrast, task: SteeringTask) -> list[Candidate]:
        return [Candidate({"layer": None, "alpha": alpha}, self.intervention(state, alpha)) for alpha in self.config.alphas]

    def intervention(self, state: Any, alpha: float) -> Any:
        import torch

        from plurieval.api import NeuronIntervention

        per_layer: dict[int, dict[int, float]] = {}
        if self.config.deactivate_source:
            for sel in state["sources"]:
                for lyr, idx in sel.items():
                    for n in idx.tolist():
                        per_layer.setdefault(lyr, {})[n] = 0.0
        for lyr, idx in state["target"].items():  # target wins where a neuron is shared
            for n in idx.tolist():
                per_layer.setdefault(lyr, {})[n] = float(alpha) * float(state["values"][lyr, n])
        if not per_layer:
            raise PluriError(f"LAPE found no language-specific neurons for {state['name']!r}; "
                             "raise top_rate or use more training questions")
        neurons = {lyr: torch.tensor(sorted(d)) for lyr, d in per_layer.items()}
        values = {lyr: torch.tensor([d[n] for n in sorted(d)]) for lyr, d in per_layer.items()}
        n_target = sum(len(i) for i in state["target"].values())
        return NeuronIntervention(neurons, values=values, card={"method": "lape", "target": state["name"],
                                                                "alpha": alpha, "target_neurons": n_target})


class Prompting(LanguageContrasts, SteeringMethod):
    """Baseline: append "Answer in <language>." to the prompt; no hooks, no training."""

    def unsupported(self, task: SteeringTask) -> str | None:
        return _language_only("prompting", "asks for an answer in the target language", task)

    def prepare(self, acts: Any, contrast: Contrast, task: SteeringTask) -> Any:
        return None

    def candidates(self, state: Any, acts: Any, contrast: Contrast, task: SteeringTask) -> list[Candidate]:
        from plurieval.api import PromptRewrite

        target = contrast.target or contrast.positive[0]
        return [Candidate({"layer": None, "alpha": None}, PromptRewrite(self.config.template, target))]

    def fit(self, model: Any, examples: Sequence[Example], run: Any = None) -> Any:
        from plurieval.api import PromptRewrite

        if not self.config.target_language:
            raise PluriError("Prompting.fit needs config.target_language")
        return PromptRewrite(self.config.template, self.config.target_language)


FACTORIES = {"diffmean": DiffMean, "pca": PCASteering, "lda": LDASteering, "probe": ProbeSteering,
             "sae": SAESteering, "lape": LAPESteering, "prompting": Prompting}
CONFIGS = {"diffmean": DiffMeanConfig, "pca": PCAConfig, "lda": LDAConfig, "probe": ProbeConfig, "sae": SAEConfig,
           "lape": LAPEConfig, "prompting": PromptingConfig}
