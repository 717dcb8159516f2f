"""The CLaS-Bench protocol (see ``ClasBench`` for the spec): declared here, run by core's
steering loop (``plurieval.api.SteeringBenchmark``)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
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
    mean,
)

from .config import ClasBenchConfig
from .metrics import LanguageControl, Relevance, f_score, harmonic, j_score

log = logging.getLogger("plurieval.clasbench")

SPEC = """CLaS-Bench (spec 1): language forcing by steering.

Data: parallel questions (line i = the same question in every language), split by question
into train (fit), dev (choose layer and α) and test (report); prompts are the test questions in
the source language(s) (default English), shown with the model's chat template.
For every target language t ≠ source: fit the method on train activations (target vs source
languages), sweep its grid (layer × α; LAPE: α; prompting: none) on dev questions, keep the
setting with the highest dev steering score, generate greedily on test questions and score:
- F (language control) = 100 · share of outputs whose detected language is t (pluggable
  language identifier; offline default py3langid; the paper used fastText NLLB lid218e.bin);
- J (relevance) = 100 · mean(judge score)/2, score 0 irrelevant / 1 partly / 2 relevant and
  coherent, ignoring language (LLM judge with any HF model; offline default: a cross-lingual
  embedding-similarity proxy, reported as ``relevance_proxy``);
