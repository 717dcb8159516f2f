"""The refusal direction (Arditi et al. 2024, "Refusal in language models is mediated by a single
direction"; used across 14 languages by PolyRefuse, Wang et al. 2025).

1. Candidates: ``mean(harmful) − mean(harmless)`` of ``blocks.{i}.resid_pre`` (the input of
   decoder layer i) at each post-instruction position of the chat template (the tokens after
   the user's text, e.g. ``<|im_end|>\\n<|im_start|>assistant\\n``), on *train* prompts.
2. Selection on *val* prompts (train when there is no val split): discard the last
   ``prune_layer_fraction`` of layers; (speed, on by default: every candidate is first screened
   on ``screen_prompts`` prompts of each kind and only the ``screen_keep`` best are scored on
   all ``selection_prompts``; ``screen_prompts=0`` scores every candidate on every prompt); discard candidates whose directional ablation moves the
   next-token distribution on harmless prompts by more than ``kl_threshold`` (KL(base ‖ ablated),
   nats, mean over prompts); optionally (``induce_filter``) discard candidates whose addition does
   not make harmless prompts refuse (score > 0); pick the lowest mean refusal score on harmful
   prompts under ablation. If nothing survives the filters, the lowest refusal score over all
   candidates is taken and ``filters_passed`` is False in the card (rather than failing a run).
3. Interventions: directional ablation ``x ← x − (x·r̂)r̂`` at every layer's resid_pre, attn_out
   and mlp_out (bypass), and activation addition ``x ← x + r`` at the selected layer's resid_pre,
   all positions (induce).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from plurieval.api import Example, PluriError, SteeringMethod
from plurieval_polyrefuse.config import RefusalDirectionConfig

_SENTINEL = "\u2063PLURIEVAL\u2063"


def post_instruction_positions(model: Any) -> int:
    """How many tokens the chat template puts after the user's text (at least 1: without a
    template the last prompt token is the only "post-instruction" position)."""
    text = model.format_prompt(_SENTINEL)
    _, sep, suffix = text.partition(_SENTINEL)
    if not sep or not suffix:
        return 1
    return max(1, len(model.tokenizer(suffix, add_special_tokens=False)["input_ids"]))


@dataclass
class Selection:
    """Everything the selection computed (the benchmark plots and stores it)."""

    candidates: Any  # [layers, positions, d] float32
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


def _kl(base_logprobs: Any, new_logprobs: Any) -> float:
    """Mean over prompts of KL(base ‖ new) of the next-token distributions, in nats."""
    b = base_logprobs.double()
    n = new_logprobs.double()
    return float((b.exp() * (b - n)).sum(-1).mean())


class RefusalDirection(SteeringMethod[RefusalDirectionConfig]):
    def __init__(self, config: RefusalDirectionConfig):
        super().__init__(config)
        self.selection: Selection | None = None

    def fit(self, model: Any, examples: Sequence[Example], run: Any = None) -> Any:
        """Select the refusal direction from harmful/harmless ``examples`` (``metadata`` kind,
        split and lang) and return its directional-ablation intervention; ``self.selection``
        keeps the candidates, scores and the addition intervention."""
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
        k = self.config.selection_prompts
        val_h = groups.get(("val", "harmful")) or train_h
        val_n = groups.get(("val", "harmless")) or train_n
        self.selection = self.select(model, [e.input for e in train_h], [e.input for e in train_n],
                                     val_h[:k], val_n[:k], run=run)
        sel = self.selection
        return sel.ablation(card={
            "method": "refusal_direction", "model": getattr(model, "name", None), "layer": sel.layer,
            "position": sel.position, "baseline_refusal": sel.baseline_refusal,
            "languages": sorted({e.metadata.get("lang", "?") for e in train_h}),
            "filters_passed": sel.filters_passed,
        })

    # --- the two stages ---------------------------------------------------------------------

    def candidates(self, model: Any, harmful: list[str], harmless: list[str], run: Any = None) -> tuple[Any, list[int]]:
        """``[layers, positions, d]`` mean differences at every layer's resid_pre and every
        post-instruction position (``positions`` counted from the end, e.g. [-5, …, -1])."""
        import torch

        from plurieval.api import diff_mean

        n_pos = post_instruction_positions(model)
        if self.config.positions:
            n_pos = min(n_pos, self.config.positions)
        positions = list(range(-n_pos, 0))
        points = [f"blocks.{i}.resid_pre" for i in range(model.num_layers)]
        extract = run.extract if run is not None else model.extract
        acts_h = extract(harmful, points, reduce="positions", positions=positions)
        acts_n = extract(harmless, points, reduce="positions", positions=positions)
        cands = torch.stack([
            torch.stack([diff_mean(acts_h[pt][:, j], acts_n[pt][:, j]) for j in range(n_pos)]) for pt in points
        ])
        return cands, positions

    def select(self, model: Any, harmful: list[str], harmless: list[str], val_harmful: Sequence[Example],
               val_harmless: Sequence[Example], run: Any = None) -> Selection:
        from plurieval.api import AddVector, DirectionalAblation
        from plurieval_polyrefuse.metrics import refusal_scores

        cfg = self.config
        cands, positions = self.candidates(model, harmful, harmless, run)
        prompts_h = [e.input for e in val_harmful]
        langs_h = [e.metadata.get("lang", "en") for e in val_harmful]
        prompts_n = [e.input for e in val_harmless]
        langs_n = [e.metadata.get("lang", "en") for e in val_harmless]
        bs = run.config.batch_size if run is not None else 8

        def score(prompts: list[str], langs: list[str], iv: Any) -> float:
            vals = refusal_scores(model, prompts, langs, intervention=iv, table=cfg.refusal_tokens, batch_size=bs)
            return sum(vals) / len(vals)

        base_n = model.next_token_logprobs(prompts_n, batch_size=bs)
        baseline = score(prompts_h, langs_h, None)
        max_layer = int(model.num_layers * (1.0 - cfg.prune_layer_fraction))
        layers = list(range(0, max(1, max_layer), cfg.layer_stride))
        todo = [(layer, j) for layer in layers for j in range(len(positions)) if float(cands[layer, j].norm()) > 0]
        if not todo:
            raise PluriError("refusal_direction: every candidate direction is zero (identical harmful and harmless activations?)")

        def evaluate(pairs: list[tuple[int, int]], n: int, desc: str) -> list[dict[str, Any]]:
            sub_h, sub_lh, sub_n, sub_ln = prompts_h[:n], langs_h[:n], prompts_n[:n], langs_n[:n]
            base = base_n[: len(sub_n)]
            out = []
            for layer, j in (run.progress(pairs, total=len(pairs), desc=desc) if run else pairs):
                r = cands[layer, j]
                abl = DirectionalAblation(r)
                row = {"layer": layer, "position": positions[j], "refusal": score(sub_h, sub_lh, abl),
                       "kl": _kl(base, model.next_token_logprobs(sub_n, intervention=abl, batch_size=bs))}
                if cfg.induce_filter:
                    row["induce"] = score(sub_n, sub_ln, AddVector(r, layers=[layer]))
                row["kept"] = row["kl"] <= cfg.kl_threshold and (not cfg.induce_filter or row["induce"] > 0)
                out.append(row)
            return out

        full = max(len(prompts_h), len(prompts_n))
        screened: list[dict[str, Any]] = []
        if 0 < cfg.screen_prompts < full and len(todo) > cfg.screen_keep:
            # Coarse-to-fine: every candidate on a few prompts, the most promising on all of them.
            # The final choice applies the exact filters to full scores, so only a candidate that
            # looks poor on the screen prompts yet would win on all of them can be missed.
            screened = evaluate(todo, cfg.screen_prompts, "refusal direction: screening candidates")
            ranked = sorted(screened, key=lambda r: (not r["kept"], r["refusal"]))
            finalists = {(r["layer"], r["position"]) for r in ranked[: cfg.screen_keep]}
            todo = [(layer, j) for layer, j in todo if (layer, positions[j]) in finalists]
        rows = evaluate(todo, full, "refusal direction: scoring candidates")
        if screened:  # keep every candidate's screen score (the per-layer plot compares like with like)
            screen = {(r["layer"], r["position"]): r for r in screened}
            for r in rows:
                r["screen_refusal"] = screen[(r["layer"], r["position"])]["refusal"]
            scored = {(r["layer"], r["position"]) for r in rows}
            rows += [{**r, "screen_refusal": r["refusal"], "kept": False, "screened_out": True}
                     for r in screened if (r["layer"], r["position"]) not in scored]
        final = [r for r in rows if not r.get("screened_out")]
        kept = [r for r in final if r["kept"]]
        best = min(kept or final, key=lambda r: r["refusal"])
        j = positions.index(best["position"])
        return Selection(candidates=cands, positions=positions, layer=best["layer"], position=best["position"],
                         direction=cands[best["layer"], j].clone(), baseline_refusal=baseline, scores=rows,
                         filters_passed=bool(kept))


def make_refusal_direction(config: RefusalDirectionConfig) -> RefusalDirection:
    return RefusalDirection(config)
