"""Language-steering methods: DiffMean, PCA, LDA, linear probe, LAPE neurons, SAE features and
the prompting baseline.

Every method splits into two steps so a sweep can share work:

- ``prepare(acts, target, sources, layer)``: the expensive part (a direction, a neuron set, a
  trained SAE) from a shared ``ActivationSet``; computed once per (target, layer), reused for
  every α.
- ``intervention(state, acts, layer, alpha, target)``: cheap; an ``Intervention`` (or a
  ``PromptRewrite`` for prompting) for one grid point.

``fit(model, examples, run)`` chains both for a single setting, so each method also works on its
own (examples carry ``metadata["language"]``). The math lives in ``plurieval.steering``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from plurieval.api import Example, PluriError, SteeringMethod

from .config import (
    DiffMeanConfig,
    LAPEConfig,
    LDAConfig,
    PCAConfig,
    ProbeConfig,
    PromptingConfig,
    SAEConfig,
    SteeringBaseConfig,
)


def _group_prompts(examples: Sequence[Example]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for ex in examples:
        lang = ex.metadata.get("language")
        if not lang:
            raise PluriError(f"example {ex.id!r} has no metadata['language']; language steering needs it")
        groups.setdefault(lang, []).append(ex.input if isinstance(ex.input, str) else str(ex.input))
    return groups


class LanguageSteering(SteeringMethod):
    """Base: ``needs`` says which parts of the ``ActivationSet`` the method reads ("means",
    "tokens", "lape"); ``sweeps_layers`` is False for methods without a layer choice."""

    needs: ClassVar[frozenset[str]] = frozenset({"means"})
    sweeps_layers: ClassVar[bool] = True

    def grid(self, default_layers: Sequence[int]) -> list[tuple[int | None, float | None]]:
        layers = list(self.config.layers or default_layers) if self.sweeps_layers else [None]
        return [(layer, alpha) for layer in layers for alpha in self.config.alphas]

    def sources(self, default: Sequence[str], target: str) -> list[str]:
        return [s for s in (self.config.source_languages or default) if s != target]

    def prepare(self, acts: Any, target: str, sources: Sequence[str], layer: int | None) -> Any:
        raise NotImplementedError

    def intervention(self, state: Any, acts: Any, layer: int | None, alpha: float | None, target: str) -> Any:
        raise NotImplementedError

    def fit(self, model: Any, examples: Sequence[Example], run: Any = None) -> Any:
        from plurieval.api import collect_language_activations

        cfg: SteeringBaseConfig = self.config
        if not cfg.target_language:
            raise PluriError(f"{type(self).__name__}.fit needs config.target_language")
        groups = _group_prompts(examples)
        target = cfg.target_language
        sources = [s for s in (cfg.source_languages or sorted(groups)) if s != target]
        missing = [lang for lang in [target, *sources] if lang not in groups]
        if missing:
            raise PluriError(f"no training examples for language(s) {missing}; have {sorted(groups)}")
        layer = cfg.layer if cfg.layer is not None else model.num_layers // 2
        acts = None
        if self.needs:
            def extract(prompts: list[str], points: list[str]) -> dict[str, Any]:
                fn = run.model.extract if run is not None else model.extract
                return fn(prompts, points, reduce="all", chat=False)

            acts = collect_language_activations(
                extract, {k: groups[k] for k in [target, *sources]}, [layer],
                num_model_layers=model.num_layers, with_tokens="tokens" in self.needs, with_lape="lape" in self.needs)
        state = self.prepare(acts, target, sources, layer if self.sweeps_layers else None)
        return self.intervention(state, acts, layer if self.sweeps_layers else None, cfg.alpha, target)


class DirectionSteering(LanguageSteering):
    """Add ``α · unit direction`` at ``blocks.{layer}.resid_pre``, every position."""

    estimator: ClassVar[str] = "diffmean"

    def direction(self, pos: Any, neg: Any) -> Any:
        from plurieval.api import direction_for

        return direction_for(self.estimator, pos, neg, **self._estimator_kw())

    def _estimator_kw(self) -> dict[str, Any]:
        return {}

    def prepare(self, acts: Any, target: str, sources: Sequence[str], layer: int | None) -> Any:
        return self.direction(acts.group(layer, [target]), acts.group(layer, sources))

    def intervention(self, state: Any, acts: Any, layer: int | None, alpha: float | None, target: str) -> Any:
        from plurieval.api import AddVector

        scale = acts.norms[layer] / 10 if self.config.alpha_unit == "norm" else 1.0
        return AddVector(state.float(), layers=[layer], alpha=float(alpha) * scale, point="resid_pre",
                         positions=self.config.positions,
                         card={"method": self.estimator, "target": target, "layer": layer, "alpha": alpha,
                               "alpha_unit": self.config.alpha_unit})


class DiffMean(DirectionSteering):
    estimator = "diffmean"


class PCASteering(DirectionSteering):
    estimator = "pca"


class LDASteering(DirectionSteering):
    estimator = "lda"

    def _estimator_kw(self) -> dict[str, Any]:
        return {"shrinkage": self.config.shrinkage}


class ProbeSteering(DirectionSteering):
    estimator = "probe"

    def _estimator_kw(self) -> dict[str, Any]:
        return {"C": self.config.C}


class SAESteering(DirectionSteering):
    """Train a small ReLU SAE on the layer's token activations (all languages), pick the
    ``top_k`` features most active on the target language relative to the sources, and add
    their (activation-weighted) decoder directions."""

    estimator = "sae"
    needs = frozenset({"tokens"})

    def prepare(self, acts: Any, target: str, sources: Sequence[str], layer: int | None) -> Any:
        import torch

        from plurieval.api import feature_direction, select_features, train_sae

        cfg: SAEConfig = self.config
        key = (layer, tuple(acts.languages))
        cache = self.__dict__.setdefault("_saes", {})
        if key not in cache:  # one SAE per layer, shared by every target language
            x = torch.cat([acts.tokens[layer][lang] for lang in acts.languages])
            cache[key] = train_sae(x, cfg.expansion * x.shape[1], l1=cfg.l1, steps=cfg.steps,
                                   batch_size=cfg.batch_size, lr=cfg.lr, seed=cfg.seed)
        sae = cache[key]
        pos, neg = acts.group(layer, [target], "tokens"), acts.group(layer, sources, "tokens")
        feats = select_features(sae, pos, neg, k=cfg.top_k)
        return feature_direction(sae, feats, pos)


class LAPESteering(LanguageSteering):
    """Deactivate the source languages' LAPE neurons (set to 0) and activate the target's (set
    to α × their mean active value on target-language text), at every layer that has any."""

    needs = frozenset({"lape"})
    sweeps_layers = False

    def prepare(self, acts: Any, target: str, sources: Sequence[str], layer: int | None) -> Any:
        from plurieval.api import select_language_neurons

        cfg: LAPEConfig = self.config
        stats = acts.lape
        cache = self.__dict__.setdefault("_selection", {})
        key = tuple(stats.languages)
        if key not in cache:
            cache[key] = select_language_neurons(stats.probabilities(), stats.languages, top_rate=cfg.top_rate,
                                                 filter_rate=cfg.filter_rate,
                                                 activation_bar_ratio=cfg.activation_bar_ratio)
        selection = cache[key]
        values = stats.mean_active_value()[..., stats.languages.index(target)]  # [layers, neurons]
        return {"target": selection.get(target, {}), "sources": [selection.get(s, {}) for s in sources],
                "values": values}

    def intervention(self, state: Any, acts: Any, layer: int | None, alpha: float | None, target: str) -> Any:
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
            raise PluriError(f"LAPE found no language-specific neurons for {target!r}; "
                             "raise top_rate or use more training questions")
        neurons = {lyr: torch.tensor(sorted(d)) for lyr, d in per_layer.items()}
        values = {lyr: torch.tensor([d[n] for n in sorted(d)]) for lyr, d in per_layer.items()}
        n_target = sum(len(i) for i in state["target"].values())
        return NeuronIntervention(neurons, values=values,
                                  card={"method": "lape", "target": target, "alpha": alpha, "target_neurons": n_target})


class Prompting(LanguageSteering):
    """Baseline: append "Answer in <language>." to the prompt; no hooks, no training."""

    needs = frozenset()
    sweeps_layers = False

    def grid(self, default_layers: Sequence[int]) -> list[tuple[int | None, float | None]]:
        return [(None, None)]

    def prepare(self, acts: Any, target: str, sources: Sequence[str], layer: int | None) -> Any:
        return None

    def intervention(self, state: Any, acts: Any, layer: int | None, alpha: float | None, target: str) -> Any:
        from plurieval.api import PromptRewrite

        return PromptRewrite(self.config.template, target)

    def fit(self, model: Any, examples: Sequence[Example], run: Any = None) -> Any:
        if not self.config.target_language:
            raise PluriError("Prompting.fit needs config.target_language")
        return self.intervention(None, None, None, None, self.config.target_language)


FACTORIES = {"diffmean": DiffMean, "pca": PCASteering, "lda": LDASteering, "probe": ProbeSteering,
             "sae": SAESteering, "lape": LAPESteering, "prompting": Prompting}
CONFIGS = {"diffmean": DiffMeanConfig, "pca": PCAConfig, "lda": LDAConfig, "probe": ProbeConfig, "sae": SAEConfig,
           "lape": LAPEConfig, "prompting": PromptingConfig}
