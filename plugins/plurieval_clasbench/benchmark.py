"""The CLaS-Bench protocol (see ``ClasBench`` for the spec)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from plurieval.api import Benchmark, PluriError, content_hash

from .config import ClasBenchConfig
from .data import ParallelDataset, load_questions
from .metrics import LanguageControl, Relevance, f_score, harmonic, j_score, steering_aggregate

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


def default_layers(num_layers: int, count: int = 5) -> list[int]:
    """``count`` evenly spaced layers from L/6 to 5L/6: language directions live in the
    middle of the network; the first and last layers mostly hurt fluency."""
    lo, hi = num_layers / 6, 5 * num_layers / 6
    if count == 1:
        return [round((lo + hi) / 2)]
    return sorted({min(num_layers - 1, round(lo + i * (hi - lo) / (count - 1))) for i in range(count)})


_ACTIVATION_MEMO: dict[str, Any] = {}


class ClasBench(Benchmark):
    __doc__ = SPEC

    def run(self, ctx: Any) -> dict[str, Any]:
        cfg: ClasBenchConfig = self.config
        method = ctx.method
        method_name = ctx.config.method.name if ctx.config.method else None
        if method is None or not hasattr(method, "grid"):
            raise PluriError("clasbench evaluates language-steering methods (diffmean, pca, lda, probe, lape, sae, "
                             f"prompting); got {method_name!r}")
        dataset = self._dataset(ctx)
        langs = dataset.languages
        sources = [s for s in cfg.source_languages if s in langs]
        if not sources:
            raise PluriError(f"source language(s) {cfg.source_languages} not in the dataset ({langs})")
        targets = [t for t in (cfg.target_languages or langs) if t not in sources]
        unknown = [t for t in targets if t not in langs]
        if unknown:
            raise PluriError(f"target language(s) {unknown} not in the dataset ({langs})")
        train, dev, test = (load_questions(dataset, s) for s in ("train", "dev", "test"))
        for split, rows in (("train", train), ("dev", dev), ("test", test)):
            ctx.add_dataset(dataset.info([e for lang in sorted(rows) for e in rows[lang]], split))
        train_hash = content_hash({lang: [e.input for e in rows] for lang, rows in sorted(train.items())})
        limit = ctx.config.limit
        test_prompts = [e for s in sources for e in test[s][:limit]]
        dev_prompts = [e for s in sources for e in dev[s][: cfg.dev_limit]]
        model = ctx.model
        layers = cfg.layers or default_layers(model.num_layers)
        bad = [x for x in layers if not 0 <= x < model.num_layers]
        if bad:
            raise PluriError(f"layers {bad} out of range for a {model.num_layers}-layer model")
        gen_count = {"n": 0}

        def generate(examples: Sequence[Any], iv: Any) -> list[str]:
            prompts = [e.input for e in examples]
            if hasattr(iv, "rewrite"):  # prompting baseline: rewrite prompts, no hooks
                prompts, iv = iv.rewrite(prompts), None
            gen_count["n"] += len(prompts)
            gens = ctx.generate(prompts, intervention=iv, max_new_tokens=cfg.max_new_tokens)
            return [g.text for g in gens]

        lc, rel = LanguageControl(cfg.language_control), Relevance(cfg.relevance)
        mctx = ctx.metric_context(None)

        def score(outputs: list[str], examples: Sequence[Any], target: str) -> tuple[list[float], list[int]]:
            refs = [{"language": target, "question": e.input} for e in examples]
            return lc.score_examples(outputs, refs, mctx), rel.score_examples(outputs, refs, mctx)

        # --- baseline: the unsteered model on the test prompts, scored against every target ---
        base_out = generate(test_prompts, None)
        baseline: dict[str, Any] = {"per_language": {}}
        base_rows = []
        all_f, all_j = [], []
        for t in targets:
            f, j = score(base_out, test_prompts, t)
            all_f += f
            all_j += j
            baseline["per_language"][t] = _fjs(f, j)
            base_rows += [{"example_id": f"{e.id}->{t}", "prediction": o, "scores": {"f": int(a), "j": int(b)}}
                          for e, o, a, b in zip(test_prompts, base_out, f, j, strict=True)]
        baseline["metrics"] = _fjs(all_f, all_j)
        baseline["detected"] = _counts(lc.detected if base_out else [])
        ctx.write_json("baseline.json", {"outputs": base_rows}, kind="table")

        # --- activations: once per (model, layers, data), shared by every method ----------------
        acts, extraction = None, {"this_run": 0, "minimum": sum(len(v) for v in train.values()), "reused": False}
        if method.needs:
            acts, extraction = self._activations(ctx, train, layers, cfg)

        # --- sweep on dev, report on test ----------------------------------------------------------
        grid = method.grid(layers)
        sweep_rows: list[dict[str, Any]] = []
        per_language: dict[str, Any] = {}
        pooled: list[dict[str, int]] = []
        for t in ctx.progress(targets, total=len(targets), desc=f"clasbench {method_name}"):
            src = method.sources(sources if not method.needs else [s for s in langs if s in sources], t)
            keys = [f"{method_name}|{t}|{e.id}" for e in test_prompts]
            states: dict[Any, Any] = {}
            best = None
            # One nested run per target language; dev scores are series over the layer (step),
            # one series per alpha, so a tracker draws the layer-wise curves.
            with ctx.child_run(f"target={t}"):
                for layer, alpha in grid:
                    if layer not in states:
                        states[layer] = method.prepare(acts, t, src, layer)
                    iv = method.intervention(states[layer], acts, layer, alpha, t)
                    out = generate(dev_prompts, iv)
                    f, j = score(out, dev_prompts, t)
                    row = {"method": method_name, "target": t, "layer": layer, "alpha": alpha, "split": "dev",
                           **_fjs(f, j)}
                    sweep_rows.append(row)
                    labels = {"alpha": f"alpha{alpha:g}"} if alpha is not None else {}  # dev_relevance/alpha5
                    for name in ("steering_score", "language_control", "relevance"):
                        ctx.log_metric(f"dev_{name}", row[name], step=layer, **labels)
                    if best is None or row["steering_score"] > best["steering_score"]:
                        best = row
            assert best is not None
            chosen = method.intervention(states[best["layer"]], acts, best["layer"], best["alpha"], t)
            self._save_intervention(ctx, chosen, t, best, train_hash)
            if all(ctx.results.done(k) for k in keys):
                rows = [ctx.results.get(k) for k in keys]
                f = [r["scores"]["language_control"] for r in rows]
                j = [r["scores"]["relevance"] for r in rows]
            else:
                out = generate(test_prompts, chosen)
                f, j = score(out, test_prompts, t)
                detected = list(lc.detected)
                sims = getattr(rel, "similarities", [None] * len(out))
                for k, e, o, a, b, d, s in zip(keys, test_prompts, out, f, j, detected, sims, strict=True):
                    if ctx.results.done(k):
                        continue
                    ctx.record(k, {
                        "example_id": f"{e.id}->{t}", "prediction": o,
                        "reference": {"language": t, "question": e.input},
                        "metadata": {"method": method_name, "target": t, "source": e.metadata["language"],
                                     "qid": e.metadata["qid"], "layer": best["layer"], "alpha": best["alpha"],
                                     "detected": d, "similarity": s},
                        "scores": {"language_control": a, "relevance": b, "steering_score": {"f": int(a), "j": int(b)}},
                    })
            pooled += [{"f": int(a), "j": int(b)} for a, b in zip(f, j, strict=True)]
            per_language[t] = {**_fjs(f, j), "layer": best["layer"], "alpha": best["alpha"],
                               "dev_steering_score": best["steering_score"], "baseline": baseline["per_language"][t]}
            sweep_rows.append({"method": method_name, "target": t, "layer": best["layer"], "alpha": best["alpha"],
                               "split": "test", **_fjs(f, j)})
            for name in ("language_control", "relevance", "steering_score"):
                ctx.log_metric(name, per_language[t][name], language=t)
        ctx.write_json("sweep.json", sweep_rows, kind="table")

        from plurieval.api import with_ci

        overall = _fjs([r["f"] for r in pooled], [r["j"] for r in pooled])
        proxy = cfg.relevance.mode == "embedding"
        metrics = {
            "language_control": overall["language_control"],
            "relevance": overall["relevance"],
            "steering_score": with_ci(pooled, steering_aggregate) if len(pooled) > 1 else overall["steering_score"],
            "macro_steering_score": _mean([v["steering_score"] for v in per_language.values()]),
        }
        plots = []
        if cfg.plots:
            from . import plots as P

            plots.append(P.layerwise(ctx, sweep_rows))
            if acts is not None:
                plots.append(P.diffmean_cosine(ctx, acts, layers))
        return {
            "metrics": metrics,
            "per_language": per_language,
            "baseline": baseline,
            "relevance_judge": ({"mode": "embedding-proxy", "label": "relevance_proxy", "low": cfg.relevance.low,
                                 "high": cfg.relevance.high, "embedder": cfg.relevance.embedder or "default"}
                                if proxy else {"mode": "llm-judge", "judge_model": cfg.relevance.judge_model}),
            "language_identifier": cfg.language_control.identifier or "default",
            "protocol": {"sources": sources, "targets": targets, "layers": layers, "grid_size": len(grid),
                         "dev_questions": len(dev_prompts), "test_questions": len(test_prompts)},
            "forward_passes": {
                "extraction": extraction,
                "generation": {"this_run": gen_count["n"],
                               "minimum": len(test_prompts) * (1 + len(targets)) + len(dev_prompts) * len(targets) * len(grid)},
            },
            "plots": [str(p) for p in plots if p],
            "spec": SPEC,
        }

    # --------------------------------------------------------------------------------------------

    @staticmethod
    def _save_intervention(ctx: Any, iv: Any, target: str, best: dict[str, Any], train_hash: str) -> None:
        """The setting chosen on dev, as the artifact a user can re-apply (safetensors + card
        with method, model, layer and training-data hash), recorded in the manifest."""
        from plurieval.api import Intervention

        if not isinstance(iv, Intervention):  # prompting: a prompt rewrite, nothing to save
            return
        folder = ctx.artifact_path(f"artifacts/intervention_{target}")
        iv.save(folder, card={"benchmark": "clasbench", "target": target, "layer": best["layer"],
                              "alpha": best["alpha"], "dev_steering_score": best["steering_score"],
                              "model": ctx.model_description().get("id"),
                              "model_weights_hash": ctx.model_description().get("weights_hash"),
                              "data_hash": train_hash})
        ctx.add_intervention(f"{target}", folder)

    def _dataset(self, ctx: Any) -> ParallelDataset:
        if "dataset" in ctx.components:
            spec, params = ctx.components["dataset"]
        else:
            spec = ctx.host.get("dataset", self.config.dataset)
            params = spec.make_config(self.config.dataset_params, where="benchmark.params.dataset_params")
        ds = spec.create(params)
        if not isinstance(ds, ParallelDataset):
            raise PluriError(f"dataset {spec.name!r} is not a parallel question set")
        return ds

    def _activations(self, ctx: Any, train: dict[str, list[Any]], layers: list[int], cfg: ClasBenchConfig):
        from pathlib import Path

        from plurieval.api import ActivationSet, collect_language_activations, model_identity

        model = ctx.model
        prompts = {lang: [e.input for e in rows] for lang, rows in train.items()}
        key = content_hash({"model": model_identity(ctx.model_description()), "layers": sorted(layers),
                            "prompts": prompts, "point": "resid_pre", "chat": False, "lape": True,
                            "max_tokens": cfg.max_tokens_per_language, "format": 2}).split(":")[-1][:24]
        minimum = sum(len(v) for v in prompts.values())
        if key in _ACTIVATION_MEMO:
            return _ACTIVATION_MEMO[key], {"this_run": 0, "minimum": minimum, "reused": "memory", "key": key}
        store = Path(cfg.activation_store) if cfg.activation_store else Path(ctx.config.output_dir) / "activations"
        path = store / f"{key}.safetensors"
        if path.exists() and path.with_suffix(".json").exists():
            acts = ActivationSet.load(path)
            _ACTIVATION_MEMO[key] = acts
            return acts, {"this_run": 0, "minimum": minimum, "reused": "store", "key": key}

        def extract(batch: list[str], points: list[str]) -> dict[str, Any]:
            # Straight to the model: per-prompt caching of token-level MLP activations of every
            # layer would be gigabytes; the reduced set is stored below instead.
            return model.extract(batch, points, reduce="all", chat=False, batch_size=ctx.config.batch_size)

        acts = collect_language_activations(
            extract, prompts, layers, num_model_layers=model.num_layers, with_tokens=True, with_lape=True,
            max_tokens_per_language=cfg.max_tokens_per_language, chunk_size=16, seed=ctx.config.seed,
            progress=lambda it, n, d: ctx.progress(it, total=n, desc=d))
        acts.save(path, card={"model": ctx.model_description().get("id"), "layers": layers})
        ctx.artifact_written(path, "activations")
        _ACTIVATION_MEMO[key] = acts
        return acts, {"this_run": acts.forward_passes, "minimum": minimum, "reused": False, "key": key}


def _fjs(f: Sequence[float], j: Sequence[float]) -> dict[str, float]:
    F, J = f_score(list(f)), j_score(list(j))
    return {"language_control": F, "relevance": J, "steering_score": harmonic(F, J), "n": len(f)}


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def _counts(labels: Sequence[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for x in labels:
        out[x] = out.get(x, 0) + 1
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))
