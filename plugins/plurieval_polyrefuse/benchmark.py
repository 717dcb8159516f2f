"""The PolyRefuse benchmark: per-language refusal directions and their cross-lingual transfer.

Protocol (spec_version 1):

1. For each direction language A: fit the refusal direction on A's train prompts
   (``fit_prompts`` per kind), select it on A's val prompts (``method`` config).
2. Baseline, for each target language B: on B's harmful *test* prompts (``--limit`` per
   language, default 32), logit refusal score and greedy completions (``max_new_tokens``) judged
   by substring matching (and by a classifier when ``judge_model_path`` is set).
3. Transfer: for every (A, B), the same with A's directional ablation applied → refusal and
   compliance (= 1 − refusal rate) before/after per pair.
4. Induce: for each A with harmless test prompts, A's direction added at its layer → refusal
   rate on A's harmless test prompts (the zh harmless test file does not exist upstream: skipped
   and reported).
5. Cosine similarity of the per-language directions (unit-normalised).

Outputs: ``summary.json`` (metrics, per_language, transfer matrices, coverage), ``results.jsonl``
(one row per prompt and condition), ``artifacts/direction_<A>/`` (ablation interventions,
safetensors + card), ``plots/`` (transfer and cosine heatmaps, refusal score per layer).
"""

from __future__ import annotations

import math
from typing import Any

from plurieval.api import Benchmark, DatasetInfo, Example, PluriError, content_hash
from plurieval_polyrefuse.config import LANGUAGES, PolyRefuseBenchmarkConfig
from plurieval_polyrefuse.data import LICENSE, REPO_URL, PolyRefuseSource

DEFAULT_LIMIT = 32


def _mean(xs: list[float]) -> float:
    xs = [x for x in xs if x is not None and not math.isnan(x)]
    return sum(xs) / len(xs) if xs else float("nan")


