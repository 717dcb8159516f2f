"""PolyRefuse's selection rule (Arditi et al. 2024's, applied to every direction method).

On the direction language's *val* prompts (train when there is no val split): candidates at
the last ``prune_layer_fraction`` of layers are not eligible; a candidate whose directional
ablation moves the next-token distribution on harmless prompts by more than ``kl_threshold``
(KL(base ‖ ablated), nats, mean over prompts) is discarded; optionally (``induce_filter``) so is
one whose addition does not make harmless prompts refuse (score > 0); the winner has the lowest
mean refusal score on harmful prompts under ablation. If nothing survives the filters, the
lowest refusal score over all candidates wins and ``filters_passed`` is False in the card
(rather than failing a run). Speed (on by default): every candidate is first screened on
``screen_prompts`` prompts of each kind and only the ``screen_keep`` best are scored on all
``prompts`` with the exact filters; ``screen_prompts=0`` scores every candidate on every prompt.

All scoring goes through one ``next_token_scores`` call per stage (rows = candidate × prompt),
so the model layer may batch many candidate interventions together.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from plurieval.api import Candidate, Example, Selection, induce
from plurieval_polyrefuse.config import RefusalSelectionConfig


def kl_row(base: Any, new: Any) -> float:
    """KL(base ‖ new) of two next-token log-distributions, in nats (float64)."""
    b, n = base.double(), new.double()
    return float((b.exp() * (b - n)).sum(-1))


def _kl_against(base: Any) -> Any:
    return lambda logprobs: kl_row(base, logprobs)


class RefusalScorer:
    """Per-row refusal score ``log(p + ε) − log(1 − p + ε)``, p = next-token mass of the row's
    language's refusal tokens (``plurieval_polyrefuse.metrics``)."""

    def __init__(self, tokenizer: Any, table: dict[str, list[str]] | None = None, epsilon: float = 1e-8):
        self.tokenizer, self.table, self.epsilon = tokenizer, table, epsilon
        self._ids: dict[str, list[int]] = {}

    def ids(self, lang: str) -> list[int]:
        from plurieval_polyrefuse.metrics import refusal_token_ids, tokens_for

        if lang not in self._ids:
            self._ids[lang] = refusal_token_ids(self.tokenizer, tokens_for(lang, self.table, True))
        return self._ids[lang]

    def __call__(self, lang: str) -> Any:
        from plurieval_polyrefuse.metrics import refusal_score_from_logprobs

        ids = self.ids(lang)
        return lambda logprobs: float(refusal_score_from_logprobs(logprobs[None], ids, self.epsilon)[0])


def _mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs) if xs else float("nan")


def select_refusal(work: Any, candidates: Sequence[Candidate], val_harmful: Sequence[Example],
                   val_harmless: Sequence[Example], cfg: RefusalSelectionConfig, *, num_layers: int,
                   refusal_tokens: dict[str, list[str]] | None = None) -> Selection:
    """The candidate the rule picks. ``work``: the run context or a ``ModelWork`` (anything
    with ``next_token_scores`` and ``model``)."""
    model = work.model
    scorer = RefusalScorer(model.tokenizer, refusal_tokens)
    prompts_h = [e.input for e in val_harmful]
    langs_h = [e.metadata.get("lang", "en") for e in val_harmful]
    prompts_n = [e.input for e in val_harmless]
    langs_n = [e.metadata.get("lang", "en") for e in val_harmless]

    # Unsteered: the harmless distributions KL is measured against, and the harmful baseline.
    base = work.next_token_scores(prompts_n + prompts_h, [None] * (len(prompts_n) + len(prompts_h)),
                                  [lambda lp: lp.clone()] * len(prompts_n) + [scorer(lg) for lg in langs_h])
    base_n, baseline = base[: len(prompts_n)], _mean(base[len(prompts_n):])

    max_layer = int(num_layers * (1.0 - cfg.prune_layer_fraction))
    todo = [i for i, c in enumerate(candidates) if c.settings.get("layer") is None or c.settings["layer"] < max(1, max_layer)]
    if not todo:
        todo = list(range(len(candidates)))

    def evaluate(indices: Sequence[int], n: int) -> list[dict[str, Any]]:
        sub_h, sub_lh, sub_n, sub_ln = prompts_h[:n], langs_h[:n], prompts_n[:n], langs_n[:n]
        prompts: list[str] = []
        ivs: list[Any] = []
        fns: list[Any] = []
        spans = []
        for i in indices:
            cand = candidates[i]
            start = len(prompts)
            prompts += sub_h
            ivs += [cand.intervention] * len(sub_h)
            fns += [scorer(lg) for lg in sub_lh]
            prompts += sub_n
            ivs += [cand.intervention] * len(sub_n)
            fns += [_kl_against(b) for b in base_n[: len(sub_n)]]
            add = induce(cand.direction) if cfg.induce_filter and cand.direction is not None else None
            if add is not None:
                prompts += sub_n
                ivs += [add] * len(sub_n)
                fns += [scorer(lg) for lg in sub_ln]
            spans.append((i, start, add is not None))
        values = work.next_token_scores(prompts, ivs, fns)
        rows = []
        for i, start, with_induce in spans:
            a, b = start, start + len(sub_h)
            c = b + len(sub_n)
            row = {**candidates[i].settings, "refusal": _mean(values[a:b]), "kl": _mean(values[b:c])}
            if with_induce:
                row["induce"] = _mean(values[c:c + len(sub_n)])
            row["kept"] = row["kl"] <= cfg.kl_threshold and (not cfg.induce_filter or row.get("induce", 1.0) > 0)
            row["_index"] = i
            rows.append(row)
        return rows

    full = max(len(prompts_h), len(prompts_n))
    screened: list[dict[str, Any]] = []
    if 0 < cfg.screen_prompts < full and len(todo) > cfg.screen_keep:
        # Coarse-to-fine: every candidate on a few prompts, the most promising on all of them.
        # The final choice applies the exact filters to full scores, so only a candidate that
        # looks poor on the screen prompts yet would win on all of them can be missed.
        screened = evaluate(todo, cfg.screen_prompts)
        ranked = sorted(screened, key=lambda r: (not r["kept"], r["refusal"]))
        finalists = {r["_index"] for r in ranked[: cfg.screen_keep]}
        todo = [i for i in todo if i in finalists]
    rows = evaluate(todo, full)
    if screened:  # keep every candidate's screen score (the per-layer plot compares like with like)
        screen = {r["_index"]: r for r in screened}
        for r in rows:
            r["screen_refusal"] = screen[r["_index"]]["refusal"]
        scored = {r["_index"] for r in rows}
        rows += [{**r, "screen_refusal": r["refusal"], "kept": False, "screened_out": True}
                 for r in screened if r["_index"] not in scored]
    final = [r for r in rows if not r.get("screened_out")]
    kept = [r for r in final if r["kept"]]
    best = min(kept or final, key=lambda r: r["refusal"])
    index = best["_index"]
    for r in rows:
        del r["_index"]
    return Selection(index, rows, card={"baseline_refusal": baseline, "filters_passed": bool(kept),
                                        "refusal": best["refusal"], "kl": best["kl"]})


__all__ = ["RefusalScorer", "kl_row", "select_refusal"]
