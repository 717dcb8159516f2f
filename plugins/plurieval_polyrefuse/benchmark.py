"""The PolyRefuse benchmark: per-language refusal directions and their cross-lingual transfer,
declared here and run by core's steering loop (``plurieval.api.SteeringBenchmark``) with any
direction method (refusal_direction, diffmean, pca, lda, probe, sae, a third party's).

Protocol (spec_version 1):

1. For each direction language A (a unit): the method fits on A's train prompts, harmful vs
   harmless (``fit_prompts`` per kind, chat template, read at the end of the template); its
   candidates (one per layer, or per layer × post-instruction position) are ablated and the
   selection rule (``plurieval_polyrefuse.selection``) picks one on A's val prompts.
2. Baseline, for each target language B: on B's harmful *test* prompts (``--limit`` per
   language, default 32), greedy completions (``max_new_tokens``) scored by the run's metrics
   (default: logit refusal score, substring refusal and compliance).
3. Transfer (the headline, ``results.jsonl``): for every (A, B), the same with A's directional
   ablation applied → refusal and compliance (= 1 − refusal rate) before/after per pair.
4. Induce: for each A with harmless test prompts, A's direction added at its layer with its
   natural magnitude → refusal rate on A's harmless test prompts (the zh harmless test file
   does not exist upstream: skipped and reported).
5. Cosine similarity of the per-language chosen directions.

Outputs: ``summary.json`` (metrics, per_language, transfer matrices, coverage),
``results.jsonl`` (one row per (A, B, harmful test prompt) under ablation),
``conditions/{baseline,harmless,induce}.jsonl``, ``artifacts/direction_<A>/`` (the chosen
ablation, safetensors + card), ``plots/`` (transfer and cosine heatmaps, refusal score per layer).
"""

from __future__ import annotations

from typing import Any

from plurieval.api import (
    Condition,
    Contrast,
    Example,
    PluriError,
    Probe,
    Reading,
    Selection,
    SteeringBenchmark,
    SteeringPlan,
    SteeringTask,
    SteeringUnit,
    induce,
    mean,
    post_instruction_positions,
)
from plurieval_polyrefuse.config import LANGUAGES, PolyRefuseBenchmarkConfig

DEFAULT_LIMIT = 32
SPLITS = ("train", "val", "test")
KINDS = ("harmful", "harmless")