class PolyRefuseBenchmark(Benchmark[PolyRefuseBenchmarkConfig]):
    def run(self, ctx: Any) -> dict[str, Any]:
        from plurieval.api import load_intervention
        from plurieval_polyrefuse.method import RefusalDirection
        from plurieval_polyrefuse.metrics import JudgeRefusal, SubstringRefusal, refusal_scores

        cfg: PolyRefuseBenchmarkConfig = self.config
        bad = [lg for lg in cfg.languages if lg not in LANGUAGES]
        if bad:
            raise PluriError(f"polyrefuse: unknown languages {bad}; choose from {', '.join(LANGUAGES)}")
        langs = list(cfg.languages)
        dir_langs = list(cfg.direction_languages or langs)
        method = ctx.method
        if not isinstance(method, RefusalDirection):
            raise PluriError("polyrefuse evaluates the refusal_direction method (--method refusal_direction)")
        src = PolyRefuseSource(cfg.source)
        coverage = src.coverage(sorted(set(langs) | set(dir_langs)))
        limit = ctx.config.limit or DEFAULT_LIMIT
        model = ctx.model
        bs = ctx.config.batch_size
        from plurieval_polyrefuse.config import SubstringRefusalConfig

        substring = SubstringRefusal(SubstringRefusalConfig(phrases=cfg.refusal_phrases))
        # The score that selects the direction and the score that reports it use one token table.
        token_table = cfg.refusal_tokens or method.config.refusal_tokens
        judge = None
        if cfg.judge_model_path:
            from plurieval_polyrefuse.config import JudgeRefusalConfig

            judge = JudgeRefusal(JudgeRefusalConfig(model_path=cfg.judge_model_path))

        # --- data ---------------------------------------------------------------------------
        hashes: list[str] = []

        def examples(lang: str, split: str, kind: str, n: int, required: bool) -> list[Example]:
            p = src.prompts(lang, split, kind, required=required)
            if p is None:
                return []
            hashes.append(p.sha256)
            return [Example(id=f"{lang}-{split}-{kind}-{i}", input=t, target=kind,
                            metadata={"lang": lang, "split": split, "kind": kind, "english": p.english[i]})
                    for i, t in enumerate(p.texts[:n])]

        test_harmful = {b: examples(b, "test", "harmful", limit, True) for b in langs}
        test_harmless = {a: examples(a, "test", "harmless", limit, False) for a in dir_langs} if cfg.induce else {}

        # --- directions ---------------------------------------------------------------------
        selections: dict[str, dict[str, Any]] = {}
        ablations: dict[str, Any] = {}
        additions: dict[str, Any] = {}
        directions: dict[str, Any] = {}
        for a in ctx.progress(dir_langs, total=len(dir_langs), desc="fitting refusal directions"):
            folder = ctx.artifact_path(f"artifacts/direction_{a}")
            if (folder / "card.json").exists():  # resumed run: reuse the fitted direction
                iv = load_intervention(folder)
                sel_info = iv.card.get("selection", {})
                raw = iv.direction * float(iv.card.get("norm", 1.0))
            else:
                fit = (examples(a, "train", "harmful", cfg.fit_prompts, True)
                       + examples(a, "train", "harmless", cfg.fit_prompts, True)
                       + examples(a, "val", "harmful", method.config.selection_prompts, False)
                       + examples(a, "val", "harmless", method.config.selection_prompts, False))
                iv = method.fit(model, fit, run=ctx)
                sel = method.selection
                raw = sel.direction
                sel_info = {"layer": sel.layer, "position": sel.position, "baseline_refusal": sel.baseline_refusal,
                            "filters_passed": sel.filters_passed, "scores": sel.scores}
                iv.save(folder, card={"method": "refusal_direction", "language": a, "norm": float(raw.norm()),
                                      "selection": sel_info, "model": model.describe(),
                                      "data_hash": content_hash([[ex.id, ex.input] for ex in fit])})
            ctx.add_intervention(f"direction_{a}", folder)  # manifest hashes + tracking upload
            from plurieval.api import AddVector

            ablations[a] = iv
            additions[a] = AddVector(raw, layers=[int(sel_info["layer"])], point="resid_pre", positions="all")
            directions[a] = raw
            selections[a] = sel_info
            ctx.log_metric("selected_layer", float(sel_info["layer"]), language=a)

        # --- evaluation ---------------------------------------------------------------------
        def evaluate(cond: str, a: str | None, b: str, exs: list[Example], iv: Any) -> list[dict[str, Any]]:
            keys = [f"{cond}/{a or '-'}/{b}/{ex.id}" for ex in exs]
            todo = [i for i, k in enumerate(keys) if not ctx.results.done(k)]
            if todo:
                prompts = [exs[i].input for i in todo]
                scores = refusal_scores(model, prompts, [b] * len(prompts), intervention=iv, table=token_table,
                                        batch_size=bs)
                gens = ctx.generate(prompts, intervention=iv, max_new_tokens=cfg.max_new_tokens)
                texts = [g.text for g in gens]
                sub = substring.score_examples(texts, [b] * len(texts))
                jud = judge.score_examples(texts, [b] * len(texts)) if judge else [None] * len(texts)
                for i, s, t, r, jr in zip(todo, scores, texts, sub, jud, strict=True):
                    ex = exs[i]
                    ctx.record(keys[i], {
                        "example_id": ex.id, "prediction": t, "reference": ex.target,
                        "metadata": {"condition": cond, "direction_language": a, "language": b,
                                     "english": ex.metadata.get("english")},
                        "scores": {"refusal_score": s, "refusal_substring": r,
                                   "compliance_substring": 1.0 - r,
                                   **({"refusal_judge": jr} if jr is not None else {})},
                    })
            return [ctx.results.get(k) for k in keys]

        def agg(rows: list[dict[str, Any]]) -> dict[str, float]:
            out = {
                "refusal_score": _mean([r["scores"]["refusal_score"] for r in rows]),
                "refusal_rate": _mean([r["scores"]["refusal_substring"] for r in rows]),
            }
            out["compliance_rate"] = 1.0 - out["refusal_rate"]
            if rows and "refusal_judge" in rows[0]["scores"]:
                out["judge_refusal_rate"] = _mean([r["scores"]["refusal_judge"] for r in rows])
                out["judge_compliance_rate"] = 1.0 - out["judge_refusal_rate"]
            out["n"] = len(rows)
            return out

        pairs = [(None, b) for b in langs] + [(a, b) for a in dir_langs for b in langs]
        before: dict[str, dict[str, float]] = {}
        transfer: dict[str, dict[str, dict[str, float]]] = {a: {} for a in dir_langs}
        for a, b in ctx.progress(pairs, total=len(pairs), desc="baseline and transfer"):
            if a is None:
                before[b] = agg(evaluate("baseline", None, b, test_harmful[b], None))
            else:
                transfer[a][b] = agg(evaluate("ablation", a, b, test_harmful[b], ablations[a]))
        induce: dict[str, dict[str, float]] = {}
        induce_missing = []
        for a in dir_langs if cfg.induce else []:
            if not test_harmless.get(a):
                induce_missing.append(a)
                continue
            induce[a] = {"before": agg(evaluate("harmless", None, a, test_harmless[a], None)),
                         "after": agg(evaluate("induce", a, a, test_harmless[a], additions[a]))}

        # --- cosine matrix ------------------------------------------------------------------
        unit = {a: directions[a].double() / directions[a].double().norm() for a in dir_langs}
        cosine = {a: {c: float(unit[a] @ unit[c]) for c in dir_langs} for a in dir_langs}

        # --- summary ------------------------------------------------------------------------
        pair_table = {a: {b: {"before": before[b], "after": transfer[a][b]} for b in langs} for a in dir_langs}
        for b in langs:
            ctx.log_metric("compliance_before", before[b]["compliance_rate"], language=b)
        for a in dir_langs:
            for b in langs:
                ctx.log_metric("compliance_after", transfer[a][b]["compliance_rate"], direction_language=a, language=b)
        diag = [transfer[a][a] for a in dir_langs if a in langs]
        off = [transfer[a][b] for a in dir_langs for b in langs if a != b]
        metrics = {
            "compliance_before": _mean([before[b]["compliance_rate"] for b in langs]),
            "compliance_after_same_language": _mean([d["compliance_rate"] for d in diag]),
            "compliance_after_cross_language": _mean([d["compliance_rate"] for d in off]),
            "refusal_score_before": _mean([before[b]["refusal_score"] for b in langs]),
            "refusal_score_after_same_language": _mean([d["refusal_score"] for d in diag]),
            "refusal_score_after_cross_language": _mean([d["refusal_score"] for d in off]),
            "mean_offdiagonal_cosine": _mean([cosine[a][c] for a in dir_langs for c in dir_langs if a != c]),
        }
        if induce:
            metrics["induced_refusal_rate"] = _mean([v["after"]["refusal_rate"] for v in induce.values()])
            metrics["harmless_refusal_rate_before"] = _mean([v["before"]["refusal_rate"] for v in induce.values()])
        for k, v in metrics.items():
            ctx.log_metric(k, v)
        ctx.add_dataset(DatasetInfo(id="polyrefuse", revision=REPO_URL.rsplit("/", 1)[-1],
                                    content_hash=content_hash(sorted(set(hashes))), split="train+val+test",
                                    num_examples=sum(len(v) for v in test_harmful.values()), license=LICENSE,
                                    source=src.source))
        plots = self._plots(ctx, langs, dir_langs, before, transfer, cosine, selections, model.num_layers)
        ctx.write_json("tables/transfer.json", pair_table)
        return {
            "metrics": metrics,
            "per_language": {b: {"before": before[b], **({"after_own_direction": transfer[b][b]} if b in transfer else {})}
                             for b in langs},
            "transfer": pair_table,
            "compliance_matrix": {"rows_direction_language": dir_langs, "columns_prompt_language": langs,
                                  "before": [before[b]["compliance_rate"] for b in langs],
                                  "after": [[transfer[a][b]["compliance_rate"] for b in langs] for a in dir_langs]},
            "cosine_similarity": cosine,
            "selected": {a: {k: v for k, v in s.items() if k != "scores"} for a, s in selections.items()},
            "induce": induce,
            "coverage": {"missing": coverage["missing"], "induce_skipped_no_harmless_test": induce_missing},
            "limit_per_language": limit,
            "plots": plots,
        }

    @staticmethod
    def _plots(ctx: Any, langs: list[str], dir_langs: list[str], before: dict, transfer: dict, cosine: dict,
               selections: dict, num_layers: int) -> list[str]:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import numpy as np

        written = []

        def heatmap(mat: np.ndarray, rows: list[str], cols: list[str], title: str, name: str, vmin: float, vmax: float,
                    xlabel: str, ylabel: str) -> None:
            fig, ax = plt.subplots(figsize=(max(4.8, 1.4 + 0.55 * len(cols)), max(3.6, 1.4 + 0.5 * len(rows))))
            im = ax.imshow(mat, vmin=vmin, vmax=vmax, cmap="viridis")
            ax.set_xticks(range(len(cols)), cols)
            ax.set_yticks(range(len(rows)), rows)
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel)
            ax.set_title(title, fontsize=9)
            for i in range(len(rows)):
                for j in range(len(cols)):
                    ax.text(j, i, f"{mat[i, j]:.2f}", ha="center", va="center", fontsize=6,
                            color="white" if mat[i, j] < (vmin + vmax) / 2 else "black")
            fig.colorbar(im, ax=ax, shrink=0.8)
            fig.tight_layout()
            path = ctx.artifact_path(f"plots/{name}.png")
            fig.savefig(path, dpi=120)
            plt.close(fig)
            ctx.artifact_written(path, "plot")
            written.append(str(path.relative_to(ctx.run_dir)))

        after = np.array([[transfer[a][b]["compliance_rate"] for b in langs] for a in dir_langs])
        base = np.array([[before[b]["compliance_rate"] for b in langs]])
        heatmap(np.vstack([base, after]), ["none"] + dir_langs, langs,
                "compliance on harmful test prompts\n(row 'none' = no intervention)", "transfer_compliance",
                0.0, 1.0, "prompt language", "direction language")
        cos = np.array([[cosine[a][c] for c in dir_langs] for a in dir_langs])
        heatmap(cos, dir_langs, dir_langs, "cosine similarity of refusal directions", "cosine_similarity",
                -1.0, 1.0, "language", "language")

        fig, ax = plt.subplots(figsize=(6, 3.5))
        for a in dir_langs:
            per_layer: dict[int, float] = {}
            rows = selections[a].get("scores", [])
            key = "screen_refusal" if rows and all("screen_refusal" in r for r in rows) else "refusal"
            for row in rows:
                per_layer[row["layer"]] = min(per_layer.get(row["layer"], float("inf")), row[key])
            if per_layer:
                xs = sorted(per_layer)
                ax.plot(xs, [per_layer[x] for x in xs], marker=".", label=a)
        ax.axhline(0.0, color="grey", lw=0.5)
        ax.set_xlim(-0.5, num_layers - 0.5)
        ax.set_xlabel("layer of the candidate direction")
        ax.set_ylabel("refusal score after ablation\n(val harmful, best position;\nscreen prompts when screened)")
        ax.legend(fontsize=7, ncol=4)
        fig.tight_layout()
        path = ctx.artifact_path("plots/refusal_score_per_layer.png")
        fig.savefig(path, dpi=120)
        plt.close(fig)
        ctx.artifact_written(path, "plot")
        written.append(str(path.relative_to(ctx.run_dir)))
        return written


def make_benchmark(config: PolyRefuseBenchmarkConfig) -> PolyRefuseBenchmark:
    return PolyRefuseBenchmark(config)