- steering score S = 2FJ/(F+J), per target language and over all test outputs.
The unsteered model on the same test prompts is the baseline (F is then the share of outputs
already in t)."""

F, J, S = "language_control", "relevance", "steering_score"


def default_layers(num_layers: int, count: int = 5) -> list[int]:
    """``count`` evenly spaced layers from L/6 to 5L/6: language directions live in the
    middle of the network; the first and last layers mostly hurt fluency."""
    lo, hi = num_layers / 6, 5 * num_layers / 6
    if count == 1:
        return [round((lo + hi) / 2)]
    return sorted({min(num_layers - 1, round(lo + i * (hi - lo) / (count - 1))) for i in range(count)})


def by_language(examples: Sequence[Example], where: str) -> dict[str, list[Example]]:
    out: dict[str, list[Example]] = {}
    for ex in examples:
        lang = ex.metadata.get("language")
        if not lang:
            raise PluriError(f"{where}: example {ex.id!r} has no metadata['language']; a CLaS-Bench dataset gives "
                             "every question its language (and 'qid', the index of the parallel question)")
        out.setdefault(lang, []).append(ex)
    return out


def fjs(f: Sequence[float], j: Sequence[float]) -> dict[str, float]:
    F_, J_ = f_score(list(f)), j_score(list(j))
    return {F: F_, J: J_, S: harmonic(F_, J_), "n": len(f)}


class ClasBench(SteeringBenchmark):
    __doc__ = SPEC

    # --- the plan ---------------------------------------------------------------------------------

    def plan(self, ctx: Any) -> SteeringPlan:
        cfg: ClasBenchConfig = self.config
        dataset = ctx.components.dataset(cfg.dataset, cfg.dataset_params, where="benchmark.params.dataset_params")
        splits = {}
        for split in ("train", "dev", "test"):
            examples = dataset.load(split)
            splits[split] = by_language(examples, f"dataset {cfg.dataset!r} split {split!r}")
            ctx.add_dataset(dataset.info([e for lang in sorted(splits[split]) for e in splits[split][lang]], split))
        train, dev, test = splits["train"], splits["dev"], splits["test"]
        langs = sorted(set(train) | set(test))
        sources = [s for s in cfg.source_languages if s in langs]
        if not sources:
            raise PluriError(f"source language(s) {cfg.source_languages} not in the dataset ({langs})")
        targets = [t for t in (cfg.target_languages or langs) if t not in sources]
        unknown = [t for t in targets if t not in langs]
        if unknown:
            raise PluriError(f"target language(s) {unknown} not in the dataset ({langs})")
        missing = [lang for lang in sources + targets if not train.get(lang)]
        if missing:
            raise PluriError(f"no train questions for language(s) {missing}: the dataset splits leave them empty")
        model = ctx.model
        layers = cfg.layers or default_layers(model.num_layers)
        bad = [x for x in layers if not 0 <= x < model.num_layers]
        if bad:
            raise PluriError(f"layers {bad} out of range for a {model.num_layers}-layer model")
        limit = ctx.config.limit
        test_q = [e for s in sources for e in test.get(s, [])[:limit]]
        dev_q = [e for s in sources for e in dev.get(s, [])[: cfg.dev_limit]]
        if not test_q or not dev_q:
            raise PluriError(f"no {'test' if not test_q else 'dev'} questions in the source language(s) {sources}")
        task = SteeringTask(
            benchmark="clasbench", kind="language", application="add", reading=Reading(chat=False, position="mean"),
            layers=tuple(layers), num_layers=model.num_layers,
            groups={lang: [e.input for e in train[lang]] for lang in sorted(train)},
            group_languages={lang: lang for lang in train}, max_tokens_per_group=cfg.max_tokens_per_language,
            seed=ctx.config.seed)
        units = [SteeringUnit(t, Contrast((t,), tuple(sources), target=t), {"target": t}) for t in targets]
        # The unsteered answers, scored against every target (one condition per target; the
        # loop generates each distinct prompt once).
        baseline = []
        for t in targets:
            examples = self.examples(test_q, t)
            keys = [f"baseline|{t}|{ex.metadata.pop('question_id')}" for ex in examples]
            baseline.append(Condition("baseline", examples, keys))
        return SteeringPlan(task=task, units=units, headline="steered", baseline=baseline,
                            settings={"max_new_tokens": cfg.max_new_tokens}, artifact="artifacts/intervention_{unit}",
                            artifact_name="{unit}", unit_label="target", activation_store=cfg.activation_store,
                            info={"sources": sources, "targets": targets, "layers": layers, "dev": dev_q, "test": test_q})

    @staticmethod
    def examples(questions: Sequence[Example], target: str) -> list[Example]:
        """Questions as test examples for ``target``: reference = target language + question."""
        return [Example(id=f"{e.id}->{target}", input=e.input, target={"language": target, "question": e.input},
                        metadata={"target": target, "source": e.metadata["language"], "qid": e.metadata.get("qid"),
                                  "question_id": e.id})
                for e in questions]

    # --- selection: the highest dev steering score -------------------------------------------------

    def select(self, unit: SteeringUnit, candidates: list[Any], plan: SteeringPlan, ctx: Any) -> Selection:
        cfg: ClasBenchConfig = self.config
        dev = plan.info["dev"]
        gens = ctx.generate_rows([e.input for _ in candidates for e in dev],
                                 [c.intervention for c in candidates for _ in dev], **plan.settings)
        lc, rel = LanguageControl(cfg.language_control), Relevance(cfg.relevance)
        refs = [{"language": unit.name, "question": e.input} for e in dev]
        table, best = [], None
        method = ctx.components.method_name
        for i, cand in enumerate(candidates):
            texts = [g.text for g in gens[i * len(dev):(i + 1) * len(dev)]]
            mctx = ctx.metric_context(None)
            row = {"method": method, "target": unit.name, "layer": cand.settings.get("layer"),
                   "alpha": cand.settings.get("alpha"), "split": "dev",
                   **fjs(lc.score_examples(texts, refs, mctx), rel.score_examples(texts, refs, mctx))}
            table.append(row)
            alpha = row["alpha"]
            labels = {"alpha": f"alpha{alpha:g}"} if alpha is not None else {}  # dev_relevance/alpha5
            for name in (S, F, J):
                ctx.log_metric(f"dev_{name}", row[name], step=row["layer"], **labels)
            if best is None or row[S] > table[best][S]:
                best = i
        assert best is not None
        return Selection(best, table, card={"dev_steering_score": table[best][S]})

    # --- test: the chosen setting on the test questions --------------------------------------------

    def conditions(self, unit: SteeringUnit, chosen: Any, plan: SteeringPlan, ctx: Any) -> list[Condition]:
        method = ctx.components.method_name
        examples = self.examples(plan.info["test"], unit.name)
        keys = [f"{method}|{unit.name}|{ex.metadata.pop('question_id')}" for ex in examples]
        for ex in examples:
            del ex.metadata["target"]  # the unit's metadata carries it
        settings = {"layer": chosen.settings.get("layer"), "alpha": chosen.settings.get("alpha")}
        return [Condition("steered", examples, keys, intervention=chosen.intervention, settings=settings)]

    # --- side effects: the test questions as another benchmark's probe -----------------------------

    def probe(self, ctx: Any) -> Probe:
        """English test questions of the shipped sample, reference language English: does an
        intervention (say, a refusal-direction ablation) change the answer language or its
        relevance?"""
        cfg: ClasBenchConfig = self.config
        dataset = ctx.host.get("dataset", cfg.dataset).create(cfg.dataset_params)
        test = by_language(dataset.load("test"), f"dataset {cfg.dataset!r}")
        source = cfg.source_languages[0]
        examples = [Example(id=e.id, input=e.input, target={"language": source, "question": e.input},
                            metadata={"language": source}) for e in test.get(source, [])[: ctx.config.limit or 16]]
        ctx.add_dataset(dataset.info(examples, "test"))
        return Probe(examples, (F, J, S), {"max_new_tokens": cfg.max_new_tokens})

    # --- summary ----------------------------------------------------------------------------------

    def summarize(self, outcome: Any, ctx: Any) -> dict[str, Any]:
        cfg: ClasBenchConfig = self.config
        info = outcome.plan.info
        targets, names = info["targets"], outcome.metric_names
        has_fjs = all(n in names for n in (F, J, S))

        def scores(rows: list[dict[str, Any]]) -> dict[str, Any]:
            if has_fjs:
                return fjs([r["scores"][F] for r in rows], [r["scores"][J] for r in rows])
            return {**{n: outcome.value(rows, n) for n in names}, "n": len(rows)}

        baseline: dict[str, Any] = {"per_language": {}}
        base_all = []
        for t in targets:
            rows = outcome.rows_of("baseline", target=t)
            base_all += rows
            baseline["per_language"][t] = scores(rows)
        baseline["metrics"] = scores(base_all)
        last = outcome.rows_of("baseline", target=targets[-1]) if targets else []
        baseline["detected"] = _counts([(r.get("details") or {}).get(F, {}).get("detected") for r in last
                                        if (r.get("details") or {}).get(F)])
        ctx.write_json("baseline.json", {"outputs": [
            {"example_id": r["example_id"], "prediction": r["prediction"],
             "scores": {"f": int(r["scores"][F]), "j": int(r["scores"][J])} if has_fjs else r["scores"]}
            for r in base_all]}, kind="table")

        per_language: dict[str, Any] = {}
        sweep: list[dict[str, Any]] = []
        pooled: list[dict[str, Any]] = []
        for t in targets:
            unit = outcome.units[t]
            chosen = unit.selection.table[unit.selection.index] if unit.selection.table else {}
            rows = outcome.rows_of("steered", target=t)
            pooled += rows
            layer, alpha = unit.chosen.settings.get("layer"), unit.chosen.settings.get("alpha")
            per_language[t] = {**scores(rows), "layer": layer, "alpha": alpha,
                               "dev_steering_score": chosen.get(S), "baseline": baseline["per_language"][t]}
            sweep += [r for r in unit.selection.table if r.get("split") == "dev"]
            sweep.append({"method": outcome.method_name, "target": t, "layer": layer, "alpha": alpha, "split": "test",
                          **scores(rows)})
            for name in names if not has_fjs else (F, J, S):
                value = per_language[t].get(name)
                if value is not None and value == value:
                    ctx.log_metric(name, value, language=t)
        ctx.write_json("sweep.json", sweep, kind="table")

        cis = {name: outcome.aggregate(pooled, name) for name in names}
        metrics: dict[str, Any] = {}
        if has_fjs:
            overall = scores(pooled)
            metrics = {F: overall[F], J: overall[J], S: cis[S] if len(pooled) > 1 else overall[S],
                       "macro_steering_score": mean([v[S] for v in per_language.values()])}
        metrics.update({n: cis[n]["value"] for n in names if n not in metrics})
        plots = []
        if cfg.plots:
            from . import plots as P

            plots.append(P.layerwise(ctx, sweep))
            acts = outcome.acts
            if acts is not None and acts.means:
                plots.append(P.diffmean_cosine(ctx, acts, acts.layers))
        proxy = cfg.relevance.mode == "embedding"
        grid = len(next(iter(outcome.units.values())).candidates) if outcome.units else 0
        dev_q, test_q = info["dev"], info["test"]
        return {
            "metrics": metrics,
            "metrics_ci": cis,
            "higher_is_better": outcome.higher_is_better(),
            "per_language": per_language,
            "baseline": baseline,
            "relevance_judge": ({"mode": "embedding-proxy", "label": "relevance_proxy", "low": cfg.relevance.low,
                                 "high": cfg.relevance.high, "embedder": cfg.relevance.embedder or "default"}
                                if proxy else {"mode": "llm-judge", "judge_model": cfg.relevance.judge_model}),
            "language_identifier": cfg.language_control.identifier or "default",
            "protocol": {"sources": info["sources"], "targets": targets, "layers": info["layers"], "grid_size": grid,
                         "dev_questions": len(dev_q), "test_questions": len(test_q)},
            "forward_passes": {
                "extraction": outcome.extraction,
                "generation": {"this_run": outcome.generated,
                               "minimum": len(test_q) * (1 + len(targets)) + len(dev_q) * len(targets) * grid},
            },
            "plots": [str(p) for p in plots if p],
            "spec": SPEC,
        }


def _counts(labels: Sequence[Any]) -> dict[str, int]:
    out: dict[str, int] = {}
    for x in labels:
        out[str(x)] = out.get(str(x), 0) + 1
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))