class PolyRefuseBenchmark(SteeringBenchmark[PolyRefuseBenchmarkConfig]):
    # --- data -----------------------------------------------------------------------------------

    def _data(self, ctx: Any, languages: list[str]) -> dict[tuple[str, str, str], list[Example]]:
        """(lang, split, kind) → examples, from the run's dataset (``RunConfig.dataset`` or
        ``polyrefuse``); a file missing upstream is simply absent."""
        cfg = self.config
        dataset = ctx.components.dataset("polyrefuse", {"source": cfg.source, "languages": languages, "kind": "both"},
                                         where="polyrefuse dataset (benchmark.params.source)")
        out: dict[tuple[str, str, str], list[Example]] = {}
        for split in SPLITS:
            examples = dataset.load(split)
            ctx.add_dataset(dataset.info(examples, split))
            for ex in examples:
                lang, kind = ex.metadata.get("lang"), ex.metadata.get("kind", ex.target)
                if lang in languages and kind in KINDS:
                    out.setdefault((lang, split, kind), []).append(ex)
        return out

    # --- the plan ---------------------------------------------------------------------------------

    def plan(self, ctx: Any) -> SteeringPlan:
        cfg = self.config
        bad = [lg for lg in cfg.languages if lg not in LANGUAGES]
        if bad:
            raise PluriError(f"polyrefuse: unknown languages {bad}; choose from {', '.join(LANGUAGES)}")
        langs = list(cfg.languages)
        dir_langs = list(cfg.direction_languages or langs)
        everything = sorted(set(langs) | set(dir_langs))
        data = self._data(ctx, everything)
        missing = [f"{lg}/{sp}/{k}" for lg in everything for sp in SPLITS for k in KINDS if (lg, sp, k) not in data]
        for a in dir_langs:
            for kind in KINDS:
                if not data.get((a, "train", kind)):
                    raise PluriError(f"polyrefuse: no {kind} train prompts for direction language {a!r}; "
                                     f"drop it from direction_languages or supply the file")
        for b in langs:
            if not data.get((b, "test", "harmful")):
                raise PluriError(f"polyrefuse: no harmful test prompts for {b!r} (the file is missing); drop {b!r} "
                                 "from 'languages' or supply it")
        limit = ctx.config.limit or DEFAULT_LIMIT
        model = ctx.model
        layers = refusal_layers(model.num_layers, cfg)
        groups = {f"{a}/{kind}": [e.input for e in data[(a, "train", kind)][: cfg.fit_prompts]]
                  for a in dir_langs for kind in KINDS}
        task = SteeringTask(
            benchmark="polyrefuse", kind="behaviour", application="ablate", reading=Reading(chat=True, position="last"),
            layers=tuple(layers), num_layers=model.num_layers, groups=groups,
            group_languages={g: g.split("/")[0] for g in groups},
            suffix_positions=post_instruction_positions(model), seed=ctx.config.seed)
        units = [SteeringUnit(a, Contrast((f"{a}/harmful",), (f"{a}/harmless",)), {"direction_language": a})
                 for a in dir_langs]
        baseline = [self._condition("baseline", None, b, data[(b, "test", "harmful")][:limit]) for b in langs]
        if cfg.induce:
            baseline += [self._condition("harmless", None, a, data[(a, "test", "harmless")][:limit])
                         for a in dir_langs if data.get((a, "test", "harmless"))]
        metrics = ("refusal_score", "refusal_substring", "compliance_substring") + (
            ("refusal_judge",) if cfg.judge_model_path else ())
        params: dict[str, dict[str, Any]] = {}
        if cfg.refusal_tokens:
            params["refusal_score"] = {"refusal_tokens": cfg.refusal_tokens}
        if cfg.refusal_phrases:
            params["refusal_substring"] = params["compliance_substring"] = {"phrases": cfg.refusal_phrases}
        if cfg.judge_model_path:
            params["refusal_judge"] = {"model_path": cfg.judge_model_path}
        return SteeringPlan(task=task, units=units, headline="ablation", baseline=baseline,
                            settings={"max_new_tokens": cfg.max_new_tokens}, artifact="artifacts/direction_{unit}",
                            artifact_name="direction_{unit}", unit_label="direction_language",
                            metrics=metrics, metric_params=params,
                            info={"languages": langs, "direction_languages": dir_langs, "data": data, "limit": limit,
                                  "missing": missing})

    @staticmethod
    def _condition(name: str, a: str | None, b: str, examples: list[Example], iv: Any = None,
                   settings: dict[str, Any] | None = None) -> Condition:
        rows = [Example(id=ex.id, input=ex.input, target={"lang": b, "prompt": ex.input},
                        metadata={"language": b, "english": ex.metadata.get("english")}) for ex in examples]
        return Condition(name, rows, [f"{name}/{a or '-'}/{b}/{ex.id}" for ex in examples], intervention=iv,
                         settings=dict(settings or {}))

    # --- selection: lowest refusal under ablation, harmless KL below the threshold ----------------

    def select(self, unit: SteeringUnit, candidates: list[Any], plan: SteeringPlan, ctx: Any) -> Selection:
        from plurieval_polyrefuse.selection import select_refusal

        cfg, data, a = self.config, plan.info["data"], unit.name
        n = cfg.selection.prompts
        val_h = (data.get((a, "val", "harmful")) or data[(a, "train", "harmful")])[:n]
        val_n = (data.get((a, "val", "harmless")) or data[(a, "train", "harmless")])[:n]
        sel = select_refusal(ctx, candidates, val_h, val_n, cfg.selection, num_layers=plan.task.num_layers,
                             refusal_tokens=cfg.refusal_tokens)
        chosen = candidates[sel.index]
        ctx.log_metric("selected_layer", float(chosen.settings.get("layer") or 0), language=a)
        return sel

    # --- test: transfer to every language, and induce ----------------------------------------------

    def conditions(self, unit: SteeringUnit, chosen: Any, plan: SteeringPlan, ctx: Any) -> list[Condition]:
        cfg, data, a, limit = self.config, plan.info["data"], unit.name, plan.info["limit"]
        out = [self._condition("ablation", a, b, data[(b, "test", "harmful")][:limit], chosen.intervention,
                               chosen.settings) for b in plan.info["languages"]]
        if cfg.induce and chosen.direction is not None and data.get((a, "test", "harmless")):
            out.append(self._condition("induce", a, a, data[(a, "test", "harmless")][:limit], induce(chosen.direction),
                                       chosen.settings))
        return out

    # --- side effects: harmful prompts as another benchmark's probe --------------------------------

    def probe(self, ctx: Any) -> Probe:
        """Harmful test prompts of ``languages`` (``--limit`` per language, default 16): does an
        intervention (say, CLaS-Bench's German direction) change refusal?"""
        cfg = self.config
        dataset = ctx.host.get("dataset", "polyrefuse").create({"source": cfg.source, "languages": cfg.languages,
                                                                "kind": "harmful"})
        examples = dataset.load("test")
        per: dict[str, list[Example]] = {}
        for ex in examples:
            per.setdefault(ex.metadata["lang"], []).append(ex)
        n = ctx.config.limit or 16
        chosen = [ex for lang in cfg.languages for ex in per.get(lang, [])[:n]]
        ctx.add_dataset(dataset.info(chosen, "test"))
        rows = [Example(id=ex.id, input=ex.input, target={"lang": ex.metadata["lang"], "prompt": ex.input},
                        metadata={"language": ex.metadata["lang"]}) for ex in chosen]
        return Probe(rows, ("refusal_substring", "compliance_substring", "refusal_score"),
                     {"max_new_tokens": cfg.max_new_tokens})

    # --- summary ----------------------------------------------------------------------------------

    def summarize(self, outcome: Any, ctx: Any) -> dict[str, Any]:
        info = outcome.plan.info
        langs, dir_langs = info["languages"], info["direction_languages"]
        names = outcome.metric_names

        def agg(rows: list[dict[str, Any]]) -> dict[str, float]:
            out: dict[str, Any] = {}
            if "refusal_score" in names:
                out["refusal_score"] = outcome.value(rows, "refusal_score")
            if "refusal_substring" in names:
                out["refusal_rate"] = outcome.value(rows, "refusal_substring")
                out["compliance_rate"] = 1.0 - out["refusal_rate"]
            if "refusal_judge" in names:
                out["judge_refusal_rate"] = outcome.value(rows, "refusal_judge")
                out["judge_compliance_rate"] = 1.0 - out["judge_refusal_rate"]
            out.update({n: outcome.value(rows, n) for n in names if n not in
                        ("refusal_score", "refusal_substring", "compliance_substring", "refusal_judge")})
            out["n"] = len(rows)
            return out

        before = {b: agg(outcome.rows_of("baseline", language=b)) for b in langs}
        transfer = {a: {b: agg(outcome.rows_of("ablation", direction_language=a, language=b)) for b in langs}
                    for a in dir_langs}
        induce_out: dict[str, dict[str, Any]] = {}
        induce_missing = []
        for a in dir_langs:
            after = outcome.rows_of("induce", direction_language=a)
            if not after:
                induce_missing.append(a)
                continue
            induce_out[a] = {"before": agg(outcome.rows_of("harmless", language=a)), "after": agg(after)}
        if not self.config.induce:
            induce_missing = []

        chosen = {a: outcome.units[a].chosen for a in dir_langs}
        unit_vectors = {a: c.direction.vector.double() / c.direction.vector.double().norm()
                        for a, c in chosen.items() if c.direction is not None}
        cosine = {a: {c: float(unit_vectors[a] @ unit_vectors[c]) for c in unit_vectors} for a in unit_vectors}

        rate = "compliance_rate" if "refusal_substring" in names else None
        if rate:
            for b in langs:
                ctx.log_metric("compliance_before", before[b][rate], language=b)
            for a in dir_langs:
                for b in langs:
                    ctx.log_metric("compliance_after", transfer[a][b][rate], direction_language=a, language=b)
        diag = [transfer[a][a] for a in dir_langs if a in langs]
        off = [transfer[a][b] for a in dir_langs for b in langs if a != b]
        metrics: dict[str, Any] = {}
        if rate:
            metrics.update({
                "compliance_before": mean([before[b][rate] for b in langs]),
                "compliance_after_same_language": mean([d[rate] for d in diag]),
                "compliance_after_cross_language": mean([d[rate] for d in off]),
            })
        if "refusal_score" in names:
            metrics.update({
                "refusal_score_before": mean([before[b]["refusal_score"] for b in langs]),
                "refusal_score_after_same_language": mean([d["refusal_score"] for d in diag]),
                "refusal_score_after_cross_language": mean([d["refusal_score"] for d in off]),
            })
        if cosine:
            metrics["mean_offdiagonal_cosine"] = mean([cosine[a][c] for a in cosine for c in cosine if a != c])
        if induce_out and "refusal_substring" in names:
            metrics["induced_refusal_rate"] = mean([v["after"]["refusal_rate"] for v in induce_out.values()])
            metrics["harmless_refusal_rate_before"] = mean([v["before"]["refusal_rate"] for v in induce_out.values()])
        for k, v in metrics.items():
            ctx.log_metric(k, v)
        # The headline condition pooled over every (A, B) pair, per registered metric (what the
        # leaderboard recomputes from results.jsonl).
        pooled = outcome.rows.get("ablation", [])
        cis = {n: outcome.aggregate(pooled, n) for n in names}
        metrics.update({n: cis[n]["value"] for n in names})

        pair_table = {a: {b: {"before": before[b], "after": transfer[a][b]} for b in langs} for a in dir_langs}
        selected = {}
        for a in dir_langs:
            unit = outcome.units[a]
            selected[a] = {**unit.chosen.settings,
                           **{k: v for k, v in unit.selection.card.items() if k in ("baseline_refusal", "filters_passed")}}
        plots: list[str] = []
        if rate:
            from plurieval_polyrefuse.plots import draw

            plots = draw(ctx, langs, dir_langs, {b: before[b] for b in langs}, transfer, cosine,
                         {a: outcome.units[a].selection.table for a in dir_langs}, outcome.plan.task.num_layers)
        ctx.write_json("tables/transfer.json", pair_table)
        return {
            "metrics": metrics,
            "metrics_ci": cis,
            "higher_is_better": outcome.higher_is_better(),
            "per_language": {b: {"before": before[b], **({"after_own_direction": transfer[b][b]} if b in transfer else {})}
                             for b in langs},
            "transfer": pair_table,
            "compliance_matrix": ({"rows_direction_language": dir_langs, "columns_prompt_language": langs,
                                   "before": [before[b][rate] for b in langs],
                                   "after": [[transfer[a][b][rate] for b in langs] for a in dir_langs]} if rate else {}),
            "cosine_similarity": cosine,
            "selected": selected,
            "induce": induce_out,
            "coverage": {"missing": info["missing"], "induce_skipped_no_harmless_test": induce_missing},
            "limit_per_language": info["limit"],
            "forward_passes": {"extraction": outcome.extraction, "generation": {"this_run": outcome.generated}},
            "plots": plots,
        }


def refusal_layers(num_layers: int, cfg: PolyRefuseBenchmarkConfig) -> list[int]:
    from plurieval_polyrefuse.method import refusal_layers as layers

    return layers(num_layers, cfg.selection)


def make_benchmark(config: PolyRefuseBenchmarkConfig) -> PolyRefuseBenchmark:
    return PolyRefuseBenchmark(config)
