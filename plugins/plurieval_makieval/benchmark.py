"""The MAKIEval benchmark (see ``SPEC``)."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

from plurieval.api import Benchmark, PluriError, PromptRewrite, with_ci

from .config import MakievalConfig, PromptsConfig
from .data import MakievalPrompts, cells, limit_per_cell
from .linking import Linker, extraction_prompt, parse_extraction, target_qids
from .metrics import CrossLingualConsensus, consensus_matrix, consensus_with
from .steer import fit_intervention

log = logging.getLogger("plurieval.makieval")

SPEC = """MAKIEval-style cultural awareness (spec 1).

Prompts: open-ended questions about a country and a topic ("Name some typical dishes from
Japan"), from templates per prompt language (English originals; other languages unverified
translations), for every (prompt language, country, topic); --limit N keeps N prompts per
(language, country, topic) cell. The model answers in its chat template (greedy; with
samples > 1, sampled at `temperature` with seed = run seed + sample index), under the steering
method's intervention when a method is given (fitted on a target-vs-source contrast of parallel
questions, default the CLaS-Bench sample).
Linking: every answer is linked against the knowledge base (default culture-kb: WorldCuisines
dishes and `holidays` public holidays, the KB's own stable ids, not Wikidata QIDs; `wikidata`
for the online backend): script-aware matching, longest match first, no overlaps; category
words link as categories. Optional LLM extraction step first (extraction.mode).
Metrics, from the recorded links alone: granularity (entity 1 / category 0 over typed
mentions), entity_diversity (distinct entity ids per (language, country, topic) group, mean
over groups), entity_diversity_normalized (expected distinct ids in k=2 answers), cultural
specificity (share of mentions with a known origin whose origin is the target country or an
equivalent), cross_lingual_consensus (mean pairwise Jaccard of the languages' entity sets per
(country, topic)). 95% percentile bootstrap CIs over answers (1000 resamples, run seed), per
cell and overall."""


def _clean(stats: dict[str, Any]) -> dict[str, Any]:
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in stats.items()}


class Makieval(Benchmark):
    __doc__ = SPEC

    def run(self, ctx: Any) -> dict[str, Any]:
        cfg: MakievalConfig = self.config
        dataset = self._dataset(ctx)
        examples = limit_per_cell(dataset.load(), ctx.config.limit)
        if not examples:
            raise PluriError("makieval: no prompts (check languages, countries and topics)")
        ctx.add_dataset(dataset.info(examples, None))
        kb = ctx.resources.get("knowledge_base", cfg.knowledge_base, cfg.knowledge_base_params)
        topics = sorted({e.metadata["topic"] for e in examples}, key=dataset.config.topics.index)
        unsupported = [t for t in topics if t not in kb.topics]
        if unsupported:
            raise PluriError(f"the {kb.name} knowledge base has no {', '.join(unsupported)} (it covers "
                             f"{', '.join(kb.topics) or 'nothing'}); use --set knowledge_base=wikidata for "
                             f"clothing, music, books and sports")
        if hasattr(kb, "dataset_info"):
            ctx.add_dataset(kb.dataset_info())
        linker = Linker(kb, cfg.linker)
        linking = {"kb": kb.name, "kb_hash": kb.describe().get("content_hash"), "linker": cfg.linker.model_dump(mode="json")}
        if kb.describe().get("sample"):
            log.warning("makieval: linking against the small sample knowledge base shipped with the plugin; "
                        "set PLURIEVAL_DATA_DIR to the shared data for real numbers")

        todo = [e for e in examples if not ctx.results.done(e.id)]
        intervention, steering = fit_intervention(ctx, cfg.steering) if ctx.method is not None else (None, {})
        counts = {"generated": 0, "extraction_queries": 0}
        batch = max(1, ctx.config.batch_size) * 4
        chunks = [todo[i:i + batch] for i in range(0, len(todo), batch)]
        for chunk in ctx.progress(chunks, total=len(chunks), desc="makieval: generating and linking"):
            texts = self._generate(ctx, chunk, intervention, counts)
            replies = self._extract(ctx, chunk, texts, counts) if cfg.extraction.mode != "none" else [None] * len(chunk)
            for ex, (prompt, text), reply in zip(chunk, texts, replies, strict=True):
                ref = ex.target
                prediction: dict[str, Any] = {"text": text, "prompt": prompt, "linking": linking}
                if reply is not None:
                    prediction["extraction"] = reply
                    prediction["links"] = linker.link_phrases(parse_extraction(reply["reply"]), text,
                                                              language=ref["language"], topic=ref["topic"],
                                                              target=target_qids(ref), prompt=prompt)
                else:
                    prediction["links"] = linker.link(text, language=ref["language"], topic=ref["topic"],
                                                      target=target_qids(ref), prompt=prompt)
                ctx.record(ex.id, {"example_id": ex.id, "prompt": prompt, "prediction": prediction,
                                   "reference": ref, "metadata": ex.metadata})

        rows = [ctx.results.get(e.id) for e in examples]
        body = self._score(ctx, rows, topics)
        links = [link for r in rows for link in r["prediction"]["links"]]
        body.update({
            "knowledge_base": kb.describe(),
            "linker": cfg.linker.model_dump(mode="json"),
            "extraction": cfg.extraction.model_dump(mode="json"),
            "steering": steering,
            "links": {"total": len(links), "entities": sum(x.get("kind") == "entity" for x in links),
                      "categories": sum(x.get("kind") == "category" for x in links),
                      "answers_without_links": sum(not r["prediction"]["links"] for r in rows),
                      "ambiguous": sum((x.get("candidates") or 1) > 1 for x in links)},
            "protocol": {"languages": list(dataset.config.languages), "countries": list(dataset.config.countries),
                         "topics": topics, "answers": len(rows), "cells": len(cells(examples)),
                         "max_new_tokens": cfg.max_new_tokens, "samples": cfg.samples,
                         "generated_this_run": counts["generated"], "extraction_queries": counts["extraction_queries"]},
            "spec": SPEC,
        })
        return body

    # --------------------------------------------------------------------------------------------

    def _dataset(self, ctx: Any) -> MakievalPrompts:
        cfg: MakievalConfig = self.config
        if "dataset" in ctx.components:
            spec, params = ctx.components["dataset"]
        else:
            spec = ctx.host.get("dataset", "makieval-prompts")
            params = PromptsConfig(languages=cfg.languages, countries=cfg.countries, topics=cfg.topics,
                                   templates=cfg.templates, samples=cfg.samples,
                                   data_dir=cfg.knowledge_base_params.get("data_dir"))
        ds = spec.create(params)
        if not isinstance(ds, MakievalPrompts):
            raise PluriError(f"dataset {spec.name!r} is not a MAKIEval prompt set")
        return ds

    def _generate(self, ctx: Any, chunk: Sequence[Any], intervention: Any, counts: dict[str, int]) -> list[tuple[str, str]]:
        """(prompt as generated, answer) per example; one generate call per sample index, so a
        sampled answer depends on its seed, not on which other prompts share its batch call."""
        cfg: MakievalConfig = self.config
        out: dict[str, tuple[str, str]] = {}
        by_sample: dict[int, list[Any]] = {}
        for ex in chunk:
            by_sample.setdefault(ex.metadata.get("sample", 0), []).append(ex)
        for sample, exs in sorted(by_sample.items()):
            prompts = [e.input for e in exs]
            iv = intervention
            if isinstance(iv, PromptRewrite):  # the prompting baseline rewrites prompts, no hooks
                prompts, iv = iv.rewrite(prompts), None
            settings: dict[str, Any] = {"max_new_tokens": cfg.max_new_tokens}
            if cfg.samples > 1:
                settings.update(do_sample=True, temperature=cfg.temperature, seed=ctx.config.seed + sample)
            unique = list(dict.fromkeys(prompts))
            gens = ctx.generate(unique, intervention=iv, **settings)
            counts["generated"] += len(unique)
            text = {p: g.text for p, g in zip(unique, gens, strict=True)}
            for e, p in zip(exs, prompts, strict=True):
                out[e.id] = (p, text[p])
        return [out[e.id] for e in chunk]

    def _extract(self, ctx: Any, chunk: Sequence[Any], texts: Sequence[tuple[str, str]],
                 counts: dict[str, int]) -> list[dict[str, Any]]:
        """The optional LLM step: the query and the raw reply per answer (recorded verbatim)."""
        ext = self.config.extraction
        queries = [extraction_prompt(text, e.metadata["topic"]) for e, (_, text) in zip(chunk, texts, strict=True)]
        counts["extraction_queries"] += len(queries)
        if ext.mode == "model":  # the model under evaluation, without the intervention
            gens = ctx.generate(queries, intervention=None, max_new_tokens=ext.max_new_tokens)
            replies, who = [g.text for g in gens], "model under evaluation"
        else:
            if not ext.judge_model:
                raise PluriError("extraction.mode=judge needs extraction.judge_model (an HF hub id or local folder)")
            judge = ctx.resources.get("judge", ext.judge or "hf-judge",
                                      {"model": ext.judge_model, "max_new_tokens": ext.max_new_tokens})
            replies, who = judge.judge(queries), ext.judge_model
        return [{"query": q, "reply": r, "by": who} for q, r in zip(queries, replies, strict=True)]

    def _score(self, ctx: Any, rows: list[dict[str, Any]], topics: Sequence[str]) -> dict[str, Any]:
        preds = [r["prediction"] for r in rows]
        refs = [r["reference"] for r in rows]
        keys = sorted({(r["reference"]["language"], r["reference"]["country"], r["reference"]["topic"]) for r in rows})
        languages = list(dict.fromkeys(r["reference"]["language"] for r in rows))
        countries = list(dict.fromkeys(r["reference"]["country"] for r in rows))
        seed = ctx.config.seed
        body: dict[str, Any] = {"metrics": {}, "higher_is_better": {}}
        table: dict[tuple[str, str, str], dict[str, Any]] = {k: {} for k in keys}
        consensus: dict[str, Any] = {}
        seen: dict[str, int] = {}
        for spec, metric in ctx.metrics():
            name = spec.name if spec.name not in seen else f"{spec.name}#{seen[spec.name] + 1}"
            seen[spec.name] = seen.get(spec.name, 0) + 1
            values = metric.score_examples(preds, refs, ctx.metric_context(spec))
            stats = _clean(with_ci(values, metric.aggregate, seed=seed))
            body["metrics"][name] = stats
            body["higher_is_better"][name] = spec.higher_is_better
            if stats["value"] is not None:
                ctx.log_metric(name, stats["value"])
            for row, v in zip(rows, values, strict=True):
                row.setdefault("scores", {})[name] = v
            for key in keys:
                lang, country, topic = key
                if isinstance(metric, CrossLingualConsensus):  # a language's agreement with the others
                    idx = [i for i, r in enumerate(refs) if r["country"] == country and r["topic"] == topic]
                    empty = metric.config.empty_pair

                    def agg(vals: Sequence[Any], lang: str = lang, empty: str = empty) -> float:
                        return consensus_with(vals, lang, empty)
                else:
                    idx = [i for i, r in enumerate(refs) if (r["language"], r["country"], r["topic"]) == key]
                    agg = metric.aggregate
                cell = _clean(with_ci([values[i] for i in idx], agg, seed=seed))
                table[key][name] = cell
                if cell["value"] is not None:
                    ctx.log_metric(name, cell["value"], language=lang, country=country, topic=topic)
            if isinstance(metric, CrossLingualConsensus):
                empty = metric.config.empty_pair
                consensus[name] = {
                    "by_topic": {t: consensus_matrix([v for v, r in zip(values, refs, strict=True) if r["topic"] == t],
                                                     languages, empty) for t in topics},
                    "by_country_topic": {f"{c}|{t}": consensus_matrix(
                        [v for v, r in zip(values, refs, strict=True) if r["topic"] == t and r["country"] == c],
                        languages, empty) for c in countries for t in topics},
                }
        ctx.results.rewrite(rows)
        body["cells"] = [{"language": k[0], "country": k[1], "topic": k[2],
                          "n": sum((r["language"], r["country"], r["topic"]) == k for r in refs), "metrics": table[k]}
                         for k in keys]
        body["consensus"] = _json_matrices(consensus)
        ctx.write_json("cells.json", body["cells"], kind="table")
        ctx.write_json("consensus.json", body["consensus"], kind="table")
        body["plots"] = self._plots(ctx, body, languages, countries, topics) if self.config.plots else []
        return body

    def _plots(self, ctx: Any, body: dict[str, Any], languages: Sequence[str], countries: Sequence[str],
               topics: Sequence[str]) -> list[str]:
        from .plots import consensus_figure, metric_heatmap

        paths = []
        for name in body["metrics"]:
            path = metric_heatmap(body["cells"], name, languages, countries, topics,
                                  ctx.artifact_path(f"plots/heatmap_{name.replace('#', '_')}.png"))
            if path:
                ctx.artifact_written(path, "plot")
                paths.append(str(path))
        for name, entry in body["consensus"].items():
            path = consensus_figure(entry["by_topic"], ctx.artifact_path(f"plots/{name.replace('#', '_')}_matrix.png"))
            if path:
                ctx.artifact_written(path, "plot")
                paths.append(str(path))
        return paths


def _json_matrices(value: Any) -> Any:
    """NaN (an undefined Jaccard) → None, so the summary is valid JSON."""
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, dict):
        return {k: _json_matrices(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_matrices(v) for v in value]
    return value
