"""Fitting the steering method a MAKIEval run evaluates.

This is the only place the benchmark touches a steering method, through the plain
``SteeringMethod.fit(model, examples, run)`` contract: the examples are a parallel question set
(default: the CLaS-Bench sample, through its registered dataset) in the target language and the
source language(s), each with ``metadata["language"]``, so the method fits a target-vs-source
contrast ("steer to German": German questions vs English ones). When core owns the steering
protocol (benchmarks declare contrasts, core fits), this function becomes that declaration.
"""

from __future__ import annotations

from typing import Any

from plurieval.api import PluriError, PromptRewrite

from .config import SteeringConfig


def fit_intervention(ctx: Any, cfg: SteeringConfig) -> tuple[Any, dict[str, Any]]:
    """(intervention or prompt rewrite, description for the summary); (None, {}) without a method."""
    if ctx.method is None:
        return None, {}
    spec, method_cfg = ctx.components["method"]
    fields = type(method_cfg).model_fields
    target = cfg.target or getattr(method_cfg, "target_language", None)
    if not target:
        raise PluriError(f"method {spec.name!r} needs a language to steer towards: --set steering.target=de "
                         f"(or --set method.target_language=de)")
    sources = [s for s in (cfg.sources or getattr(method_cfg, "source_languages", None) or ["en"]) if s != target]
    if not sources:
        raise PluriError(f"steering to {target!r} needs a different source language: --set steering.sources=en")
    params = dict(cfg.dataset_params)
    params.setdefault("languages", [target, *sources])
    try:
        dataset = ctx.host.get("dataset", cfg.dataset).create(params, where="benchmark.params.steering.dataset_params")
        examples = dataset.load(cfg.split)
    except PluriError as err:
        raise PluriError(f"steering contrast for {target!r} vs {', '.join(sources)}: {err} (choose a parallel set that "
                         f"has these languages with --set steering.dataset=NAME, e.g. clasbench-parallel)") from None
    have = {e.metadata.get("language") for e in examples}
    missing = [lang for lang in [target, *sources] if lang not in have]
    if missing:
        raise PluriError(f"steering contrast: {cfg.dataset!r} has no {cfg.split} questions in {', '.join(missing)}")
    ctx.add_dataset(dataset.info(examples, cfg.split))
    update = {k: v for k, v in (("target_language", target), ("source_languages", sources)) if k in fields}
    method = spec.create(method_cfg.model_copy(update=update)) if update else ctx.method
    intervention = method.fit(ctx.model, examples, ctx)
    info: dict[str, Any] = {"method": spec.name, "target": target, "sources": sources, "contrast": cfg.dataset,
                            "split": cfg.split, "examples": len(examples)}
    if isinstance(intervention, PromptRewrite):
        info["prompt_template"] = intervention.template
        return intervention, info
    if intervention is None or not hasattr(intervention, "save"):
        raise PluriError(f"method {spec.name!r}.fit returned {type(intervention).__name__}, not an intervention")
    folder = ctx.artifact_path(f"artifacts/intervention_{target}")
    intervention.save(folder, card={"benchmark": "makieval", "target": target, "sources": sources,
                                    "contrast": cfg.dataset, "model": ctx.model_description().get("id"),
                                    "model_weights_hash": ctx.model_description().get("weights_hash")})
    info["intervention_hash"] = ctx.add_intervention(f"steer_{target}", folder)
    info["card"] = dict(getattr(intervention, "card", {}) or {})
    return intervention, info
